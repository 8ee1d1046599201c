"""Model actions of EcgBatch: train, test and predict with a pipeline's model."""
import numpy as np
from batchflow import action
from batchflow.utils import save_data_to

from ecg.errors import LabelError, RecordError


class ModelMixin:
    """Actions that feed the batch to a model of the pipeline (a :class:`~ecg.models.BaseModel`)."""

    def segment_counts(self, signals=None):
        """Number of model inputs each record gives: 1, or its segments after a split."""
        signals = self.signal if signals is None else signals
        return np.array([1 if np.ndim(s) == 2 else len(s) for s in signals], dtype=np.int64)

    def model_inputs(self, signals=None):
        """Stack signals into the model layout ``(n_windows, steps, channels)`` float32.

        Each record gives one window ``(n_leads, n_samples)`` or, after a split, its
        segments; all windows must have the same shape.
        """
        signals = self.signal if signals is None else signals
        if isinstance(signals, np.ndarray) and signals.dtype != object:
            windows = signals.reshape(-1, *signals.shape[-2:])
        else:
            parts = []
            for i, sig in enumerate(signals):
                if not isinstance(sig, np.ndarray) or sig.ndim not in (2, 3):
                    raise RecordError(self.record_name(i), "signal must be (n_leads, n_samples) or "
                                      f"(n_segments, n_leads, length), got {np.shape(sig)}")
                parts.append(sig.reshape(-1, *sig.shape[-2:]))
            shapes = {p.shape[1:] for p in parts}
            if len(shapes) > 1:
                raise RecordError(self.record_name(0), f"records have different shapes {sorted(shapes)}: "
                                  "split or crop them to one length before a model")
            windows = np.concatenate(parts) if parts else np.zeros((0, 0, 0), np.float32)
        return np.ascontiguousarray(windows.transpose(0, 2, 1), dtype=np.float32)

    def model_targets(self, targets=None, num_classes=None):
        """Stack targets to match :meth:`model_inputs`: one row per window, one-hot float32."""
        targets = self.target if targets is None else targets
        signals = self.signal  # once: each component access of a preloaded batch looks up every item
        counts = self.segment_counts(signals)
        rows = []
        for i, (tgt, count, sig) in enumerate(zip(targets, counts, signals)):
            tgt = np.asarray(tgt)
            if tgt.dtype.kind in "USO":
                raise LabelError(f"record {self.record_name(i)!r}: target {tgt!r} is a class name; "
                                 "encode targets first (binarize_labels, one_hot_labels)")
            if sig.ndim == 3:
                if len(tgt) != count:
                    raise LabelError(f"record {self.record_name(i)!r}: {len(tgt)} targets for "
                                     f"{count} segments")
                rows.append(tgt)
            else:
                rows.append(tgt[None])
        y = np.concatenate(rows)
        if y.dtype.kind in "iub":
            n = num_classes or (len(self.classes) if self.classes else int(y.max()) + 1)
            y = np.eye(n, dtype=np.float32)[y]
        return y.astype(np.float32, copy=False)

    def model_features(self, features=None):
        """Stack ``features`` to match :meth:`model_inputs`: float32 ``(n_windows, n_features)``.

        A whole record gives one row; a split record's features are already one row per
        segment (repeated by the split).
        """
        features = self.features if features is None else features
        rows = []
        for i, (f, sig) in enumerate(zip(features if features is not None else [None] * len(self), self.signal)):
            if f is None:
                raise RecordError(self.record_name(i), "the model takes features, but the record has "
                                  "none: compute them first (e.g. find_r_peaks(0).rr_features())")
            f = np.asarray(f, dtype=np.float32)
            rows.append(f if np.ndim(sig) == 3 else f[None])
        return np.concatenate(rows)

    def frontend_features(self, model, windows=None):
        """The features ``model``'s feature front-end computes from its windows (see :mod:`ecg.models.frontends`).

        Parameters
        ----------
        model : KerasBaseModel
            A model with ``feature_input.frontend`` in its config.
        windows : numpy.ndarray, optional
            :meth:`model_inputs` of this batch by default.

        Returns
        -------
        numpy.ndarray
            float32 ``(n_windows, n_features)``, each record's windows at its own rate.
        """
        windows = self.model_inputs() if windows is None else windows
        rates = np.unique(np.asarray(self.fs, dtype=np.float64))
        if len(rates) == 1:
            return model.frontend_features(windows, rates[0])
        counts = self.segment_counts()
        if counts.sum() != len(windows):
            raise RecordError(self.record_name(0), f"{len(windows)} windows for records of several rates "
                              f"{rates.tolist()} Hz giving {counts.sum()}: resample them to one rate first")
        parts = np.split(windows, np.cumsum(counts)[:-1])
        return np.concatenate([model.frontend_features(part, fs) for part, fs in zip(parts, self.fs)])

    def _model_x(self, model, x=None):
        """What ``model`` takes: the windows, and the features too when its config asks for them.

        The features come from the model's feature front-end when it has one, else from
        the ``features`` component.
        """
        windows = self.model_inputs(x)
        if getattr(model, "takes_features", False):
            if getattr(model, "feature_frontend", None) is not None:
                return [windows, self.frontend_features(model, windows)]
            return [windows, self.model_features()]
        return windows

    @property
    def model_windows(self):
        """:meth:`model_inputs` as a property, for batchflow's ``train_model(x=B("model_windows"))``."""
        return self.model_inputs()

    @property
    def model_labels(self):
        """:meth:`model_targets` as a property, for batchflow's ``train_model(y=B("model_labels"))``."""
        return self.model_targets()

    def _model(self, model_name):
        if self.pipeline is None:
            raise RuntimeError("model actions run inside a pipeline that has the model (init_model)")
        return self.pipeline.get_model_by_name(model_name, batch=self)

    @action(no_eval="save_to")
    def train_on_batch(self, model_name, x=None, y=None, metrics=None, save_to=None, **metric_kwargs):
        """One training step of the pipeline's model ``model_name`` on this batch.

        Parameters
        ----------
        model_name : str
            Name given to ``init_model``.
        x, y : array-like, optional
            Inputs and targets; by default ``signal`` and ``target`` through
            :meth:`model_inputs` / :meth:`model_targets`. Named expressions work
            (``x=B("signal")``).
        metrics : str or list, optional
            Training metrics computed in the training step (``"f1_score"``,
            ``"accuracy"``...); fixed when the model is built.
        save_to : named expression, optional
            Where to store the dict of loss and metrics (e.g. ``V("loss", mode="a")``).
        metric_kwargs
            Arguments of the metric, e.g. ``average="macro"``.

        Returns
        -------
        EcgBatch
            ``self``.
        """
        model = self._model(model_name)
        x = self._model_x(model, x)
        y = self.model_targets(y)
        if metrics is not None:
            names = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
            metrics = [{"name": n, **metric_kwargs} if isinstance(n, str) else n for n in names]
        logs = model.train_on_batch(x, y, classes=self.classes, metrics=metrics)
        if save_to is not None:
            logs = {name: float(value) for name, value in logs.items()}
            save_data_to(data=[logs], dst=[save_to], batch=self)
        return self

    @action(no_eval="save_to")
    def test_on_batch(self, model_name, x=None, y=None, save_to=None):
        """Loss and metrics of model ``model_name`` on this batch (no weight update).

        The dict goes to ``save_to`` when given, and to the model's ``test_hist``.
        """
        model = self._model(model_name)
        logs = model.test_on_batch(self._model_x(model, x), self.model_targets(y))
        if save_to is not None:
            save_data_to(data=[logs], dst=[save_to], batch=self)
        return self

    @action(no_eval="save_to")
    def predict_on_batch(self, model_name, x=None, save_to=None, aggregate=None, by_record=False):
        """Predict with model ``model_name``; one entry per record.

        Parameters
        ----------
        save_to : named expression, optional
            Where to store the list of per-record predictions, e.g.
            ``V("prediction", mode="e")`` to extend a pipeline variable.
        aggregate : {None, "mean"}
            ``None``: each record's entry is ``(n_classes,)``, or
            ``(n_segments, n_classes)`` after a split. ``"mean"``: segment
            probabilities are averaged into one whole-record decision.
        by_record : bool
            Save ``{record index: prediction}`` instead of a list, for
            ``save_to=V("prediction", mode="u")`` (a dict variable): the pairing of
            records and predictions then survives ``prefetch``, which may finish
            batches out of order.

        Returns
        -------
        EcgBatch
            ``self``; the per-record predictions are also in ``self.predictions``.
        """
        model = self._model(model_name)
        signals = self.signal if x is None else x
        probs = model.predict_on_batch(self._model_x(model, signals))
        counts = self.segment_counts(signals)
        pieces = np.split(probs, np.cumsum(counts)[:-1])
        per_record = []
        for sig, piece in zip(signals, pieces):
            if aggregate == "mean":
                piece = piece.mean(axis=0)
            elif np.ndim(sig) == 2:
                piece = piece[0]
            per_record.append(piece)
        self.predictions = per_record
        if save_to is not None:
            value = dict(zip(self.indices, per_record)) if by_record else per_record
            save_data_to(data=[value], dst=[save_to], batch=self)
        return self
