"""LUDB: 200 ten-second 12-lead ECGs at 500 Hz with per-lead P, QRS and T delineation.

Each lead has its own annotation file named after it (``.i``, ``.ii``, ... ``.v6``)
holding ``(``/peak/``)`` triplets for the P (``p``), QRS (``N``) and T (``t``) waves;
:func:`read_masks` turns them into per-sample masks (background 0, P 1, QRS 2, T 3,
see :mod:`ecg.ops.masks`). Diagnoses come from ``ludb.csv``. Every record is a
different subject, so splits by record are splits by patient; they are stratified by
rhythm.

Kalyakulina AI et al. LUDB: A New Open-Access Validation Tool for Electrocardiogram
Delineation Algorithms. IEEE Access 8:186181-186190, 2020.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from ecg.data.datasets.base import EcgDatasetDef, check_disjoint, make_dataset, read_annotation, split_records
from ecg.errors import RecordError
from ecg.ops.masks import WAVE_CLASSES, annotations_to_mask, wave_intervals

NAME = "ludb"
FS = 500.0
LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
MASK_CLASSES = ("background", "P", "QRS", "T")
FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}
LOAD_KWARGS = {"fmt": "wfdb", "components": ["signal", "meta", "annotation"], "ann_ext": list(LEADS)}


def read_diagnoses(path):
    """Read ``ludb.csv`` into a DataFrame indexed by record name (``"1"`` ... ``"200"``).

    Cells listing several findings keep them separated by ``"; "``; ``Age`` is a number
    (NaN where the table gives none, e.g. ``">89"``), ``Sex`` is ``"M"`` or ``"F"``.
    """
    table = pd.read_csv(path, dtype=str)
    table.index = table.pop("ID").str.strip().rename("record")
    table = table.apply(lambda col: col.str.strip().str.replace(r"\s*\n\s*", "; ", regex=True))
    table["Age"] = pd.to_numeric(table["Age"], errors="coerce")
    return table


def read_masks(path, n_samples=None, leads=LEADS):
    """Read the delineation of every lead of one record as masks.

    Parameters
    ----------
    path : str or Path
        Record path without extension (``<root>/data/1``).
    n_samples : int, optional
        Mask length in samples; default: the signal length from the header (5000).
    leads : sequence of str
        Annotation extensions, one per lead, in signal order.

    Returns
    -------
    numpy.ndarray of int8, shape (n_leads, n_samples)
        Background 0, P 1, QRS 2, T 3.
    """
    path = str(path)
    if n_samples is None:
        n_samples = wfdb.rdheader(path).sig_len
    masks = np.zeros((len(leads), n_samples), dtype=np.int8)
    for k, lead in enumerate(leads):
        ann = read_annotation(path, lead, NAME)
        masks[k] = annotations_to_mask(ann.sample, ann.symbol, n_samples, WAVE_CLASSES)
    return masks


def read_waves(path, leads=LEADS):
    """Read the delineated waves of one record as a table.

    Returns
    -------
    pandas.DataFrame
        One row per complete wave: ``lead``, ``wave`` (``P``/``QRS``/``T``), ``onset``,
        ``peak`` and ``offset`` (samples at 500 Hz, offset included).
    """
    tables = []
    for lead in leads:
        ann = read_annotation(str(path), lead, NAME)
        onsets, peaks, offsets, labels = wave_intervals(ann.sample, ann.symbol, WAVE_CLASSES)
        tables.append(pd.DataFrame({"lead": lead, "wave": np.asarray(MASK_CLASSES)[labels],
                                    "onset": onsets, "peak": peaks, "offset": offsets}))
    return pd.concat(tables, ignore_index=True)


def load(root, fractions=FRACTIONS, seed=0):
    """Return the :class:`EcgDatasetDef` of LUDB under ``root``.

    Parameters
    ----------
    root : str or Path
        The database folder (with ``ludb.csv`` and ``data/``), or a folder holding both the
        records and ``ludb.csv``.
    fractions : dict of str to float
        Split fractions (default 70/15/15 train/validation/test), stratified by rhythm.
    seed : int
        Seed of the split.

    Returns
    -------
    EcgDatasetDef
        ``labels`` from ``ludb.csv`` with a ``rhythm`` column (the first rhythm listed);
        ``classes`` the mask classes; masks come from :func:`read_masks`.
    """
    root = Path(root)
    data = root / "data" if (root / "data").is_dir() else root
    diagnoses = read_diagnoses(root / "ludb.csv")
    headers = sorted(data.glob("*.hea"), key=lambda p: int(p.stem) if p.stem.isdigit() else p.stem)
    dataset = make_dataset(headers)
    missing = np.setdiff1d(dataset.indices, diagnoses.index)
    if missing.size:
        raise RecordError(data / missing[0], f"not in {root / 'ludb.csv'}; is this LUDB?")
    labels = diagnoses.loc[dataset.indices]
    labels["rhythm"] = labels["Rhythms"].str.split("; ").str[0]
    splits = split_records(labels.index, fractions, seed=seed, stratify=labels["rhythm"])
    check_disjoint(splits)
    return EcgDatasetDef(NAME, root, dataset, dict(LOAD_KWARGS), labels, MASK_CLASSES, splits, FS)
