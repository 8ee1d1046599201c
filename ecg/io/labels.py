"""Read record labels from CSV tables (PhysioNet's headerless REFERENCE.csv or headed CSVs)."""
import os
import threading

import pandas as pd

from ecg.errors import EcgError, LabelError

_CACHE = {}
_CACHE_LOCK = threading.Lock()


def read_labels(path, index_col=None, label_col=None, sep=","):
    """Read a label table into a ``pandas.Series`` of labels indexed by record name.

    Parameters
    ----------
    path : str or Path
        CSV file. PhysioNet's ``REFERENCE.csv`` has no header: two columns, record and
        label (``A00001,N``). A headed CSV names its columns: pass ``index_col`` and
        ``label_col``.
    index_col, label_col : str or int, optional
        Column holding record names and column holding labels. Default: the first two
        columns of a headerless file.
    sep : str
        Field separator.

    Returns
    -------
    pandas.Series
        Labels (str) indexed by record name (str). Tables are cached by path and
        modification time, so calling this once per batch is cheap.

    Raises
    ------
    EcgError
        The file is missing, a named column is absent, or a record appears twice.
    """
    path = os.fspath(path)
    try:
        key = (os.path.abspath(path), os.path.getmtime(path), index_col, label_col, sep)
    except OSError as exc:
        raise EcgError(f"label file not found: {path}") from exc
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    if index_col is None and label_col is None:
        table = pd.read_csv(path, header=None, sep=sep, dtype=str, keep_default_na=False)
        if table.shape[1] < 2:
            raise EcgError(f"{path}: expected two columns 'record,label', found {table.shape[1]}")
        index_col, label_col = 0, 1
    else:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
        for col in (index_col, label_col):
            if isinstance(col, str) and col not in table.columns:
                raise EcgError(f"{path}: no column {col!r}; columns are {list(table.columns)}")
    pick = (lambda c: table.iloc[:, c]) if isinstance(index_col, int) else (lambda c: table[c])
    labels = pd.Series(pick(label_col).str.strip().to_numpy(),
                       index=pick(index_col).str.strip().to_numpy(), name="label")
    duplicated = labels.index[labels.index.duplicated()]
    if len(duplicated):
        raise EcgError(f"{path}: records listed more than once: {list(duplicated[:5])}")
    with _CACHE_LOCK:
        _CACHE[key] = labels
    return labels


def labels_for(labels, records, source="labels"):
    """Return the labels of ``records`` in order; raise LabelError naming the missing ones."""
    missing = [r for r in records if r not in labels.index]
    if missing:
        raise LabelError(f"no label for record(s) {missing[:10]} in {source}")
    return labels.loc[list(records)].to_numpy()
