"""Label actions of EcgBatch: rename, keep/drop, binarise and one-hot encode targets.

``target[i]`` is a class name (or, after a split, an array of them, one per segment)
until :meth:`LabelsMixin.one_hot_labels` or :meth:`LabelsMixin.binarize_labels` turns
it into float32 one-hot rows and sets ``batch.classes`` to the column names.
"""
import numpy as np
from batchflow import action

from ecg.batch.preprocessing import subset
from ecg.errors import LabelError
from ecg.ops import labels
from ecg.report import EmptyLabelsError, skip_empty_batch


def target_labels(batch):
    """Class names of every target: a list of str arrays, one per record (any shape).

    Raises
    ------
    LabelError
        If a record has no target, or its target is already encoded.
    """
    out = []
    targets = batch.target if batch.target is not None else [None] * len(batch)
    for i, target in enumerate(targets):
        value = np.asarray(target)
        if target is None or value.dtype.kind not in "US":
            raise LabelError(f"record {batch.record_name(i)!r}: expected a class-name target, got "
                             f"{target!r}; load the labels first (load(fmt='csv')) and apply "
                             "label actions before one-hot encoding")
        out.append(value.astype(str))
    return out


class LabelsMixin:
    """Label actions of EcgBatch."""

    def _encode(self, encode, classes=None):
        """Encode all targets in one vectorised call; a label not in ``classes`` raises."""
        names = target_labels(self)
        flat = np.concatenate([n.ravel() for n in names])
        if classes is not None and labels.unknown_labels(flat, classes):
            for i, n in enumerate(names):
                unknown = labels.unknown_labels(n, classes)
                if unknown:
                    raise LabelError(f"record {self.record_name(i)!r}: label {unknown[0]!r} is not one "
                                     f"of the classes {tuple(classes)}; rename_labels or drop_labels first")
        encoded = encode(flat)
        bounds = np.cumsum([n.size for n in names])[:-1]
        return [piece.reshape(*n.shape, -1) for n, piece in zip(names, np.split(encoded, bounds))]

    @action
    def rename_labels(self, mapping):
        """Rename class names; names not in ``mapping`` are kept.

        Parameters
        ----------
        mapping : dict
            Old name -> new name, e.g. ``{"~": "noise"}``; several names may map to one.

        Returns
        -------
        self

        Raises
        ------
        LabelError
            If a target is missing or already encoded.
        """
        names = target_labels(self)
        renamed = [labels.rename(n, mapping) for n in names]
        self.set_component("target", [r.item() if r.ndim == 0 else r for r in renamed])
        return self

    @action
    def one_hot_labels(self, classes):
        """One-hot encode targets: ``target[i]`` becomes float32 ``(n_classes,)``.

        Parameters
        ----------
        classes : sequence of str
            Class names in column order; stored as ``self.classes``.

        Returns
        -------
        self

        Raises
        ------
        LabelError
            If a label is not in ``classes`` (the error names the record and label).
        """
        classes = tuple(classes)
        self.set_component("target", self._encode(lambda flat: labels.one_hot(flat, classes), classes))
        self.classes = classes
        return self

    @action
    def binarize_labels(self, positive, names=None):
        """Two-class one-hot targets ``[other, positive]``.

        Parameters
        ----------
        positive : str or sequence of str
            Class name(s) of the positive class, e.g. ``"A"`` or ``["A", "O"]``.
        names : tuple of two str or None
            Column names; default ``("other", "+".join(positive))``.

        Returns
        -------
        self

        Raises
        ------
        LabelError
            If a target is missing or already encoded.
        """
        positive = [positive] if isinstance(positive, str) else list(positive)
        self.set_component("target", self._encode(lambda flat: labels.binarize(flat, positive)))
        self.classes = tuple(names) if names is not None else ("other", "+".join(positive))
        return self

    def _filter_labels(self, classes, keep, report):
        classes = [classes] if isinstance(classes, str) else list(classes)
        hit = [bool(np.isin(n, classes).any()) for n in target_labels(self)]
        positions = np.flatnonzero(np.asarray(hit) == keep)
        if len(positions) == len(self):
            return self
        if len(positions) == 0:
            skip_empty_batch(self, EmptyLabelsError(f"no record is left after {'keep' if keep else 'drop'}"
                                                    f"_labels({classes})"), report)
        return subset(self, positions)

    @action
    def keep_labels(self, classes, report=None):
        """Keep only records whose label is one of ``classes``.

        Parameters
        ----------
        classes : str or sequence of str
            Class names to keep.
        report : ErrorReport, optional
            Where a batch left empty is counted (see :func:`ecg.report.skip_empty_batch`);
            by default the pipeline's ``"ecg_errors"``.

        Returns
        -------
        EcgBatch
            A new batch without the other records (``self`` when all are kept).

        Raises
        ------
        LabelError
            If a target is missing or encoded.
        EmptyLabelsError
            If no record is left: a ``SkipBatchException`` (a pipeline skips the batch
            and goes on) and a ``LabelError``.
        """
        return self._filter_labels(classes, keep=True, report=report)

    @action
    def drop_labels(self, classes, report=None):
        """Drop records whose label is one of ``classes``.

        Parameters
        ----------
        classes : str or sequence of str
            Class names to drop, e.g. ``"~"`` (noisy CinC 2017 records).
        report : ErrorReport, optional
            Where a batch left empty is counted (see :func:`ecg.report.skip_empty_batch`);
            by default the pipeline's ``"ecg_errors"``.

        Returns
        -------
        EcgBatch
            A new batch without those records (``self`` when none is dropped).

        Raises
        ------
        LabelError
            If a target is missing or encoded.
        EmptyLabelsError
            If no record is left: a ``SkipBatchException`` (a pipeline skips the batch
            and goes on) and a ``LabelError``.
        """
        return self._filter_labels(classes, keep=False, report=report)
