"""PhysioNet/CinC Challenge 2017: AF classification from a short single-lead ECG.

Single lead (AliveCor, lead I equivalent), 300 Hz, 9-61 s, WFDB headers over ``.mat``
signals. ``REFERENCE.csv`` (no header, ``A00001,N``) gives one label per record:
``N`` normal rhythm, ``A`` atrial fibrillation, ``O`` other rhythm, ``~`` too noisy.
Each record comes from a different recording session and the database publishes no
patient ids, so splits are by record, stratified by class.

Clifford GD et al. AF Classification from a Short Single Lead ECG Recording: the
PhysioNet/Computing in Cardiology Challenge 2017. CinC 44, 2017.
"""
from pathlib import Path

import pandas as pd

from ecg.data.datasets.base import EcgDatasetDef, check_disjoint, make_dataset, split_records
from ecg.errors import LabelError

NAME = "cinc2017"
CLASSES = ("N", "A", "O", "~")
FS = 300.0
FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
LOAD_KWARGS = {"fmt": "wfdb", "components": ["signal", "meta"]}


def read_reference(path):
    """Read a ``REFERENCE.csv`` into a Series of labels indexed by record name.

    Raises
    ------
    LabelError
        If a label is not one of ``N``, ``A``, ``O``, ``~`` (names the file and record).
    """
    labels = pd.read_csv(path, header=None, names=["record", "label"], dtype=str,
                         index_col="record")["label"].str.strip()
    unknown = labels[~labels.isin(CLASSES)]
    if len(unknown):
        raise LabelError(f"{path}: record {unknown.index[0]!r} has label {unknown.iloc[0]!r}, "
                         f"expected one of {CLASSES}; is this the Challenge 2017 REFERENCE.csv?")
    return labels


def load(root, fractions=FRACTIONS, seed=0):
    """Return the :class:`EcgDatasetDef` of the CinC 2017 records under ``root``.

    Parameters
    ----------
    root : str or Path
        Folder with the ``.hea``/``.mat`` files and ``REFERENCE.csv`` (``training2017``).
    fractions : dict of str to float
        Split fractions, stratified by class (default 80/10/10 train/validation/test).
    seed : int
        Seed of the split.
    """
    root = Path(root)
    labels = read_reference(root / "REFERENCE.csv")
    dataset = make_dataset([root / f"{record}.hea" for record in labels.index])
    labels = labels.loc[dataset.indices].to_frame()
    splits = split_records(labels.index, fractions, seed=seed, stratify=labels["label"])
    check_disjoint(splits)
    return EcgDatasetDef(NAME, root, dataset, dict(LOAD_KWARGS), labels, CLASSES, splits, FS)
