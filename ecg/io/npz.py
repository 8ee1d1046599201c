"""A per-record ``.npz`` cache of preprocessed batches (no pickle: safe to load)."""
import json
import os
import tempfile
import threading

import numpy as np

from ecg.errors import RecordError

FORMAT_VERSION = 1
# numpy parses .npy headers with ast.literal_eval, which CPython 3.11 before 3.11.9 cannot
# run in two threads at once ("AST constructor recursion depth mismatch", gh-106905);
# batchflow's prefetch loads batches in threads, so header parsing is serialised.
_NPY_HEADER_LOCK = threading.Lock()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in meta")


def record_arrays(signal=None, annotation=None, meta=None, target=None, features=None):
    """One record's components as named arrays (the members of its ``.npz`` file).

    ``signal``, ``features`` and a numeric ``target`` are stored as arrays; ``meta`` as JSON;
    ``annotation`` as one array per annotator and field (``ann/atr/sample``...), and
    per-segment annotations of a split record as ``annseg/atr/<k>/sample``...

    Returns
    -------
    dict of str to numpy.ndarray
        In a fixed order, without ``format_version``.
    """
    arrays = {}
    if signal is not None:
        arrays["signal"] = np.asarray(signal)
    if features is not None:
        arrays["features"] = np.asarray(features, dtype=np.float32)
    if target is not None:
        target = np.asarray(target)
        if target.dtype == object:
            target = target.astype(str)
        arrays["target"] = target
    if meta is not None:
        arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
    for ext, fields in (annotation or {}).items():
        if isinstance(fields, list):                       # one annotation per segment
            arrays[f"annseg/{ext}/count"] = np.array(len(fields))
            for k, segment in enumerate(fields):
                for field, values in segment.items():
                    arrays[f"annseg/{ext}/{k}/{field}"] = np.asarray(values)
            continue
        for field, values in fields.items():
            arrays[f"ann/{ext}/{field}"] = np.asarray(values)
    return arrays


def write_npz(path, signal=None, annotation=None, meta=None, target=None, features=None):
    """Write one record's components to ``path`` atomically (temp file, then rename).

    The members are those of :func:`record_arrays`, after ``format_version``.
    """
    arrays = {"format_version": np.array(FORMAT_VERSION),
              **record_arrays(signal, annotation, meta, target, features)}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class NpzMemory:
    """Records read by :func:`read_npz`, kept decoded in memory (``load(fmt="npz", memory=True)``).

    A training pipeline reads the same cached records every epoch; decoding an npz file
    (zip members, ``.npy`` headers) costs more Python time than the training step waits
    for. An entry is keyed by the file's path, size and modification time, so a file
    rewritten by a new ``dump`` is read again. Every read returns fresh copies of the
    arrays: an action that changes a signal in place cannot change the kept record.
    Records beyond ``max_bytes`` are read from disk as before (not kept).

    Parameters
    ----------
    max_bytes : int
        The most array bytes kept.
    """

    def __init__(self, max_bytes=2 * 1024 ** 3):
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._items = {}
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._items)

    def clear(self):
        """Forget every kept record."""
        with self._lock:
            self._items.clear()
            self.nbytes = 0

    def read(self, path):
        """:func:`read_npz` of ``path``, from memory when the file has not changed."""
        try:
            stat = os.stat(path)
        except OSError:
            return read_npz(path)                       # its own "not found" error
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
        item = self._items.get(key)
        if item is None:
            item = read_npz(path)
            size = _nbytes(item)
            with self._lock:
                if self.nbytes + size <= self.max_bytes and key not in self._items:
                    self._items[key] = item
                    self.nbytes += size
        return _copy(item)


def _nbytes(value):
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, list):
        return sum(_nbytes(v) for v in value)
    return 64


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {key: _copy(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


NPZ_MEMORY = NpzMemory()
"""The process's :class:`NpzMemory`, used by ``load(fmt="npz", memory=True)``."""


def read_npz(path):
    """Read a record written by :func:`write_npz`; return a dict of its components."""
    name = os.path.basename(os.fspath(path))
    if not os.path.isfile(path):
        raise RecordError(name, f"cached file not found: {path}")
    try:
        with _NPY_HEADER_LOCK, np.load(path, allow_pickle=False) as data:
            files = dict(data.items())
    except Exception as exc:
        raise RecordError(name, f"unreadable cache file {path}: {exc}") from exc
    version = int(files.pop("format_version", -1))
    if version != FORMAT_VERSION:
        raise RecordError(name, f"cache format {version} is not {FORMAT_VERSION}: dump it again")
    return record_from_arrays(files)


def record_from_arrays(files):
    """The components of one record from the named arrays of :func:`record_arrays`.

    Returns
    -------
    dict
        ``annotation`` (a dict, empty when none was stored) and each stored component:
        ``meta`` as a dict, a scalar ``target`` as a Python value, the others as arrays.
    """
    out = {"annotation": {}}
    for key, value in files.items():
        if key.startswith("annseg/") and key.endswith("/count"):
            ext = key.split("/")[1]
            out["annotation"][ext] = [{} for _ in range(int(value))]
    for key, value in files.items():
        if key.startswith("ann/"):
            _, ext, field = key.split("/", 2)
            out["annotation"].setdefault(ext, {})[field] = value
        elif key.startswith("annseg/"):
            parts = key.split("/", 3)
            if len(parts) == 4:
                out["annotation"][parts[1]][int(parts[2])][parts[3]] = value
        elif key == "meta":
            out["meta"] = json.loads(str(value))
        elif key == "target" and value.ndim == 0:
            out["target"] = value.item()
        else:
            out[key] = value
    return out
