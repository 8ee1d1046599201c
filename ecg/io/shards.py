"""Cache shards: many preprocessed records in one deterministic, randomly readable ``.npz`` file.

A shard is a ZIP archive (no compression, as ``numpy.savez`` writes it) that
``numpy.load`` opens too. Row ``k`` of the shard is one record, stored as the arrays
of :func:`ecg.io.npz.record_arrays` under ``<k>/<name>.npy`` (``3/signal.npy``,
``3/meta.npy``...); the member ``manifest.json`` lists the rows' records and what the
partition that wrote the shard left out.

The bytes of a shard depend only on its content: every member has the same fixed
date (1980-01-01, the ZIP epoch), permissions and order, so the same records give the
same file on any worker and in any run (``numpy.savez`` stamps each member with the
time of writing). A shard on local disk is written to a temporary file and renamed
into place, so it appears whole or not at all; on object storage (an fsspec URL such
as ``s3://bucket/cache/part-00000.npz``) the object store's own upload is atomic.

Each record is read alone (the members are stored, so a row is a few seeks), locally
or through fsspec, without loading the rest of the shard.
"""
import io
import json
import os
import tempfile
import threading
import zipfile

import numpy as np

from ecg.errors import RecordError
from ecg.io.npz import _NPY_HEADER_LOCK, record_arrays, record_from_arrays

FORMAT = "ecg-shard"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""The date of every member: the ZIP epoch, so that a shard's bytes hold no time of writing."""


def is_url(path):
    """True when ``path`` is an fsspec URL of a remote store (``s3://``, ``gs://``, ``memory://``...).

    ``file://`` URLs and plain paths are local.

    Examples
    --------
    >>> is_url("s3://bucket/cache"), is_url("runs/cache"), is_url("file:///tmp/cache")
    (True, False, False)
    """
    path = os.fspath(path)
    return "://" in path and not path.startswith("file://")


def local_path(path):
    """``path`` without a ``file://`` prefix."""
    path = os.fspath(path)
    return path[len("file://"):] if path.startswith("file://") else path


def join(base, *parts):
    """Join path parts with ``/`` for a URL, with :func:`os.path.join` for a local path."""
    base = os.fspath(base)
    if is_url(base):
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(local_path(base), *parts)


def open_file(path, mode="rb"):
    """Open a local path or an fsspec URL (fsspec is only imported for URLs)."""
    if not is_url(path):
        return open(local_path(path), mode)
    import fsspec

    return fsspec.open(os.fspath(path), mode).open()


def exists(path):
    """Whether the file at a local path or fsspec URL exists."""
    if not is_url(path):
        return os.path.isfile(local_path(path))
    import fsspec

    fs, inner = fsspec.core.url_to_fs(os.fspath(path))
    return fs.isfile(inner)


def _member(name):
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3                  # Unix, on every platform
    info.external_attr = 0o644 << 16
    return info


def shard_bytes(records, manifest):
    """The bytes of a shard of ``records`` with ``manifest``: the same content, the same bytes.

    Parameters
    ----------
    records : list of dict
        One dict of components per row (``signal``, ``meta``, ``features``,
        ``annotation``, ``target``), as :func:`ecg.io.npz.write_npz` takes them.
    manifest : dict
        JSON-ready description of the shard, stored as ``manifest.json`` (with sorted
        keys, after ``format`` and ``format_version``); its ``records`` key lists one
        ``{"record": name, ...}`` per row.

    Returns
    -------
    bytes
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for row, components in enumerate(records):
            for key, value in record_arrays(**components).items():
                member = io.BytesIO()
                np.lib.format.write_array(member, value, allow_pickle=False)
                archive.writestr(_member(f"{row}/{key}.npy"), member.getvalue())
        manifest = {**manifest, "format": FORMAT, "format_version": FORMAT_VERSION}
        archive.writestr(_member(MANIFEST), json.dumps(manifest, sort_keys=True, indent=1).encode())
    return buffer.getvalue()


def write_shard(path, records, manifest):
    """Write a shard to ``path`` (local or fsspec URL) so that it appears whole or not at all.

    A local shard goes to a temporary file ``.tmp-*`` beside it, is flushed to disk and
    renamed into place; a process killed while writing leaves only that temporary file,
    which no reader takes for a shard. On object storage the upload is committed when
    the file is closed.

    Parameters
    ----------
    path : str or Path
        Where the shard goes (``.../part-00003.npz``).
    records, manifest
        As :func:`shard_bytes`.
    """
    data = shard_bytes(records, manifest)
    if is_url(path):
        with open_file(path, "wb") as file:
            file.write(data)
        return
    path = local_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_npy(file, name):
    """One array from an open ``.npy`` member; never unpickles (object arrays are refused)."""
    version = np.lib.format.read_magic(file)
    with _NPY_HEADER_LOCK:          # the CPython 3.11 ast thread bug (see ecg.io.npz)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran_order, dtype = read_header(file)
    if dtype.hasobject:
        raise ValueError(f"member {name} holds Python objects, which a cache never stores")
    count = int(np.prod(shape, dtype=np.int64))
    data = file.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError(f"member {name} is truncated")
    return np.frombuffer(bytearray(data), dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


class ShardFile:
    """An open shard: its manifest and random access to its rows.

    Safe to read from several threads at once (``zipfile`` serialises the seeks of one
    archive; the arrays are parsed outside that lock).

    Parameters
    ----------
    path : str or Path
        A local path or an fsspec URL.

    Raises
    ------
    RecordError
        The file is missing, not a shard, or of another format version (named by path).
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            self._file = open_file(self.path)
        except (OSError, ValueError) as exc:
            raise RecordError(os.path.basename(self.path), f"cache shard {self.path} cannot be opened: {exc}") from exc
        try:
            self._archive = zipfile.ZipFile(self._file)
            self.manifest = json.loads(self._archive.read(MANIFEST))
            self._names = set(self._archive.namelist())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            self._file.close()
            raise RecordError(os.path.basename(self.path), f"{self.path} is not a readable cache shard: {exc}") from exc
        if self.manifest.get("format") != FORMAT or self.manifest.get("format_version") != FORMAT_VERSION:
            self._file.close()
            raise RecordError(os.path.basename(self.path), f"{self.path} is not an {FORMAT} of format version "
                                                            f"{FORMAT_VERSION}: preprocess it again")
        self._rows = {}
        for name in self._names:
            row, sep, key = name.partition("/")
            if sep and key.endswith(".npy"):
                self._rows.setdefault(int(row), []).append(key[:-4])
        self._lock = threading.Lock()

    @property
    def records(self):
        """list of str: the record of each row, in row order."""
        return [item["record"] for item in self.manifest["records"]]

    def read(self, row, components=None):
        """The components of row ``row`` as :func:`ecg.io.npz.read_npz` returns them.

        Parameters
        ----------
        row : int
        components : sequence of str, optional
            Read only these (``signal``, ``meta``, ``features``, ``annotation``,
            ``target``); by default all that are stored.

        Raises
        ------
        RecordError
            No such row, or a damaged member (naming the record and the shard).
        """
        records = self.manifest["records"]
        if not 0 <= row < len(records):
            raise RecordError(f"row {row}", f"cache shard {self.path} has {len(records)} rows")
        record = records[row]["record"]
        arrays = {}
        keys = self._rows.get(row, ())
        if components is not None:
            wanted = set(components)
            keys = [key for key in keys if _component(key) in wanted]
        try:
            for key in keys:
                with self._archive.open(f"{row}/{key}.npy") as member:
                    arrays[key] = _read_npy(member, f"{row}/{key}.npy")
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise RecordError(record, f"cache shard {self.path} is damaged: {exc}") from exc
        return record_from_arrays(arrays)

    def close(self):
        """Close the file."""
        with self._lock:
            self._archive.close()
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _component(key):
    """The component a member belongs to: ``ann/atr/sample`` and ``annseg/...`` to ``annotation``."""
    head = key.split("/", 1)[0]
    return "annotation" if head in ("ann", "annseg") else head


def read_manifest(path):
    """The ``manifest.json`` of the shard at ``path`` (a dict)."""
    with ShardFile(path) as shard:
        return shard.manifest
