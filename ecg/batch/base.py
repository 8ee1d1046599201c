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
from ecg.ops import alignment

COMPONENTS = ("signal", "annotation", "meta", "target", "features")
# meta key set by actions that make a per-sample target (annotation_to_mask)
PER_SAMPLE_TARGET = "per_sample_target"


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
    added = [name for name in batch.components if name not in new.components]
    if added:  # components an action added (a spectrum, a wavelet transform) stay components
        new.add_components(added)
    for name in batch.components:
        items = components.get(name)
        new.set_component(name, items if items is not None else [None] * len(new))
    new.classes = batch.classes
    if hasattr(batch._local, "random"):
        new._local.random = batch._local.random
    return new


def added_components(batch):
    """Names of the components an action added to ``batch`` (a spectrum, a wavelet transform)."""
    return [name for name in batch.components if name not in COMPONENTS]


def component_part(value, key):
    """``value[key]`` of an added component's per-record value (of each array of a list, e.g. wavelet levels).

    Per-record transforms keep the record's leading axes first (segments, then leads), so
    the part of segment ``k`` is ``key=k`` and the part of lead ``k`` ``key=slice(k, k + 1)``.
    """
    if value is None:
        return None
    if isinstance(value, list):
        return [np.asarray(v)[key] for v in value]
    return np.asarray(value)[key]


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
        and ``aux_note`` (str array). Empty dict when no annotation was loaded. After a
        split, each extension maps to a list with one such dict per segment, samples
        counted from the segment's first sample.
    ``meta``
        dict with ``record`` (name), ``fs`` (Hz), ``units`` and ``sig_name`` (one per
        lead), ``n_samples``, ``path`` (header path without extension) and, where the
        header has them, ``age`` and ``sex``.
    ``target``
        the label of the record: a class name (str) as loaded, then a class index
        or a one-hot float32 vector after a label action; repeated per segment
        (``(n_segments, ...)``) after a split. A per-sample target (a wave mask from
        ``annotation_to_mask``, flagged by ``meta["per_sample_target"]``) is
        ``(..., n_samples)`` and is cut, padded and moved with the signal.
    ``features``
        float32 ``(n_features,)``: per-record features from a feature front-end
        (e.g. :meth:`~ecg.batch.features.FeaturesMixin.rr_features`), named by
        ``meta["feature_names"]``; repeated per segment after a split, and fed to
        models that take a feature input beside the signal.

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
    def map_signals(self, func, *args, src="signal", group_by_fs=True, with_maps=False, **kwargs):
        """Apply ``func`` to every signal, batching items of equal shape and ``fs``.

        ``func(x, *args, fs=fs, **kwargs)`` receives ``x`` of shape ``(n, n_leads,
        n_samples)`` (items stacked along the first axis; a segmented item contributes
        its segments) and must return an array with the same first axis. Pass
        ``group_by_fs=False`` for functions that take no ``fs``.

        With ``with_maps=True``, ``func`` moves samples and returns ``(out, maps)``:
        ``maps`` is float64 ``(n, n_out)``, the sample map of each row (see
        :mod:`ecg.ops.alignment`), and ``map_signals`` returns the signals and the
        per-record maps (``(n_out,)``, or ``(n_segments, n_out)`` for a split record)
        for :meth:`align_to`.

        Returns
        -------
        list, or tuple of two lists with ``with_maps=True``
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

        out, out_maps = [None] * len(self), [None] * len(self)
        for (rate, _), positions in groups.items():
            parts = [signals[i].reshape(-1, *signals[i].shape[-2:]) for i in positions]
            stacked = parts[0] if len(parts) == 1 else np.concatenate(parts)
            call_kwargs = dict(kwargs, fs=rate) if group_by_fs else kwargs
            result = func(stacked, *args, **call_kwargs)
            result, maps = result if with_maps else (result, None)
            bounds = np.cumsum([len(p) for p in parts])[:-1]
            for k, (i, piece) in enumerate(zip(positions, np.split(result, bounds))):
                lead_shape = signals[i].shape[:-2]
                out[i] = piece.reshape(lead_shape + piece.shape[1:])
                if with_maps:
                    rows = np.split(maps, bounds)[k]
                    out_maps[i] = rows.reshape(lead_shape + rows.shape[-1:])
        return (out, out_maps) if with_maps else out

    # --- alignment of annotations and per-sample targets ----------------------------
    def has_per_sample_target(self, i):
        """Whether record ``i``'s ``target`` is per sample (a mask), moved with the samples."""
        meta = self.meta[i] if self.meta is not None else None
        return isinstance(meta, dict) and bool(meta.get(PER_SAMPLE_TARGET))

    def align_to(self, maps, action, split=False):
        """Move annotations and per-sample targets by the sample maps of an action.

        Every action that moves samples calls this with the maps it moved the signals
        by, so annotation sample indices and per-sample targets stay on the same
        signal values (see :mod:`ecg.ops.alignment`).

        Parameters
        ----------
        maps : list of numpy.ndarray
            Per record: ``(n_out,)`` for a record that stays whole, ``(n_segments,
            n_out)`` for a split record or a record being split.
        action : str
            Name of the calling action, for error messages.
        split : bool
            The action cuts whole records into segments (each row of a map is one new
            segment of the same record): annotations become per-segment lists, label
            targets are repeated per segment.
        """
        annotations = self.annotation if self.annotation is not None else [None] * len(self)
        moved = [self._align_annotation(i, annotation, np.asarray(m), action, split)
                 for i, (annotation, m) in enumerate(zip(annotations, maps))]
        if self.annotation is not None:
            self.set_component("annotation", moved)
        if self.target is None:
            return
        targets = []
        for i, (target, m) in enumerate(zip(self.target, maps)):
            m = np.asarray(m)
            if self.has_per_sample_target(i):
                target = np.asarray(target)
                extra = target.ndim - (1 if split or m.ndim == 1 else 2)
                if m.ndim == 2:
                    m = m.reshape(m.shape[0], *(1,) * extra, m.shape[-1])
                targets.append(alignment.move_per_sample(target, m))
            elif split and target is not None:
                targets.append(np.repeat(np.asarray(target)[None], len(m), axis=0))
            else:
                targets.append(target)
        self.set_component("target", targets)
        if split and self.features is not None:
            self.set_component("features", [None if f is None else np.repeat(np.asarray(f)[None], len(m), axis=0)
                                            for f, m in zip(self.features, maps)])

    def _align_annotation(self, i, annotation, m, action, split):
        if not annotation:
            return annotation
        out = {}
        for ext, ann in annotation.items():
            if isinstance(ann, list):
                if split or m.ndim != 2 or len(ann) != len(m):
                    raise RecordError(self.record_name(i), f"{action}: annotation {ext!r} holds "
                                      f"{len(ann)} segments, which do not match the {m.shape} sample maps")
                out[ext] = [alignment.move_annotation(a, row) for a, row in zip(ann, m)]
            elif m.ndim == 2:
                if not split:
                    raise RecordError(self.record_name(i), f"{action}: annotation {ext!r} is of the "
                                      "whole record but the record is split")
                out[ext] = [alignment.move_annotation(ann, row) for row in m]
            else:
                out[ext] = alignment.move_annotation(ann, m)
        return out

    def update_meta(self, **values):
        """Set keys of every record's ``meta`` dict (values broadcast or one per record)."""
        for key, value in values.items():
            per_item = np.broadcast_to(np.asarray(value, dtype=object), (len(self),))
            for meta, v in zip(self.meta, per_item):
                meta[key] = v
