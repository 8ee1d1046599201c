"""EcgBatchBase: the components of an ECG batch and the engine that actions use.

Every action of :class:`~ecg.batch.EcgBatch` is thin: it picks components, calls a
pure function from :mod:`ecg.ops` through :meth:`EcgBatchBase.map_signals` (which
stacks the items that share a sampling rate and a shape into one vectorised call),
and stores the result.
"""
from collections import defaultdict

import numpy as np
from batchflow import Batch, DatasetIndex

from ecg.errors import RecordError

COMPONENTS = ("signal", "annotation", "meta", "target")


def object_array(items):
    """Return a 1-D object array holding ``items`` as they are (arrays are not merged)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def new_batch(batch, indices, components, index=None):
    """A batch of the class of ``batch`` holding new items.

    Parameters
    ----------
    batch : EcgBatchBase
        The batch the items come from; its dataset, pipeline, random generator,
        ``classes`` and extra attributes are carried over.
    indices : array-like
        Index keys of the new items (unique).
    components : dict
        Component name -> list of per-item values (one per key of ``indices``).
    index : DatasetIndex, optional
        The index of the new batch, when it must be more than a plain
        ``DatasetIndex(indices)`` (a ``FilesIndex`` subset keeps the record paths).

    Returns
    -------
    EcgBatchBase
    """
    index = DatasetIndex(np.asarray(indices)) if index is None else index
    new = type(batch)(index, dataset=batch._dataset,
                      pipeline=batch.pipeline, **batch.get_attrs())
    for name in batch.components:
        items = components.get(name)
        new.set_component(name, items if items is not None else [None] * len(new))
    new.classes = batch.classes
    if hasattr(batch._local, "random"):
        new._local.random = batch._local.random
    return new


def subset(batch, positions):
    """A new batch with the items of ``batch`` at ``positions`` (ints, in order).

    The new batch's index is a subset of ``batch.index`` of the same type, so a
    ``FilesIndex`` keeps the paths that a later ``load`` reads.
    """
    positions = np.asarray(positions, dtype=np.int64)
    components = {name: [getattr(batch, name)[i] for i in positions] for name in batch.components
                  if getattr(batch, name) is not None}
    keys = batch.indices[positions]
    return new_batch(batch, keys, components, index=batch.index.create_subset(keys))


class EcgBatchBase(Batch):
    """A batch of ECG records.

    Components (one entry per record, in the order of ``batch.indices``):

    ``signal``
        float32 array ``(n_leads, n_samples)`` in physical units (usually mV). Records
        may differ in length. After a split action, ``(n_segments, n_leads, length)``.
    ``annotation``
        dict mapping an annotator extension (``"atr"``, ``"i"``, ...) to a dict with
        ``sample`` (int64 sample indices at the record's ``fs``), ``symbol`` (str array)
        and ``aux_note`` (str array). Empty dict when no annotation was loaded.
    ``meta``
        dict with ``record`` (name), ``fs`` (Hz), ``units`` and ``sig_name`` (one per
        lead), ``n_samples``, ``path`` (header path without extension) and, where the
        header has them, ``age`` and ``sex``.
    ``target``
        the label of the record: a class name (str) as loaded, then a class index
        or a one-hot float32 vector after a label action; repeated per segment
        (``(n_segments, ...)``) after a split.

    The attribute ``classes`` (tuple of class names or ``None``) says what the columns
    of a one-hot ``target`` mean; models store it so predictions can be named.
    """

    components = COMPONENTS

    def __init__(self, index, *args, preloaded=None, **kwargs):
        super().__init__(index, *args, preloaded=preloaded, **kwargs)
        self.classes = None
        if preloaded is None:
            self._data = tuple(self.array_of_nones for _ in self.components)

    # --- item access -------------------------------------------------------------------
    def record_name(self, i):
        """Name of the i-th record (position in the batch), for error messages."""
        meta = self.meta[i] if self.meta is not None else None
        if isinstance(meta, dict) and meta.get("record"):
            return meta["record"]
        return str(self.indices[i])

    @property
    def fs(self):
        """float64 array ``(batch_size,)``: sampling rate of each record in Hz."""
        out = np.empty(len(self), dtype=np.float64)
        for i, meta in enumerate(self.meta):
            if not isinstance(meta, dict) or not meta.get("fs"):
                raise RecordError(self.record_name(i), "sampling rate 'fs' is unknown: load meta first")
            out[i] = meta["fs"]
        return out

    def set_component(self, name, items):
        """Store a list or array of per-record values as component ``name``."""
        if len(items) != len(self):
            raise ValueError(f"component {name!r} needs {len(self)} items, got {len(items)}")
        setattr(self, name, object_array(list(items)))

    # --- the engine --------------------------------------------------------------------
    def map_signals(self, func, *args, src="signal", group_by_fs=True, **kwargs):
        """Apply ``func`` to every signal, batching items of equal shape and ``fs``.

        ``func(x, *args, fs=fs, **kwargs)`` receives ``x`` of shape ``(n, n_leads,
        n_samples)`` (items stacked along the first axis; a segmented item contributes
        its segments) and must return an array with the same first axis. Pass
        ``group_by_fs=False`` for functions that take no ``fs``.

        Returns
        -------
        list
            One array per record, with the record's leading shape and the trailing
            shape ``func`` returned.
        """
        signals = getattr(self, src)
        fs = self.fs if group_by_fs else np.zeros(len(self))
        groups = defaultdict(list)
        for i, sig in enumerate(signals):
            if not isinstance(sig, np.ndarray) or sig.ndim < 2:
                raise RecordError(self.record_name(i),
                                  f"component {src!r} must be an array (n_leads, n_samples), "
                                  f"got {type(sig).__name__} {getattr(sig, 'shape', '')}")
            groups[(fs[i], sig.shape[-2:])].append(i)

        out = [None] * len(self)
        for (rate, _), positions in groups.items():
            parts = [signals[i].reshape(-1, *signals[i].shape[-2:]) for i in positions]
            stacked = parts[0] if len(parts) == 1 else np.concatenate(parts)
            call_kwargs = dict(kwargs, fs=rate) if group_by_fs else kwargs
            result = func(stacked, *args, **call_kwargs)
            bounds = np.cumsum([len(p) for p in parts])[:-1]
            for i, piece in zip(positions, np.split(result, bounds)):
                lead_shape = signals[i].shape[:-2]
                out[i] = piece.reshape(lead_shape + piece.shape[1:])
        return out

    def update_meta(self, **values):
        """Set keys of every record's ``meta`` dict (values broadcast or one per record)."""
        for key, value in values.items():
            per_item = np.broadcast_to(np.asarray(value, dtype=object), (len(self),))
            for meta, v in zip(self.meta, per_item):
                meta[key] = v
