"""Classification metrics.

Numpy functions (``confusion_matrix``, ``f1_score``, ``accuracy_score``...) evaluate
predictions over a whole dataset; :func:`keras_metric` gives the in-graph Keras metric
of the same name, used by ``train_on_batch(..., metrics="f1_score", average="macro")``
so training metrics are computed on the device, not by an extra forward pass.

Labels may be given as class indices ``(n,)``, one-hot / probability arrays
``(n, n_classes)`` (reduced with ``argmax``), or per-sample arrays of either
(``(n, steps)`` / ``(n, steps, n_classes)``, flattened).
"""
import numpy as np

from ecg.errors import ConfigError

AVERAGES = ("macro", "micro", "weighted", None)


def to_indices(y, num_classes=None):
    """Class indices from indices, one-hot vectors or probabilities (argmax over the last axis)."""
    y = np.asarray(y)
    if num_classes is not None and y.ndim >= 1 and y.shape[-1] == num_classes and y.dtype.kind == "f":
        return y.argmax(axis=-1).ravel()
    if y.dtype.kind == "f" and y.ndim >= 2:
        return y.argmax(axis=-1).ravel()
    return y.astype(np.int64).ravel()


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Confusion matrix ``(n_classes, n_classes)``: rows are true classes, columns predicted."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if num_classes is None:
        num_classes = y_true.shape[-1] if y_true.dtype.kind == "f" and y_true.ndim >= 2 else None
    t, p = to_indices(y_true, num_classes), to_indices(y_pred, num_classes)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred hold {t.size} and {p.size} labels")
    n = num_classes or int(max(t.max(initial=0), p.max(initial=0)) + 1)
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)


def _per_class(cm):
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1, support


def _average(values, support, cm, average):
    if average not in AVERAGES:
        raise ConfigError(f"average must be one of {AVERAGES}, got {average!r}")
    if average is None:
        return values
    if average == "macro":
        return float(values.mean())
    if average == "weighted":
        return float((values * support).sum() / max(support.sum(), 1))
    tp, total = np.trace(cm), cm.sum()
    return float(tp / total) if total else 0.0   # micro P = R = F1 = accuracy for single-label


def f1_score(y_true, y_pred, average="macro", num_classes=None):
    """F1 score per class or averaged (``"macro"``, ``"micro"``, ``"weighted"``, ``None``).

    Examples
    --------
    >>> f1_score([0, 1, 1, 2], [0, 1, 2, 2], average="macro")
    0.7777777777777777
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    _, _, f1, support = _per_class(cm)
    return _average(f1, support, cm, average)


def precision_score(y_true, y_pred, average="macro", num_classes=None):
    """Precision (positive predictive value) per class or averaged."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    precision, _, _, support = _per_class(cm)
    return _average(precision, support, cm, average)


def recall_score(y_true, y_pred, average="macro", num_classes=None):
    """Recall (sensitivity) per class or averaged."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    _, recall, _, support = _per_class(cm)
    return _average(recall, support, cm, average)


def accuracy_score(y_true, y_pred, num_classes=None):
    """Share of labels predicted right."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    return float(np.trace(cm) / max(cm.sum(), 1))


def classification_report(y_true, y_pred, classes=None, num_classes=None):
    """Per-class precision, recall, F1 and support, plus macro F1 and accuracy, as a dict."""
    cm = confusion_matrix(y_true, y_pred, num_classes or (len(classes) if classes else None))
    precision, recall, f1, support = _per_class(cm)
    names = list(classes) if classes else [str(i) for i in range(len(cm))]
    report = {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
              for name, p, r, f, s in zip(names, precision, recall, f1, support)}
    report["macro_f1"] = float(f1.mean())
    report["accuracy"] = float(np.trace(cm) / max(cm.sum(), 1))
    report["confusion_matrix"] = cm.tolist()
    return report


_KERAS_METRICS = {
    "accuracy": ("CategoricalAccuracy", {}),
    "f1_score": ("F1Score", {"average": "macro"}),
    "auc": ("AUC", {}),
    "precision": ("Precision", {}),
    "recall": ("Recall", {}),
}


def keras_metric(name, **kwargs):
    """Return the Keras metric object computing ``name`` inside the training step.

    Parameters
    ----------
    name : str or keras.metrics.Metric or callable
        ``"accuracy"``, ``"f1_score"`` (``average=`` macro/micro/weighted), ``"auc"``,
        ``"precision"``, ``"recall"``; a Keras metric or a function ``f(y_true, y_pred)``
        written with ``keras.ops`` is passed through.
    """
    if not isinstance(name, str):
        return name
    if name not in _KERAS_METRICS:
        raise ConfigError(f"unknown metric {name!r}; known: {', '.join(sorted(_KERAS_METRICS))}")
    import keras

    cls_name, defaults = _KERAS_METRICS[name]
    return getattr(keras.metrics, cls_name)(name=name, **{**defaults, **kwargs})
