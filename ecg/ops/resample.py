"""Polyphase resampling of signals and of the sample indices that annotate them."""
from fractions import Fraction

import numpy as np
from scipy import signal

from ecg.errors import SignalError
from ecg.ops import alignment
from ecg.ops.checks import check_fs, check_signal

MAX_FACTOR = 10_000
"""Largest term of the resampling ratio: its polyphase filter has ``20 * MAX_FACTOR + 1`` taps."""


def resample_ratio(fs, new_fs, max_denominator=1000):
    """``(up, down)``: the smallest integers with ``up / down == new_fs / fs``, or the nearest.

    Each rate is first turned into a fraction of denominator at most ``max_denominator``.
    When the exact ratio of the two needs a term above :data:`MAX_FACTOR` (``300`` to
    ``301.257`` Hz is ``100419 / 100000``), the ratio is replaced by its best rational
    approximation with both terms up to :data:`MAX_FACTOR` (continued fractions): its
    relative error is below ``1 / MAX_FACTOR`` (``1e-4``, ``1e-8`` for most rates), and
    :func:`resampled_rate` says the rate it gives.

    Parameters
    ----------
    fs, new_fs : float
        Current and wanted sampling rates in Hz (any positive rate, e.g. 128.5 or 301.257).
    max_denominator : int
        Largest denominator used to turn each rate into a fraction.

    Returns
    -------
    tuple of int

    Raises
    ------
    SignalError
        If a rate is not a strictly positive number, or the ratio is beyond
        ``MAX_FACTOR`` (more than 10,000 times up or down).

    Examples
    --------
    >>> resample_ratio(360, 250)
    (25, 36)
    >>> resample_ratio(300, 301.257)
    (719, 716)
    """
    ratio = _exact_ratio(fs, new_fs, max_denominator)
    if max(ratio.numerator, ratio.denominator) > MAX_FACTOR:
        bound = MAX_FACTOR if ratio <= 1 else int(MAX_FACTOR / ratio)
        ratio = ratio.limit_denominator(bound) if bound >= 1 else ratio
        if ratio.numerator == 0 or max(ratio.numerator, ratio.denominator) > MAX_FACTOR:
            raise SignalError(f"Expected rates within a factor {MAX_FACTOR} of each other. Received: "
                              f"fs={fs}, new_fs={new_fs}.")
    return ratio.numerator, ratio.denominator


def _exact_ratio(fs, new_fs, max_denominator):
    fs, new_fs = check_fs(fs), check_fs(new_fs, "new_fs")
    old_rate, new_rate = (Fraction(rate).limit_denominator(max_denominator) for rate in (fs, new_fs))
    if old_rate == 0 or new_rate == 0:
        raise SignalError(f"Expected rates of at least 1/{max_denominator} Hz. Received: fs={fs}, new_fs={new_fs}.")
    return new_rate / old_rate


def resampled_rate(fs, new_fs):
    """The rate in Hz of a signal at ``fs`` resampled to ``new_fs`` by :func:`resample`.

    ``fs * up / down`` of the ratio :func:`resample_ratio` uses, or ``new_fs`` itself
    when that is ``new_fs`` to floating-point precision (the ratio is exact).

    Examples
    --------
    >>> resampled_rate(360, 250)
    250.0
    >>> resampled_rate(300, 301.257)
    301.25698324022346
    """
    up, down = resample_ratio(fs, new_fs)
    rate = float(fs) * up / down
    return float(new_fs) if abs(rate - new_fs) <= 1e-9 * new_fs else rate


def resampled_length(n_samples, fs, new_fs):
    """Number of samples after :func:`resample`: ``ceil(n_samples * up / down)``."""
    up, down = resample_ratio(fs, new_fs)
    return -(-n_samples * up // down)


def resample(x, fs, new_fs, window=("kaiser", 5.0)):
    """Resample signals from ``fs`` to ``new_fs`` with a polyphase FIR filter.

    Wraps :func:`scipy.signal.resample_poly` with the rational ratio from
    :func:`resample_ratio`; its anti-aliasing filter is zero-phase, so events stay at
    the same time in seconds. Any positive rates are accepted; the signal's new rate is
    :func:`resampled_rate` (``new_fs`` itself for rates of up to three decimals whose
    ratio is a fraction of terms up to :data:`MAX_FACTOR`).

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
    x = check_signal(x)
    if up == down:
        return x.copy()
    return signal.resample_poly(x, up, down, axis=-1, window=window).astype(x.dtype, copy=False)


def resample_with_maps(x, fs, new_fs):
    """:func:`resample` items ``x`` ``(n, ..., n_samples)``; also return their sample maps.

    Returns
    -------
    out : numpy.ndarray
        The resampled signals.
    maps : numpy.ndarray
        float64 ``(n, n_out)``: the input position of every output sample (the same
        for every item, see :mod:`ecg.ops.alignment`).

    Examples
    --------
    >>> out, maps = resample_with_maps(np.zeros((1, 1, 6)), fs=300, new_fs=150)
    >>> out.shape, maps.tolist()
    ((1, 1, 3), [[0.0, 2.0, 4.0]])
    """
    out = resample(x, fs, new_fs)
    up, down = resample_ratio(fs, new_fs)
    return out, np.broadcast_to(alignment.rate_map(out.shape[-1], up, down), (len(out), out.shape[-1]))


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
