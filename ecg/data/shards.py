"""A sharded cache on disk or object storage, read back record by record as a dataset.

:func:`ecg.data.cluster.preprocess` writes it::

    <cache>/
        cache.json              the plan: recipe, load options, partitions and their records
        shards/part-00000.npz   one shard per partition (:mod:`ecg.io.shards`)
        index.csv               record, segment, label, shard, row: written last
        summary.json            records done, skipped and failed, with the reasons

``index.csv`` is the commit point: a cache without it is unfinished (run the same
``preprocess`` again to finish it), and :class:`ShardedCache` refuses it.

Training reads a record's row alone (``load(fmt="shards", src=cache)``), so the cache
streams: nothing but the index table is held in memory, and a shard on object storage is
read through fsspec a few byte ranges at a time.
"""
import io
import json
import os
import threading
from collections import OrderedDict

from ecg.errors import EcgError, RecordError
from ecg.io import shards as shard_io

PLAN_FILE = "cache.json"
INDEX_FILE = "index.csv"
SUMMARY_FILE = "summary.json"
SHARDS_DIR = "shards"
INDEX_COLUMNS = ("record", "segment", "label", "shard", "row")
PLAN_FORMAT = "ecg-sharded-cache"
PLAN_FORMAT_VERSION = 1
_OPEN = {}
_OPEN_LOCK = threading.Lock()


def shard_name(number):
    """The file name of partition ``number``'s shard, relative to the cache (``shards/part-00003.npz``)."""
    return f"{SHARDS_DIR}/part-{number:05d}.npz"


def read_text(path):
    """The text of a local file or fsspec URL."""
    with shard_io.open_file(path) as file:
        return file.read().decode("utf-8")


class ShardedCache:
    """A finished sharded cache: its index table, labels, and each record's components.

    Parameters
    ----------
    path : str or Path
        The cache folder, local or an fsspec URL (``s3://bucket/cinc2017-cache``).
    max_open : int
        Shards kept open at once (least recently used closed first).

    Attributes
    ----------
    path : str
    plan : dict
        The content of ``cache.json``.
    index : pandas.DataFrame
        One row per record and segment: ``record``, ``segment``, ``label`` (empty when
        the cache has no labels), ``shard`` (path in the cache) and ``row``.

    Raises
    ------
    EcgError
        The folder holds no finished cache (no ``cache.json`` or ``index.csv``).

    Examples
    --------
    >>> cache = ShardedCache("runs/cinc2017-cache")                        # doctest: +SKIP
    >>> pipeline = cache.dataset().p.load(src=cache, fmt="shards")         # doctest: +SKIP
    """

    def __init__(self, path, max_open=256):
        import pandas as pd

        self.path = os.fspath(path)
        plan_path, index_path = shard_io.join(self.path, PLAN_FILE), shard_io.join(self.path, INDEX_FILE)
        if not shard_io.exists(plan_path):
            raise EcgError(f"{self.path} holds no sharded cache ({PLAN_FILE} is missing): write one with "
                           "'ecg preprocess CONFIG --out DIR'")
        if not shard_io.exists(index_path):
            raise EcgError(f"the sharded cache in {self.path} is unfinished ({INDEX_FILE} is missing): run the "
                           "same 'ecg preprocess' again to finish it")
        self.plan = json.loads(read_text(plan_path))
        if self.plan.get("format") != PLAN_FORMAT or self.plan.get("format_version") != PLAN_FORMAT_VERSION:
            raise EcgError(f"{plan_path} is not an {PLAN_FORMAT} of format version {PLAN_FORMAT_VERSION}")
        self.index = pd.read_csv(io.StringIO(read_text(index_path)), dtype={"record": str, "label": str},
                                 keep_default_na=False)
        first = self.index.drop_duplicates("record")
        self._where = dict(zip(first["record"], zip(first["shard"], first["row"].astype(int))))
        self._labels = dict(zip(first["record"], first["label"]))
        self.max_open = max_open
        self._shards = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path):
        """The :class:`ShardedCache` of ``path``, opened once per process and shared (thread-safe).

        A local cache written again since (a newer ``index.csv``) is opened again.
        """
        if isinstance(path, ShardedCache):
            return path
        path = os.fspath(path)
        key = (path, None)
        if not shard_io.is_url(path):
            index = shard_io.local_path(shard_io.join(path, INDEX_FILE))
            key = (path, os.stat(index).st_mtime_ns if os.path.isfile(index) else None)
        with _OPEN_LOCK:
            if key not in _OPEN:
                _OPEN[key] = cls(path)
            return _OPEN[key]

    @property
    def records(self):
        """list of str: the cached records, in cache order."""
        return list(self._where)

    @property
    def labels(self):
        """pandas.Series: the label of each record (empty strings without labels)."""
        import pandas as pd

        return pd.Series(self._labels, name="label", dtype=str)

    def __len__(self):
        return len(self._where)

    def __contains__(self, record):
        return str(record) in self._where

    def dataset(self, records=None):
        """An :class:`~ecg.data.dataset.EcgDataset` of the cached records (or of ``records``).

        Its batches are filled by ``load(src=cache, fmt="shards")``.
        """
        import numpy as np
        from batchflow import DatasetIndex

        from ecg.data.dataset import EcgDataset

        records = self.records if records is None else [str(r) for r in records]
        missing = [r for r in records if r not in self._where]
        if missing:
            raise EcgError(f"records {missing[:5]} are not in the sharded cache {self.path}")
        return EcgDataset(index=DatasetIndex(np.array(records)))

    def _shard(self, name):
        with self._lock:
            shard = self._shards.pop(name, None)
            if shard is None:
                shard = shard_io.ShardFile(shard_io.join(self.path, name))
            self._shards[name] = shard
            while len(self._shards) > self.max_open:
                self._shards.popitem(last=False)    # closed once no reader holds it
            return shard

    def label(self, record):
        """The label of ``record`` in the index table.

        Raises
        ------
        RecordError
            The record is not cached, or the cache has no label for it.
        """
        record = str(record)
        if record not in self._labels:
            raise RecordError(record, f"not in the sharded cache {self.path}")
        if self._labels[record] == "":
            raise RecordError(record, f"the sharded cache {self.path} holds no label for it")
        return self._labels[record]

    def read(self, record, components=None):
        """The components of ``record`` (``signal``, ``meta``, ``features``, ``annotation``...).

        ``components`` reads only those (by default all that are stored).

        Raises
        ------
        RecordError
            The record is not in the cache (it may have been skipped: see
            ``summary.json``), or its shard is damaged.
        """
        record = str(record)
        if record not in self._where:
            raise RecordError(record, f"not in the sharded cache {self.path} (left out when it was written? "
                                      f"see its {SUMMARY_FILE})")
        name, row = self._where[record]
        return self._shard(name).read(row, components)
