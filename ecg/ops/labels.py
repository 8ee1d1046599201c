"""Class labels: rename, one-hot encode, binarise.

Labels are arrays of class names (str); every function is vectorised over them.
"""
import numpy as np


def unknown_labels(labels, classes):
    """Labels of ``labels`` that are not in ``classes``, each once, sorted."""
    labels = np.asarray(labels, dtype=str)
    return np.unique(labels[~np.isin(labels, list(classes))]).tolist()


def rename(labels, mapping):
    """Replace labels by ``mapping[label]``; labels not in ``mapping`` are kept.

    Examples
    --------
    >>> rename(np.array(["N", "A", "~"]), {"~": "noise"}).tolist()
    ['N', 'A', 'noise']
    """
    labels = np.asarray(labels, dtype=str)
    names, inverse = np.unique(labels, return_inverse=True)
    renamed = np.array([mapping.get(name, name) for name in names.tolist()] or [""], dtype=object)
    return renamed[inverse.ravel()].astype(str).reshape(labels.shape)


def one_hot(labels, classes):
    """One-hot encode labels in the order of ``classes``.

    Parameters
    ----------
    labels : array-like of str
        Class names, any shape.
    classes : sequence of str
        Class names in column order.

    Returns
    -------
    numpy.ndarray
        float32 ``(*labels.shape, len(classes))``.

    Raises
    ------
    ValueError
        If a label is not one of ``classes``.

    Examples
    --------
    >>> one_hot(["A", "N"], ("N", "A", "O"))
    array([[0., 1., 0.],
           [1., 0., 0.]], dtype=float32)
    """
    labels = np.asarray(labels, dtype=str)
    classes = np.asarray(list(classes), dtype=str)
    unknown = unknown_labels(labels, classes)
    if unknown:
        raise ValueError(f"Expected labels in {tuple(classes.tolist())}. Received: {unknown}.")
    return (labels[..., None] == classes).astype(np.float32)


def binarize(labels, positive):
    """Two-column one-hot ``[other, positive]``: 1 in column 1 where the label is positive.

    Examples
    --------
    >>> binarize(["A", "N", "O"], ["A", "O"])
    array([[0., 1.],
           [1., 0.],
           [0., 1.]], dtype=float32)
    """
    hit = np.isin(np.asarray(labels, dtype=str), list(positive))
    return np.stack([~hit, hit], axis=-1).astype(np.float32)
