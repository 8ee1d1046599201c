"""Polyphase resampling of signals and of the sample indices that annotate them."""
from fractions import Fraction

import numpy as np
from scipy import signal

from ecg.errors import SignalError
from ecg.ops.checks import check_fs, check_signal

MAX_FACTOR = 10_000     # up or down beyond this needs a filter of more than 10 * 2 * MAX_FACTOR taps


def resample_ratio(fs, new_fs, max_denominator=1000):
    """``(up, down)``: the smallest integers with ``up / down == new_fs / fs``.

    Parameters
    ----------
    fs, new_fs : float
        Current and wanted sampling rates in Hz (may be non-integer, e.g. 128.5).
    max_denominator : int
        Largest denominator used to turn each rate into a fraction.

    Returns
    -------
    tuple of int

    Raises
    ------
    SignalError
        If a rate is not a strictly positive number.

    Examples
    --------
    >>> resample_ratio(360, 250)
    (25, 36)
    """
    fs, new_fs = check_fs(fs), check_fs(new_fs, "new_fs")
    old_rate, new_rate = (Fraction(rate).limit_denominator(max_denominator) for rate in (fs, new_fs))
    if old_rate == 0 or new_rate == 0:
        raise SignalError(f"Expected rates of at least 1/{max_denominator} Hz. Received: fs={fs}, new_fs={new_fs}.")
    ratio = new_rate / old_rate
    return ratio.numerator, ratio.denominator


def resampled_length(n_samples, fs, new_fs):
    """Number of samples after :func:`resample`: ``ceil(n_samples * up / down)``."""
    up, down = resample_ratio(fs, new_fs)
    return -(-n_samples * up // down)


def resample(x, fs, new_fs, window=("kaiser", 5.0)):
    """Resample signals from ``fs`` to ``new_fs`` with a polyphase FIR filter.

    Wraps :func:`scipy.signal.resample_poly` with the rational ratio from
    :func:`resample_ratio`; its anti-aliasing filter is zero-phase, so events stay at
    the same time in seconds.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    fs, new_fs : float
        Current and wanted sampling rates in Hz.
    window : str or tuple
        FIR window of :func:`scipy.signal.resample_poly`.

    Returns
    -------
    numpy.ndarray
        ``(..., resampled_length(n_samples, fs, new_fs))``, dtype of ``x``.

    Examples
    --------
    >>> resample(np.zeros((2, 12, 5000), "float32"), fs=500, new_fs=250).shape
    (2, 12, 2500)
    """
    up, down = resample_ratio(fs, new_fs)
    if max(up, down) > MAX_FACTOR:
        raise SignalError(f"Expected rates whose ratio is a fraction up/down with terms up to {MAX_FACTOR}. "
                          f"Received: fs={fs}, new_fs={new_fs} (up={up}, down={down}), whose polyphase "
                          "filter would not fit in memory; round the rates (e.g. to whole Hz)")
    x = check_signal(x)
    if up == down:
        return x.copy()
    return signal.resample_poly(x, up, down, axis=-1, window=window).astype(x.dtype, copy=False)


def resample_indices(sample, fs, new_fs, n_samples=None):
    """Move sample indices from ``fs`` to ``new_fs``, keeping their time in seconds.

    Parameters
    ----------
    sample : array-like of int
        Sample indices at ``fs``.
    fs, new_fs : float
        Current and wanted sampling rates in Hz.
    n_samples : int or None
        Length of the resampled signal; indices are clipped to ``[0, n_samples - 1]``.

    Returns
    -------
    numpy.ndarray
        int64 indices at ``new_fs`` (nearest sample).

    Examples
    --------
    >>> resample_indices([0, 360, 719], fs=360, new_fs=250)
    array([  0, 250, 499])
    """
    up, down = resample_ratio(fs, new_fs)
    out = np.floor(np.asarray(sample, dtype=np.float64) * up / down + 0.5).astype(np.int64)
    if n_samples is not None:
        out = np.clip(out, 0, max(n_samples - 1, 0))
    return out
