"""PTB-XL: 21,799 ten-second 12-lead ECGs of 18,869 patients, SCP-ECG statements.

Labels are the five diagnostic superclasses of ``scp_statements.csv`` (``NORM`` normal,
``MI`` myocardial infarction, ``STTC`` ST/T change, ``CD`` conduction disturbance,
``HYP`` hypertrophy), multi-label: a record has every superclass of its diagnostic
SCP codes (``diagnostic == 1``), whatever their likelihood, as in the benchmark of
Strodthoff et al. (IEEE JBHI 25(5), 2021). A record may have none.

Splits use the official ``strat_fold`` (1-10), which keeps all records of a patient in
one fold. Two schemes:

``"official"``
    folds 1-8 train, fold 9 validation, fold 10 test (as the PTB-XL authors recommend).
``"9-1"``
    folds 1-9 train, fold 10 test (the "9 train folds, fold 10 test" of issue 4).

Signals exist at 100 Hz (``records100``, records named ``<ecg_id>_lr``) and 500 Hz
(``records500``, ``<ecg_id>_hr``).

Wagner P et al. PTB-XL, a large publicly available electrocardiography dataset.
Scientific Data 7:154, 2020.
"""
import ast
from pathlib import Path

import numpy as np
import pandas as pd

from ecg.data.datasets.base import EcgDatasetDef, check_disjoint, make_dataset
from ecg.errors import EcgError, LabelError, RecordError

NAME = "ptbxl"
SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
SCHEMES = {
    "official": {"train": range(1, 9), "validation": (9,), "test": (10,)},
    "9-1": {"train": range(1, 10), "test": (10,)},
}
FILENAME_COLUMN = {100: "filename_lr", 500: "filename_hr"}
LOAD_KWARGS = {"fmt": "wfdb", "components": ["signal", "meta"]}


def read_database(root):
    """Read ``ptbxl_database.csv`` (indexed by ``ecg_id``) with ``scp_codes`` as dicts."""
    table = pd.read_csv(Path(root) / "ptbxl_database.csv", index_col="ecg_id")
    table["scp_codes"] = table["scp_codes"].apply(ast.literal_eval)
    return table


def read_statements(root):
    """Read ``scp_statements.csv`` (indexed by SCP code)."""
    return pd.read_csv(Path(root) / "scp_statements.csv", index_col=0)


def diagnostic_superclasses(scp_codes, statements):
    """Map each record's SCP codes to its diagnostic superclasses.

    Parameters
    ----------
    scp_codes : pandas.Series of dict
        SCP code to likelihood (%) per record.
    statements : pandas.DataFrame
        ``scp_statements.csv`` indexed by code, with ``diagnostic`` and ``diagnostic_class``.

    Returns
    -------
    pandas.Series of tuple of str
        Sorted in ``SUPERCLASSES`` order; empty when no code is diagnostic.
    """
    diagnostic = statements.loc[statements["diagnostic"] == 1, "diagnostic_class"].to_dict()
    unknown = set(diagnostic.values()) - set(SUPERCLASSES)
    if unknown:
        raise LabelError(f"scp_statements.csv has diagnostic classes {sorted(unknown)} outside "
                         f"{SUPERCLASSES}; is this PTB-XL's file?")
    order = {c: k for k, c in enumerate(SUPERCLASSES)}
    return scp_codes.apply(lambda codes: tuple(sorted({diagnostic[c] for c in codes if c in diagnostic},
                                                      key=order.get)))


def load(root, sampling_rate=100, scheme="official", drop_unlabelled=False):
    """Return the :class:`EcgDatasetDef` of PTB-XL (or an excerpt of it) under ``root``.

    Parameters
    ----------
    root : str or Path
        Folder with ``ptbxl_database.csv``, ``scp_statements.csv`` and ``records100/``
        (and ``records500/``).
    sampling_rate : {100, 500}
        Which signals to use, in Hz.
    scheme : {"official", "9-1"}
        Split scheme (see the module docstring).
    drop_unlabelled : bool
        Leave out records without any diagnostic superclass.

    Returns
    -------
    EcgDatasetDef
        ``labels`` indexed by record name (``"00001_lr"``): ``ecg_id``, ``patient_id``,
        ``strat_fold``, ``age``, ``sex``, ``scp_codes``, ``superclasses`` and a 0/1 column
        per superclass.
    """
    if sampling_rate not in FILENAME_COLUMN:
        raise EcgError(f"Expected sampling_rate 100 or 500 (Hz). Received: sampling_rate={sampling_rate}")
    if scheme not in SCHEMES:
        raise EcgError(f"Expected scheme one of {sorted(SCHEMES)}. Received: scheme={scheme!r}")
    root = Path(root)
    table = read_database(root)
    table["superclasses"] = diagnostic_superclasses(table["scp_codes"], read_statements(root))
    if drop_unlabelled:
        table = table[table["superclasses"].str.len() > 0]
    headers = [root / f"{name}.hea" for name in table[FILENAME_COLUMN[sampling_rate]]]
    missing = [h for h in headers if not h.is_file()]
    if missing:
        raise RecordError(missing[0], f"{len(missing)} of {len(headers)} headers at {sampling_rate} Hz "
                                      f"are missing under {root}; this copy may hold only the other "
                                      f"rate (the 500-record excerpt has records100 only): try "
                                      f"sampling_rate={600 - sampling_rate}")
    table.index = pd.Index([h.stem for h in headers], name="record")
    dataset = make_dataset(headers)
    labels = table.loc[dataset.indices, ["patient_id", "strat_fold", "age", "sex", "scp_codes",
                                         "superclasses"]]
    labels.insert(0, "ecg_id", table.loc[dataset.indices].index.str.split("_").str[0].astype(int))
    for name in SUPERCLASSES:
        labels[name] = labels["superclasses"].apply(lambda s, name=name: int(name in s))
    splits = {part: labels.index[np.isin(labels["strat_fold"], list(folds))].tolist()
              for part, folds in SCHEMES[scheme].items()}
    check_disjoint(splits, groups=labels["patient_id"])
    return EcgDatasetDef(NAME, root, dataset, dict(LOAD_KWARGS), labels, SUPERCLASSES, splits,
                         float(sampling_rate))
