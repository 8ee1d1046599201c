"""Metrics: single-label and multi-label classification, task scores, delineation.

The numpy functions score predictions over a whole dataset; the counting is done by
:mod:`sklearn.metrics` (our functions check and convert the labels, then call it), so
every number here is scikit-learn's. :func:`keras_metric` gives the in-graph Keras metric
used by ``train_on_batch(..., metrics="f1_score", average="macro")``, so that training
metrics are computed on the device, not by an extra forward pass.

How labels are read (single-label metrics)
------------------------------------------
The dtype and the number of dimensions decide, never the values alone:

* **integer or bool arrays**, any shape, are class indices: ``(n,)`` labels or
  ``(n, steps)`` per-sample masks, flattened. Indices must be ``>= 0`` (and below
  ``num_classes`` when given). An integer one-hot array is therefore *not* decoded:
  pass one-hot targets as floats (``ecg.ops.one_hot`` returns float32).
* **1-D float arrays** are class indices too, and must hold whole numbers
  (``[0., 2., 1.]`` is classes 0, 2, 1; ``[0.3, 0.7]`` is an error).
* **float arrays of 2 or more dimensions** hold one row per label over the last axis,
  ``(n, n_classes)`` or ``(n, steps, n_classes)``: one-hot rows or probability rows
  (values in [0, 1] summing to 1 within :data:`PROBABILITY_ATOL`), reduced with
  ``argmax`` (a tie goes to the first class). Anything else is an error rather than a
  silent ``argmax``: a multi-hot row (several 1s) says to use the ``multilabel_*``
  metrics, logits say to apply a softmax, float class indices say to cast them to int.

The classes scored are ``labels`` when given, else ``0 .. num_classes - 1``, where
``num_classes`` is the argument, else the width of a one-hot / probability input, else
the largest index in ``y_true`` and ``y_pred`` plus one. A class with no true and no
predicted sample still counts in macro averages, with the value ``zero_division``;
pass ``labels=`` to choose the classes scored. ``zero_division`` (0, 1 or ``nan``) is
the value of a ratio whose denominator is 0, as in scikit-learn; ``nan`` values are
left out of averages. Empty inputs are an error.

Multi-label metrics
-------------------
``multilabel_*`` functions take multi-hot targets ``(n, n_classes)`` of 0/1 (any dtype)
and scores of the same shape (PTB-XL style). Thresholded metrics call a class present
when its probability is greater than ``threshold``; probabilities must lie in [0, 1].

Delineation
-----------
Wave boundaries are matched one to one within a tolerance (:func:`match_positions`);
:func:`delineation_scores` counts TP/FP/FN and the signed error of matched pairs, and
:func:`delineation_report` does it for every wave and boundary of two per-sample masks
(waves found with :func:`ecg.ops.masks.mask_to_intervals`). Per-sample F1 of masks is
:func:`f1_score` on the masks themselves (``average=None``).
"""
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm

from ecg.errors import ConfigError
from ecg.ops.masks import WAVE_CLASSES, mask_to_intervals

AVERAGES = ("macro", "micro", "weighted", None)
MULTILABEL_AVERAGES = ("macro", "micro", "weighted", "samples", None)
PROBABILITY_ATOL = 1e-3
"""Largest distance from 1 of the sum of a probability row (float16 softmax outputs pass)."""


def _check_average(average, allowed):
    if average not in allowed:
        raise ConfigError(f"Expected average to be one of {allowed}. Received: average={average!r}")


def _check_range(indices, num_classes, what="class indices"):
    """Indices must be >= 0 and below ``num_classes`` (when given)."""
    if indices.size and indices.min() < 0:
        raise ValueError(f"Expected {what} >= 0. Received: {indices.min()}")
    if num_classes is not None and indices.size and indices.max() >= num_classes:
        raise ValueError(f"Expected {what} below num_classes={num_classes}. Received: {indices.max()}")


def _rows_to_indices(y, num_classes):
    width = y.shape[-1]
    if num_classes is not None and width != num_classes:
        raise ValueError(f"Expected one-hot or probability rows of num_classes={num_classes} values. "
                         f"Received: rows of {width} values (shape {y.shape})")
    if width == 0:
        raise ValueError(f"Expected one-hot or probability rows of at least one value. Received: shape {y.shape}")
    rows = y.reshape(-1, width)
    if not np.isfinite(rows).all():
        raise ValueError("Expected finite one-hot or probability rows. Received: NaN or infinite values")
    sums = rows.sum(axis=1)
    multi_hot = np.isin(rows, (0, 1)).all(axis=1) & (sums > 1)
    if multi_hot.any():
        i = int(np.argmax(multi_hot))
        raise ValueError(f"Expected one class per row for a single-label metric. Received: multi-hot row {i} "
                         f"with {int(sums[i])} positive classes; use the multilabel_* metrics "
                         "(multilabel_f1_score, multilabel_auroc, ...) for multi-label targets")
    bad = (rows.min(axis=1) < 0) | (np.abs(sums - 1) > PROBABILITY_ATOL)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"Expected float arrays of {y.ndim} dimensions to hold one-hot or probability rows "
                         f"over the last axis (values >= 0 summing to 1 within {PROBABILITY_ATOL}). Received: "
                         f"row {i} = {np.round(rows[i][:8], 4).tolist()} (sum {sums[i]:.4g}); cast class "
                         "indices to int, apply a softmax to logits, and score independent (sigmoid) "
                         "outputs with the multilabel_* metrics")
    return rows.argmax(axis=1)


def _float_indices(y):
    y = y.ravel()
    whole = np.isfinite(y) & (y == np.round(y))
    if not whole.all():
        i = int(np.argmin(whole))
        raise ValueError(f"Expected whole-number class indices in a 1-D float array. Received: {y[i]} at "
                         f"position {i}; the probabilities of one sample need a 2-D array (1, n_classes)")
    return y.astype(np.int64)


def to_indices(y, num_classes=None):
    """Read labels as class indices, by the rules of the module docstring.

    Parameters
    ----------
    y : array-like
        Class indices (integer arrays of any shape, or whole-number 1-D floats), or
        one-hot / probability rows over the last axis (float arrays of 2+ dimensions).
    num_classes : int, optional
        Number of classes: the width rows must have, and the bound on indices.

    Returns
    -------
    numpy.ndarray of int64, shape (n_labels,)
        Flattened class indices.

    Raises
    ------
    ValueError
        Float rows that are not one-hot or probability rows (multi-hot targets, logits,
        float indices in 2-D), non-integral float indices, negative indices, or values
        out of range of ``num_classes``.

    Examples
    --------
    >>> to_indices([[0.1, 0.7, 0.2], [1.0, 0.0, 0.0]]).tolist()
    [1, 0]
    >>> to_indices([0., 2., 1.]).tolist()
    [0, 2, 1]
    >>> to_indices([[1., 0., 1.]])
    Traceback (most recent call last):
    ...
    ValueError: Expected one class per row for a single-label metric. Received: multi-hot row 0 with 2 ...
    """
    y = np.asarray(y)
    if y.dtype.kind == "f" and y.ndim >= 2:
        indices = _rows_to_indices(y, num_classes)
    elif y.dtype.kind == "f":
        indices = _float_indices(y)
    elif y.dtype.kind in "iub":
        indices = y.astype(np.int64).ravel()
    else:
        raise ValueError(f"Expected class indices, one-hot or probability arrays. Received: dtype {y.dtype}")
    _check_range(indices, num_classes)
    return indices


def _row_width(*arrays):
    widths = [a.shape[-1] for a in arrays if a.dtype.kind == "f" and a.ndim >= 2]
    return widths[0] if widths else None


def _check_labels(labels, num_classes):
    labels = np.asarray(labels).ravel()
    if labels.dtype.kind not in "iu" or not labels.size or np.unique(labels).size != labels.size:
        raise ValueError(f"Expected labels to list distinct class indices. Received: labels={labels.tolist()}")
    _check_range(labels, num_classes, "labels")
    return labels


def _single_label(y_true, y_pred, num_classes=None, labels=None):
    """Check and convert a single-label pair: flat indices and the labels scored."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if num_classes is None:
        num_classes = _row_width(y_true, y_pred)
    true, pred = to_indices(y_true, num_classes), to_indices(y_pred, num_classes)
    if true.shape != pred.shape:
        raise ValueError(f"Expected as many labels in y_true as in y_pred. Received: {true.size} and "
                         f"{pred.size} (shapes {y_true.shape} and {y_pred.shape}); integer arrays are read as "
                         "class indices, floats of 2+ dimensions as one-hot or probability rows")
    if not true.size:
        raise ValueError("Expected at least one label. Received: empty y_true and y_pred")
    if labels is not None:
        return true, pred, _check_labels(labels, num_classes)
    n = num_classes if num_classes is not None else int(max(true.max(), pred.max())) + 1
    return true, pred, np.arange(n)


def confusion_matrix(y_true, y_pred, num_classes=None, labels=None):
    """Confusion matrix: rows are true classes, columns predicted ones.

    Parameters
    ----------
    y_true, y_pred : array-like
        Labels, read as in the module docstring.
    num_classes : int, optional
        Number of classes (default: row width, else largest index + 1).
    labels : sequence of int, optional
        Classes of the rows and columns, in this order; samples of other classes are
        left out.

    Returns
    -------
    numpy.ndarray of int64, shape (n_labels, n_labels)
        ``cm[i, j]``: samples of class ``labels[i]`` predicted as ``labels[j]``.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2]).tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], labels=[2, 1]).tolist()
    [[1, 0], [1, 1]]
    """
    true, pred, labels = _single_label(y_true, y_pred, num_classes, labels)
    return skm.confusion_matrix(true, pred, labels=labels)


def _single_label_score(score, y_true, y_pred, average, num_classes, labels, zero_division):
    _check_average(average, AVERAGES)
    true, pred, labels = _single_label(y_true, y_pred, num_classes, labels)
    value = score(true, pred, labels=labels, average=average, zero_division=zero_division)
    return value if average is None else float(value)


def f1_score(y_true, y_pred, average="macro", num_classes=None, labels=None, zero_division=0.0):
    """F1 score per class or averaged (``sklearn.metrics.f1_score``).

    Parameters
    ----------
    y_true, y_pred : array-like
        Labels, read as in the module docstring; per-sample masks ``(n, steps)`` (or
        probabilities ``(n, steps, n_classes)``) give the per-sample F1 of each class.
    average : {"macro", "micro", "weighted", None}
        Mean over classes, global counts (accuracy when all classes are scored),
        support-weighted mean, or the per-class array.
    num_classes : int, optional
        Number of classes (default: row width, else largest index + 1).
    labels : sequence of int, optional
        Classes scored, in this order (e.g. ``[1, 2, 3]`` to leave the background of a
        mask out); samples of other classes still count as misses.
    zero_division : {0.0, 1.0, numpy.nan}
        F1 of a class with no true and no predicted sample.

    Returns
    -------
    float or numpy.ndarray of float64, shape (n_labels,)

    Examples
    --------
    >>> f1_score([0, 1, 1, 2], [0, 1, 2, 2], average="macro")
    0.7777777777777777
    >>> f1_score([[0, 1, 1, 2, 2, 0]], [[0, 1, 2, 2, 2, 0]], average=None, labels=[1, 2]).tolist()
    [0.6666666666666666, 0.8]
    """
    return _single_label_score(skm.f1_score, y_true, y_pred, average, num_classes, labels, zero_division)


def precision_score(y_true, y_pred, average="macro", num_classes=None, labels=None, zero_division=0.0):
    """Precision (positive predictive value, +P) per class or averaged.

    Parameters are those of :func:`f1_score`; ``zero_division`` is the precision of a
    class never predicted.

    Examples
    --------
    >>> precision_score([0, 1, 1, 2], [0, 1, 2, 2], average=None).tolist()
    [1.0, 1.0, 0.5]
    """
    return _single_label_score(skm.precision_score, y_true, y_pred, average, num_classes, labels, zero_division)


def recall_score(y_true, y_pred, average="macro", num_classes=None, labels=None, zero_division=0.0):
    """Recall (sensitivity, Se) per class or averaged.

    Parameters are those of :func:`f1_score`; ``zero_division`` is the recall of a
    class with no true sample.

    Examples
    --------
    >>> recall_score([0, 1, 1, 2], [0, 1, 2, 2], average=None).tolist()
    [1.0, 0.5, 1.0]
    """
    return _single_label_score(skm.recall_score, y_true, y_pred, average, num_classes, labels, zero_division)


def accuracy_score(y_true, y_pred, num_classes=None):
    """Share of labels predicted right.

    Examples
    --------
    >>> accuracy_score([0, 1, 1, 2], [[1., 0., 0.], [0., 1., 0.], [0., 0., 1.], [0., 0., 1.]])
    0.75
    """
    true, pred, _ = _single_label(y_true, y_pred, num_classes)
    return float(skm.accuracy_score(true, pred))


def _class_names(classes, labels):
    names = [str(c) for c in classes] if classes is not None else [str(k) for k in labels]
    if len(names) != len(labels):
        raise ValueError(f"Expected one name per class. Received: {len(names)} names for {len(labels)} classes")
    return names


def classification_report(y_true, y_pred, classes=None, num_classes=None, zero_division=0.0):
    """Per-class precision, recall, F1 and support, with macro F1, accuracy and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : array-like
        Labels, read as in the module docstring.
    classes : sequence of str, optional
        Name of each class index (sets ``num_classes``).
    num_classes : int, optional
        Number of classes when ``classes`` is not given.
    zero_division : {0.0, 1.0, numpy.nan}
        Value of an undefined ratio.

    Returns
    -------
    dict
        ``{name: {"precision", "recall", "f1", "support"}}`` for each class, plus
        ``"macro_f1"``, ``"accuracy"`` and ``"confusion_matrix"`` (a list of rows).

    Examples
    --------
    >>> report = classification_report([0, 1, 1], [0, 1, 0], classes=["N", "A"])
    >>> report["A"], report["accuracy"]
    ({'precision': 1.0, 'recall': 0.5, 'f1': 0.6666666666666666, 'support': 2}, 0.6666666666666666)
    """
    if num_classes is None and classes is not None:
        num_classes = len(classes)
    true, pred, labels = _single_label(y_true, y_pred, num_classes)
    names = _class_names(classes, labels)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        true, pred, labels=labels, zero_division=zero_division)
    report = {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
              for name, p, r, f, s in zip(names, precision, recall, f1, support)}
    report["macro_f1"] = float(skm.f1_score(true, pred, labels=labels, average="macro", zero_division=zero_division))
    report["accuracy"] = float(skm.accuracy_score(true, pred))
    report["confusion_matrix"] = skm.confusion_matrix(true, pred, labels=labels).tolist()
    return report


def _class_positions(classes, names):
    classes = [str(c) for c in classes]
    unknown = [n for n in names if str(n) not in classes]
    if unknown:
        raise ValueError(f"Expected the scored classes among classes={classes}. Received: {unknown}")
    return [classes.index(str(n)) for n in names]


def challenge_f1(y_true, y_pred, classes, scored=("N", "A", "O"), zero_division=0.0):
    """PhysioNet/CinC Challenge 2017 score: the mean F1 of normal, AF and other rhythms.

    Each F1 is ``2 TP / (2 TP + FP + FN)`` from the full confusion matrix, so a record
    predicted noisy (``~``) is a miss of its true class, but the F1 of ``~`` itself is
    not part of the score. The 4-class macro F1 is ``f1_score(y_true, y_pred)``.

    Parameters
    ----------
    y_true, y_pred : array-like
        Labels, read as in the module docstring; index ``k`` is class ``classes[k]``.
    classes : sequence of str
        Name of each class index, e.g. ``("N", "A", "O", "~")``.
    scored : sequence of str
        Classes whose F1 is averaged.
    zero_division : {0.0, 1.0, numpy.nan}
        F1 of a scored class with no true and no predicted record.

    Returns
    -------
    float

    Examples
    --------
    >>> challenge_f1([0, 1, 2, 3], [0, 1, 3, 3], classes=["N", "A", "O", "~"])
    0.6666666666666666
    """
    labels = _class_positions(classes, scored)
    return f1_score(y_true, y_pred, average="macro", num_classes=len(classes), labels=labels,
                    zero_division=zero_division)


def _ratio(numerator, denominator, zero_division):
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, float(zero_division))


def aami_report(y_true, y_pred, classes, zero_division=0.0):
    """Per-class counts and Se, +P, specificity and F1, in the form of AAMI EC57 tables.

    Parameters
    ----------
    y_true, y_pred : array-like
        Labels, read as in the module docstring; index ``k`` is class ``classes[k]``
        (e.g. the AAMI beat classes ``("N", "S", "V", "F", "Q")``).
    classes : sequence of str
        Name of each class index.
    zero_division : {0.0, 1.0, numpy.nan}
        Value of a ratio whose denominator is 0.

    Returns
    -------
    pandas.DataFrame
        One row per class (index ``class``), columns ``TP``, ``FN``, ``FP``, ``TN``
        (counts, one class against the rest), ``Se`` = TP / (TP + FN), ``+P`` =
        TP / (TP + FP), ``Sp`` = TN / (TN + FP) and ``F1`` = 2 TP / (2 TP + FP + FN).

    Examples
    --------
    >>> table = aami_report([0, 0, 1, 2], [0, 1, 1, 1], classes=["N", "S", "V"])
    >>> table[["TP", "FN", "FP", "Se", "+P"]]  # doctest: +NORMALIZE_WHITESPACE
           TP  FN  FP   Se        +P
    class
    N       1   1   0  0.5  1.000000
    S       1   0   2  1.0  0.333333
    V       0   1   0  0.0  0.000000
    """
    cm = confusion_matrix(y_true, y_pred, num_classes=len(classes))
    tp = np.diag(cm)
    fn, fp = cm.sum(axis=1) - tp, cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    table = pd.DataFrame({"TP": tp, "FN": fn, "FP": fp, "TN": tn},
                         index=pd.Index([str(c) for c in classes], name="class"))
    table["Se"] = _ratio(tp, tp + fn, zero_division)
    table["+P"] = _ratio(tp, tp + fp, zero_division)
    table["Sp"] = _ratio(tn, tn + fp, zero_division)
    table["F1"] = _ratio(2 * tp, 2 * tp + fp + fn, zero_division)
    return table


def _multilabel(y_true, y_score):
    """Check a multi-label pair; return 2-D int targets and float scores."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    if y_true.ndim < 2 or y_true.shape != y_score.shape:
        raise ValueError(f"Expected multi-hot y_true and scores of one shape (n, n_classes). Received: shapes "
                         f"{y_true.shape} and {y_score.shape}; score class indices with the single-label metrics")
    if not y_true.size:
        raise ValueError(f"Expected at least one sample. Received: shape {y_true.shape}")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError(f"Expected multi-hot y_true of 0 and 1. Received: values {np.unique(y_true)[:8].tolist()}")
    if not np.isfinite(y_score).all():
        raise ValueError("Expected finite scores. Received: NaN or infinite values")
    width = y_true.shape[-1]
    return y_true.reshape(-1, width).astype(np.int64), y_score.reshape(-1, width).astype(np.float64)


def _check_probabilities(y_score):
    if y_score.min() < 0 or y_score.max() > 1:
        raise ValueError(f"Expected probabilities in [0, 1] (apply a sigmoid to logits). Received: values from "
                         f"{y_score.min():.4g} to {y_score.max():.4g}")
    return y_score


def _multilabel_score(score, y_true, y_score, average, threshold, zero_division):
    _check_average(average, MULTILABEL_AVERAGES)
    true, y_score = _multilabel(y_true, y_score)
    pred = (_check_probabilities(y_score) > threshold).astype(np.int64)
    value = score(true, pred, average=average, zero_division=zero_division)
    return value if average is None else float(value)


def multilabel_f1_score(y_true, y_score, average="macro", threshold=0.5, zero_division=0.0):
    """F1 score of multi-label predictions, per class or averaged.

    Parameters
    ----------
    y_true : array-like of 0/1, shape (n, n_classes)
        Multi-hot targets (leading dimensions beyond the first are flattened).
    y_score : array-like of float, shape (n, n_classes)
        Probabilities in [0, 1] (sigmoid outputs) or 0/1 predictions.
    average : {"macro", "micro", "weighted", "samples", None}
        Mean over classes, global counts, support-weighted mean, mean over samples, or
        the per-class array.
    threshold : float
        A class is predicted when its probability is greater than this.
    zero_division : {0.0, 1.0, numpy.nan}
        F1 of a class (or sample) with no true and no predicted label.

    Returns
    -------
    float or numpy.ndarray of float64, shape (n_classes,)

    Examples
    --------
    >>> multilabel_f1_score([[1, 0], [1, 1]], [[0.9, 0.6], [0.8, 0.2]], average=None).tolist()
    [1.0, 0.0]
    """
    return _multilabel_score(skm.f1_score, y_true, y_score, average, threshold, zero_division)


def multilabel_precision_score(y_true, y_score, average="macro", threshold=0.5, zero_division=0.0):
    """Precision of multi-label predictions; parameters are those of :func:`multilabel_f1_score`.

    Examples
    --------
    >>> multilabel_precision_score([[1, 0], [1, 1]], [[0.9, 0.6], [0.8, 0.2]], average="micro")
    0.6666666666666666
    """
    return _multilabel_score(skm.precision_score, y_true, y_score, average, threshold, zero_division)


def multilabel_recall_score(y_true, y_score, average="macro", threshold=0.5, zero_division=0.0):
    """Recall of multi-label predictions; parameters are those of :func:`multilabel_f1_score`.

    Examples
    --------
    >>> multilabel_recall_score([[1, 0], [1, 1]], [[0.9, 0.6], [0.8, 0.2]], average="micro")
    0.6666666666666666
    """
    return _multilabel_score(skm.recall_score, y_true, y_score, average, threshold, zero_division)


def multilabel_auroc(y_true, y_score, average="macro"):
    """Area under the ROC curve of multi-label scores (``sklearn.metrics.roc_auc_score``).

    Parameters
    ----------
    y_true : array-like of 0/1, shape (n, n_classes)
        Multi-hot targets.
    y_score : array-like of float, shape (n, n_classes)
        Scores of any scale (probabilities or logits: only their order counts).
    average : {"macro", "micro", "weighted", "samples", None}
        ``"macro"`` is the PTB-XL benchmark's headline number.

    Returns
    -------
    float or numpy.ndarray of float64, shape (n_classes,)

    Raises
    ------
    ValueError
        When a class has only positives or only negatives in ``y_true`` (its AUROC is
        undefined) for the per-class averages.

    Examples
    --------
    >>> multilabel_auroc([[1, 0], [0, 1], [1, 1]], [[0.9, 0.5], [0.3, 0.7], [0.6, 0.4]])
    0.75
    """
    _check_average(average, MULTILABEL_AVERAGES)
    true, y_score = _multilabel(y_true, y_score)
    one_sided = np.flatnonzero(true.min(axis=0) == true.max(axis=0))
    if average in ("macro", "weighted", None) and one_sided.size:
        raise ValueError(f"Expected positives and negatives of every class in y_true. Received: classes "
                         f"{one_sided.tolist()} with only one of them (AUROC undefined); drop those columns")
    value = skm.roc_auc_score(true, y_score, average=average)
    return value if average is None else float(value)


def _sample_precision_recall(true, pred):
    """Sample-centric precision (samples with a prediction) and recall (samples with a label)."""
    hits, n_pred, n_true = (true & pred).sum(axis=1), pred.sum(axis=1), true.sum(axis=1)
    predicted, labelled = n_pred > 0, n_true > 0
    precision = (hits[predicted] / n_pred[predicted]).mean() if predicted.any() else np.nan
    recall = (hits[labelled] / n_true[labelled]).mean() if labelled.any() else np.nan
    return precision, recall


def multilabel_fmax(y_true, y_score, thresholds=None):
    """Fmax, the sample-centric maximum F1 over thresholds (CAFA; reported for PTB-XL).

    At each threshold ``t`` (a class is predicted when its probability is greater than
    ``t``), precision is averaged over the samples with at least one predicted class and
    recall over the samples with at least one true class; Fmax is the largest
    ``2 P R / (P + R)``.

    Parameters
    ----------
    y_true : array-like of 0/1, shape (n, n_classes)
        Multi-hot targets.
    y_score : array-like of float, shape (n, n_classes)
        Probabilities in [0, 1].
    thresholds : array-like of float, optional
        Thresholds tried (default 0, 0.01, ..., 1).

    Returns
    -------
    float
        Fmax; 0 when no threshold predicts anything right.

    Examples
    --------
    >>> multilabel_fmax([[1, 0], [0, 1]], [[0.9, 0.4], [0.2, 0.6]])
    1.0
    """
    true, y_score = _multilabel(y_true, y_score)
    true, y_score = true.astype(bool), _check_probabilities(y_score)
    thresholds = np.linspace(0, 1, 101) if thresholds is None else np.asarray(thresholds, np.float64).ravel()
    best = 0.0
    for threshold in thresholds:
        precision, recall = _sample_precision_recall(true, y_score > threshold)
        if precision + recall > 0:
            best = max(best, float(2 * precision * recall / (precision + recall)))
    return best


# --- denoising and anomaly scores ---------------------------------------------------------
def _signal_pair(clean, estimate):
    clean, estimate = np.asarray(clean, np.float64), np.asarray(estimate, np.float64)
    if clean.shape != estimate.shape or clean.size == 0:
        raise ValueError(f"Expected two non-empty signals of one shape. Received: shapes {clean.shape} "
                         f"and {estimate.shape}.")
    return clean, estimate


def snr_db(clean, estimate, axis=-1):
    """Signal-to-noise ratio of ``estimate`` against ``clean``, in dB, along ``axis``.

    ``10 log10(sum(clean ** 2) / sum((clean - estimate) ** 2))``: the output SNR of a
    denoiser (``estimate`` its output) or the input SNR (``estimate`` the noisy signal).

    Examples
    --------
    >>> round(float(snr_db([1.0, -1.0, 1.0, -1.0], [1.1, -0.9, 0.9, -1.1])), 2)
    20.0
    """
    clean, estimate = _signal_pair(clean, estimate)
    return 10 * np.log10(np.sum(clean ** 2, axis=axis) / np.sum((clean - estimate) ** 2, axis=axis))


def snr_improvement_db(clean, noisy, denoised, axis=-1):
    """SNR improvement in dB: :func:`snr_db` of ``denoised`` minus that of ``noisy``.

    Examples
    --------
    >>> round(float(snr_improvement_db([1.0, -1.0], [1.5, -0.5], [1.05, -0.95])), 2)
    20.0
    """
    return snr_db(clean, denoised, axis) - snr_db(clean, noisy, axis)


def rmse(clean, estimate, axis=-1):
    """Root mean squared error along ``axis``, in the signals' units.

    Examples
    --------
    >>> float(rmse([0.0, 0.0], [3.0, -3.0]))
    3.0
    """
    clean, estimate = _signal_pair(clean, estimate)
    return np.sqrt(np.mean((clean - estimate) ** 2, axis=axis))


def prd(clean, estimate, axis=-1):
    """Percentage root-mean-square difference: ``100 sqrt(sum((clean - estimate)**2) / sum(clean**2))``.

    The plain PRD of the ECG compression and denoising literature (no mean removed).

    Examples
    --------
    >>> float(prd([2.0, 0.0], [1.0, 0.0]))
    50.0
    """
    clean, estimate = _signal_pair(clean, estimate)
    return 100 * np.sqrt(np.sum((clean - estimate) ** 2, axis=axis) / np.sum(clean ** 2, axis=axis))


def _binary_scores(y_true, score):
    y_true, score = np.asarray(y_true), np.asarray(score, np.float64)
    if y_true.ndim != 1 or y_true.shape != score.shape:
        raise ValueError(f"Expected 1-D y_true and score of one length. Received: shapes {y_true.shape} "
                         f"and {score.shape}.")
    y_true = y_true.astype(bool)
    if y_true.all() or not y_true.any():
        raise ValueError("Expected positives and negatives in y_true (ROC undefined otherwise).")
    return y_true, score


def auroc(y_true, score):
    """Area under the ROC curve of a score that is higher for the positives (``roc_auc_score``).

    Examples
    --------
    >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y_true, score = _binary_scores(y_true, score)
    return float(skm.roc_auc_score(y_true, score))


def sensitivity_at_specificity(y_true, score, specificity=0.95):
    """Highest sensitivity of a threshold on ``score`` whose specificity is at least ``specificity``.

    A beat is called positive when its score is at least the threshold
    (``sklearn.metrics.roc_curve``'s convention).

    Returns
    -------
    tuple
        ``(sensitivity, threshold)``.

    Examples
    --------
    >>> sensitivity_at_specificity([0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.9, 0.5, 0.95], specificity=0.75)
    (1.0, 0.5)
    """
    if not 0 <= specificity <= 1:
        raise ValueError(f"Expected specificity in [0, 1]. Received: specificity={specificity}.")
    y_true, score = _binary_scores(y_true, score)
    fpr, tpr, thresholds = skm.roc_curve(y_true, score, drop_intermediate=False)
    ok = fpr <= 1 - specificity + 1e-12
    best = int(np.flatnonzero(ok)[np.argmax(tpr[ok])])
    return float(tpr[best]), float(thresholds[best])


def match_positions(reference, detected, tolerance):
    """Match detections to reference positions one to one, within a tolerance.

    The matching has the most pairs possible and, among those, the smallest total
    distance (the assignment problem, solved by ``scipy.optimize.linear_sum_assignment``
    on each cluster of positions closer than ``tolerance`` to one another).

    Parameters
    ----------
    reference, detected : array-like of int or float, shape (n_reference,), (n_detected,)
        Positions, in samples, in any order.
    tolerance : float
        Largest distance of a matched pair, in samples (included).

    Returns
    -------
    reference_index, detected_index : numpy.ndarray of int64, shape (n_pairs,)
        Positions in ``reference`` and ``detected`` of each pair, by reference index.

    Examples
    --------
    >>> ref, det = match_positions([100, 200], [190, 120, 400], tolerance=75)
    >>> ref.tolist(), det.tolist()
    ([0, 1], [1, 0])
    """
    reference = np.asarray(reference, dtype=np.float64).ravel()
    detected = np.asarray(detected, dtype=np.float64).ravel()
    if not (np.isfinite(reference).all() and np.isfinite(detected).all()):
        raise ValueError("Expected finite positions. Received: NaN or infinite values")
    if not tolerance >= 0:
        raise ValueError(f"Expected a tolerance >= 0. Received: tolerance={tolerance}")
    points = np.concatenate([reference, detected])
    order = np.argsort(points, kind="stable")
    clusters = np.split(order, np.flatnonzero(np.diff(points[order]) > tolerance) + 1)
    pairs = [_match_cluster(reference, detected, cluster[cluster < reference.size],
                            cluster[cluster >= reference.size] - reference.size, tolerance)
             for cluster in clusters]
    ref_index = np.concatenate([p[0] for p in pairs] + [np.empty(0, np.int64)])
    det_index = np.concatenate([p[1] for p in pairs] + [np.empty(0, np.int64)])
    by_reference = np.argsort(ref_index, kind="stable")
    return ref_index[by_reference], det_index[by_reference]


def _match_cluster(reference, detected, ref_index, det_index, tolerance):
    distance = np.abs(reference[ref_index][:, None] - detected[det_index][None, :])
    # an out-of-tolerance pair costs more than any full set of in-tolerance pairs,
    # so the assignment first maximises the number of valid pairs
    cost = np.where(distance <= tolerance, distance, distance.size * (tolerance + 1) + 1)
    rows, cols = linear_sum_assignment(cost)
    valid = distance[rows, cols] <= tolerance
    return ref_index[rows[valid]].astype(np.int64), det_index[cols[valid]].astype(np.int64)


def _detection_scores(errors, n_reference, n_detected, fs, zero_division):
    """Scores of matched pairs with signed ``errors`` in samples."""
    tp = errors.size
    fn, fp = n_reference - tp, n_detected - tp
    errors_ms = errors / fs * 1000
    return {"TP": tp, "FP": fp, "FN": fn,
            "Se": float(_ratio(tp, tp + fn, zero_division)), "+P": float(_ratio(tp, tp + fp, zero_division)),
            "F1": float(_ratio(2 * tp, 2 * tp + fp + fn, zero_division)),
            "mean_error_ms": float(errors_ms.mean()) if tp else np.nan,
            "sd_error_ms": float(errors_ms.std(ddof=1)) if tp > 1 else np.nan}


def _check_fs(fs):
    if not (np.isscalar(fs) and fs > 0):
        raise ValueError(f"Expected a strictly positive sampling rate. Received: fs={fs}")


def delineation_scores(reference, detected, fs, tolerance=0.15, zero_division=0.0):
    """Detection scores of wave boundaries (or peaks) of one kind against a reference.

    Parameters
    ----------
    reference, detected : array-like of int, shape (n_reference,), (n_detected,)
        Reference and detected positions, in samples (e.g. the P onsets of a record).
    fs : float
        Sampling rate, in Hz.
    tolerance : float
        Largest distance of a match, in seconds (default 150 ms).
    zero_division : {0.0, 1.0, numpy.nan}
        Value of a ratio whose denominator is 0 (no reference, no detection).

    Returns
    -------
    dict
        ``TP``, ``FP``, ``FN`` (counts), ``Se``, ``+P``, ``F1``, and the mean and
        standard deviation (``ddof=1``) of the signed error detected - reference of the
        matched pairs in ms (``mean_error_ms``, ``sd_error_ms``; NaN for fewer than 1
        and 2 pairs).

    Examples
    --------
    >>> scores = delineation_scores([100, 500], [110, 700], fs=500)
    >>> scores["TP"], scores["FP"], scores["FN"], scores["mean_error_ms"]
    (1, 1, 1, 20.0)
    """
    _check_fs(fs)
    reference, detected = np.asarray(reference).ravel(), np.asarray(detected).ravel()
    ref_index, det_index = match_positions(reference, detected, tolerance * fs)
    errors = detected[det_index].astype(np.float64) - reference[ref_index]
    return _detection_scores(errors, reference.size, detected.size, fs, zero_division)


def _boundaries(mask, n_classes):
    """Onsets and offsets of every wave class of a 1-D mask: ``{(k, "onset"): positions}``."""
    intervals = mask_to_intervals(mask, n_classes)
    return {(k, side): intervals[k][:, column] for k in intervals for column, side in enumerate(("onset", "offset"))}


def delineation_report(true_mask, pred_mask, fs, classes=WAVE_CLASSES, tolerance=0.15, zero_division=0.0):
    """Delineation scores of every wave onset and offset of predicted masks.

    The waves of each record are the runs of each class in its mask
    (:func:`ecg.ops.masks.mask_to_intervals`); onsets and offsets are matched within
    ``tolerance`` record by record, and the counts and errors are pooled over records.

    Parameters
    ----------
    true_mask, pred_mask : array-like of int, shape (n_samples,) or (n_records, n_samples)
        Class of each sample: 0 background, ``k`` the wave ``classes[k - 1]``.
    fs : float
        Sampling rate, in Hz.
    classes : sequence of str
        Names of the mask values 1, 2, ... (default P, QRS, T: ``("p", "N", "t")``).
    tolerance : float
        Largest distance of a match, in seconds (default 150 ms).
    zero_division : {0.0, 1.0, numpy.nan}
        Value of a ratio whose denominator is 0.

    Returns
    -------
    pandas.DataFrame
        One row per ``(wave, boundary)``, boundary ``"onset"`` or ``"offset"``, with the
        columns of :func:`delineation_scores`.

    Examples
    --------
    >>> true = [0, 1, 1, 1, 0, 0, 2, 2, 2, 0]
    >>> pred = [0, 0, 1, 1, 0, 0, 2, 2, 2, 2]
    >>> report = delineation_report(true, pred, fs=100, classes=["p", "N"], tolerance=0.01)
    >>> report[["TP", "FN", "mean_error_ms"]]  # doctest: +NORMALIZE_WHITESPACE
                   TP  FN  mean_error_ms
    wave boundary
    p    onset      1   0           10.0
         offset     1   0            0.0
    N    onset      1   0            0.0
         offset     1   0           10.0
    """
    _check_fs(fs)
    true_mask, pred_mask = np.asarray(true_mask), np.asarray(pred_mask)
    if true_mask.shape != pred_mask.shape or true_mask.ndim not in (1, 2) or not true_mask.size:
        raise ValueError(f"Expected non-empty masks of one shape (n_samples,) or (n_records, n_samples). "
                         f"Received: shapes {true_mask.shape} and {pred_mask.shape}")
    for mask in (true_mask, pred_mask):
        if mask.dtype.kind not in "iu":
            raise ValueError(f"Expected integer class masks (argmax probabilities first). Received: dtype {mask.dtype}")
        if mask.min() < 0 or mask.max() > len(classes):
            raise ValueError(f"Expected mask values from 0 to {len(classes)} (background and classes={list(classes)}). "
                             f"Received: values from {mask.min()} to {mask.max()}")
    n_samples = true_mask.shape[-1]
    pooled = _pooled_matches(true_mask.reshape(-1, n_samples), pred_mask.reshape(-1, n_samples), len(classes),
                             tolerance * fs)
    rows = {(str(classes[k - 1]), side): _detection_scores(np.concatenate(errors).astype(np.float64), n_reference,
                                                           n_detected, fs, zero_division)
            for (k, side), (errors, n_reference, n_detected) in pooled.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["wave", "boundary"])


def _pooled_matches(true_masks, pred_masks, n_classes, tolerance):
    """Per boundary kind: signed errors of the matched pairs of each record, and the counts of all."""
    pooled = {}
    for true_row, pred_row in zip(true_masks, pred_masks):
        true_at, pred_at = _boundaries(true_row, n_classes), _boundaries(pred_row, n_classes)
        for key, reference in true_at.items():
            detected = pred_at[key]
            ref_index, det_index = match_positions(reference, detected, tolerance)
            errors, n_reference, n_detected = pooled.get(key, ((), 0, 0))
            pooled[key] = ((*errors, detected[det_index] - reference[ref_index]),
                           n_reference + reference.size, n_detected + detected.size)
    return pooled


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
        ``"accuracy"`` (argmax of one-hot targets and scores), ``"f1_score"``
        (``keras.metrics.F1Score``, argmax of the scores; ``average=`` macro, micro,
        weighted or None, as :func:`f1_score`), and ``"auc"``, ``"precision"``,
        ``"recall"``, which treat every output as a binary decision (thresholded at 0.5)
        and pool all of them, as ``average="micro"`` of the ``multilabel_*`` metrics. A
        Keras metric or a function ``f(y_true, y_pred)`` written with ``keras.ops`` is
        passed through.
    **kwargs
        Arguments of the Keras metric class.

    Returns
    -------
    keras.metrics.Metric or callable

    Examples
    --------
    >>> metric = keras_metric("f1_score", average="macro")
    >>> metric.update_state([[1., 0.], [0., 1.]], [[0.8, 0.2], [0.6, 0.4]])
    >>> round(float(metric.result()), 4)
    0.3333
    """
    if not isinstance(name, str):
        return name
    if name not in _KERAS_METRICS:
        raise ConfigError(f"unknown metric {name!r}; known: {', '.join(sorted(_KERAS_METRICS))}")
    import keras

    cls_name, defaults = _KERAS_METRICS[name]
    return getattr(keras.metrics, cls_name)(name=name, **{**defaults, **kwargs})
