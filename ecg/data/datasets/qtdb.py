"""QT Database: 105 fifteen-minute two-lead records at 250 Hz with wave boundaries.

Extra data for delineation. Two annotators are turned into masks (background 0, P 1,
QRS 2, T 3, see :mod:`ecg.ops.masks`):

``q1c``
    manual, by cardiologist 1, on about 30 beats of each record (both leads seen
    together, so one mask per record). It marks T peaks and T ends but no T onsets,
    so its masks hold P and QRS only; outside the annotated stretch (``q1c_onset`` to
    ``q1c_offset`` in ``labels``) the mask is unknown, not background: crop to it.
``pu``
    automatic (ecgpuwave) over the whole record, one annotation per lead (its
    ``chan`` field; also stored as ``pu0`` and ``pu1``): one mask per lead.

Splits are by record, at random. Several QT records were taken from other PhysioNet
databases (``sel100`` is MIT-BIH 100): do not mix them with those databases' test sets.

Laguna P et al. A database for evaluation of algorithms for measurement of QT and other
waveform intervals in the ECG. CinC 24:673-676, 1997.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from ecg.data.datasets.base import EcgDatasetDef, check_disjoint, make_dataset, read_annotation, split_records
from ecg.errors import EcgError
from ecg.ops.masks import WAVE_CLASSES, annotations_to_mask, wave_intervals

NAME = "qtdb"
FS = 250.0
MASK_CLASSES = ("background", "P", "QRS", "T")
ANNOTATORS = ("q1c", "pu")
FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}
LOAD_KWARGS = {"fmt": "wfdb", "components": ["signal", "meta", "annotation"], "ann_ext": list(ANNOTATORS)}


def read_mask(path, annotator="q1c"):
    """Read one annotator of one record as masks.

    Parameters
    ----------
    path : str or Path
        Record path without extension (``<root>/sel100``).
    annotator : {"q1c", "pu"}
        ``q1c``: one mask for the record; ``pu``: one mask per lead.

    Returns
    -------
    numpy.ndarray of int8, shape (1, n_samples) for ``q1c``, (n_leads, n_samples) for ``pu``
        Background 0, P 1, QRS 2, T 3, at 250 Hz.
    """
    if annotator not in ANNOTATORS:
        raise EcgError(f"Expected annotator 'q1c' or 'pu'. Received: annotator={annotator!r}")
    path = str(path)
    header = wfdb.rdheader(path)
    ann = read_annotation(path, annotator, NAME)
    symbols = np.asarray(ann.symbol, dtype=str)
    if annotator == "q1c":
        return annotations_to_mask(ann.sample, symbols, header.sig_len, WAVE_CLASSES)[None]
    channels = np.asarray(ann.chan)
    return np.stack([annotations_to_mask(ann.sample[channels == lead], symbols[channels == lead],
                                         header.sig_len, WAVE_CLASSES)
                     for lead in range(header.n_sig)])


def record_labels(root, records):
    """Summarise the ``q1c`` annotation of each record.

    Returns
    -------
    pandas.DataFrame
        Indexed by record: ``q1c_onset`` and ``q1c_offset`` (first and last annotated
        sample, at 250 Hz) and the number of complete ``P``, ``QRS`` and ``T`` waves.
    """
    rows = {}
    for record in records:
        ann = read_annotation(str(Path(root) / record), "q1c", NAME)
        _, _, _, labels = wave_intervals(ann.sample, ann.symbol, WAVE_CLASSES)
        counts = np.bincount(labels, minlength=4)
        rows[record] = {"q1c_onset": int(ann.sample.min()), "q1c_offset": int(ann.sample.max()),
                        **dict(zip(MASK_CLASSES[1:], counts[1:].tolist()))}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("record")


def load(root, fractions=FRACTIONS, seed=0):
    """Return the :class:`EcgDatasetDef` of the QT Database records under ``root``.

    Only records with both ``q1c`` and ``pu`` annotations are kept.

    Parameters
    ----------
    root : str or Path
        Folder of the ``.hea``/``.dat``/``.q1c``/``.pu`` files (``qt-database-1.0.0``).
    fractions : dict of str to float
        Split fractions (default 70/15/15 train/validation/test).
    seed : int
        Seed of the split.
    """
    root = Path(root)
    headers = [h for h in sorted(root.glob("*.hea"))
               if all(h.with_suffix(f".{a}").is_file() for a in ANNOTATORS)]
    if not headers:
        raise EcgError(f"no QT Database record with .q1c and .pu annotations in {root}; "
                       f"run 'ecg download qtdb' and pass the folder it prints")
    dataset = make_dataset(headers)
    labels = record_labels(root, dataset.indices)
    splits = split_records(labels.index, fractions, seed=seed)
    check_disjoint(splits)
    return EcgDatasetDef(NAME, root, dataset, dict(LOAD_KWARGS), labels, MASK_CLASSES, splits, FS)
