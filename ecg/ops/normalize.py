"""Amplitude normalisation: z-score, min-max, robust (median/IQR), and clipping."""
import numpy as np

from ecg.errors import SignalError
from ecg.ops.checks import check_option, check_signal

METHODS = ("zscore", "minmax", "robust")
AXES = {"lead": (-1,), "record": (-2, -1)}


def normalize(x, method="zscore", axis="lead", eps=1e-6):
    """Normalise amplitudes per lead or per record.

    ``"zscore"``: ``(x - mean) / std``; ``"minmax"``: ``(x - min) / (max - min)`` in
    ``[0, 1]``; ``"robust"``: ``(x - median) / IQR``, insensitive to a few artefacts.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_leads, n_samples)``.
    method : {"zscore", "minmax", "robust"}
        Normalisation.
    axis : {"lead", "record"}
        ``"lead"``: statistics of each lead over time; ``"record"``: over all leads and
        time of each ``(n_leads, n_samples)`` record (or segment).
    eps : float
        Added to the scale so that flat leads give zeros instead of NaN.

    Returns
    -------
    numpy.ndarray
        Normalised signals, same shape and dtype as ``x``.

    Raises
    ------
    ConfigError
        For an unknown ``method`` or ``axis``.
    SignalError
        For an empty or non-finite signal, or ``axis="record"`` on a 1-D one.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(3, 2, size=(4, 2, 1000))
    >>> z = normalize(x)
    >>> bool(np.allclose(z.mean(-1), 0) and np.allclose(z.std(-1), 1, atol=1e-5))
    True
    """
    check_option(axis, AXES, "axis")
    check_option(method, METHODS, "method")
    axes = AXES[axis]
    x = check_signal(x, min_ndim=len(axes))
    if method == "zscore":
        center = x.mean(axis=axes, keepdims=True)
        scale = x.std(axis=axes, keepdims=True)
    elif method == "minmax":
        center = x.min(axis=axes, keepdims=True)
        scale = x.max(axis=axes, keepdims=True) - center
    else:
        q25, center, q75 = np.percentile(x, [25, 50, 75], axis=axes, keepdims=True)
        scale = q75 - q25
    return ((x - center) / (scale + eps)).astype(x.dtype, copy=False)


def clip(x, low=None, high=None):
    """Clip amplitudes to ``[low, high]`` (same units as ``x``; ``None``: no bound).

    Examples
    --------
    >>> clip(np.array([-3.0, 0.5, 4.0]), -1, 1)
    array([-1. ,  0.5,  1. ])
    """
    if low is not None and high is not None and low > high:
        raise SignalError(f"Expected low <= high. Received: low={low}, high={high}.")
    return np.clip(check_signal(x, min_samples=0, finite=False, to_float=False), low, high)
