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
        The file is missing, empty or not CSV text, a named column is absent, a row has
        no record name or label, or a record appears twice.
    """
    path = os.fspath(path)
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise EcgError(f"label file not found: {path}") from exc
    key = (os.path.abspath(path), stat.st_mtime_ns, stat.st_size, index_col, label_col, sep)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    headed = not (index_col is None and label_col is None)
    try:
        table = pd.read_csv(path, header=0 if headed else None, sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise EcgError(f"{path}: the label table is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise EcgError(f"{path}: not a readable CSV label table ({type(exc).__name__}: "
                       f"{str(exc).strip()[:200]})") from exc
    if not headed:
        if table.shape[1] < 2:
            raise EcgError(f"{path}: expected two columns 'record,label', found {table.shape[1]}")
        index_col, label_col = 0, 1
    else:
        for col in (index_col, label_col):
            if isinstance(col, str) and col not in table.columns:
                raise EcgError(f"{path}: no column {col!r}; columns are {list(table.columns)}")
            if isinstance(col, int) and not 0 <= col < table.shape[1]:
                raise EcgError(f"{path}: no column {col}; the table has {table.shape[1]}")
    pick = (lambda c: table.iloc[:, c]) if isinstance(index_col, int) else (lambda c: table[c])
    index, values = pick(index_col), pick(label_col)
    if isinstance(index, pd.DataFrame) or isinstance(values, pd.DataFrame):
        raise EcgError(f"{path}: column {index_col!r} or {label_col!r} appears more than once in the header")
    labels = pd.Series(values.fillna("").str.strip().to_numpy(dtype=object),
                       index=index.fillna("").str.strip().to_numpy(dtype=object), name="label")
    blank = [i for i, (record, label) in enumerate(zip(labels.index, labels)) if not record or not label]
    if blank:
        raise EcgError(f"{path}: row {blank[0] + 1 + headed} has an empty record name or label")
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
