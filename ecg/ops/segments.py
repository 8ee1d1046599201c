"""Lengths: pad, crop, and cut signals into fixed or random windows.

Windows are returned with the window axis just before the lead axis: a signal
``(n, n_leads, n_samples)`` gives ``(n, n_segments, n_leads, length)``.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ecg.errors import SignalError
from ecg.ops.checks import check_count, check_option, check_signal

ALIGNS = ("left", "center", "right")


def align_offset(excess, align):
    """First sample of a length inside ``excess`` extra samples, for ``align``."""
    check_option(align, ALIGNS, "align")
    return {"left": 0, "center": excess // 2, "right": excess}[align]


def pad(x, length, align="left", mode="constant", value=0.0):
    """Pad signals shorter than ``length`` samples; longer ones are returned unchanged.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    length : int
        Wanted length in samples.
    align : {"left", "center", "right"}
        Where the original signal sits in the padded one (``"left"``: padding at the end).
    mode : str
        :func:`numpy.pad` mode (``"constant"``, ``"edge"``, ``"reflect"``, ``"wrap"``).
    value : float
        Fill value for ``mode="constant"``.

    Returns
    -------
    numpy.ndarray
        ``(..., max(n_samples, length))``.

    Examples
    --------
    >>> pad(np.ones((1, 3)), 5, align="center")
    array([[0., 1., 1., 1., 0.]])
    """
    x = check_signal(x, min_samples=0, finite=False, to_float=False)
    excess = check_count(length, "length", 0) - x.shape[-1]
    if excess <= 0:
        return x
    before = align_offset(excess, align)
    widths = [(0, 0)] * (x.ndim - 1) + [(before, excess - before)]
    kwargs = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x, widths, mode=mode, **kwargs)


def crop(x, length, align="left"):
    """Crop signals to ``length`` samples.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)`` with ``n_samples >= length``.
    length : int
        Wanted length in samples.
    align : {"left", "center", "right"} or int
        Which part to keep; an int is the first kept sample.

    Returns
    -------
    numpy.ndarray
        ``(..., length)``.

    Raises
    ------
    SignalError
        If the signal is shorter than ``length`` or the start does not fit.

    Examples
    --------
    >>> crop(np.arange(10), 4, align="center")
    array([3, 4, 5, 6])
    """
    x = check_signal(x, finite=False, to_float=False)
    excess = x.shape[-1] - check_count(length, "length")
    start = align if isinstance(align, (int, np.integer)) else align_offset(max(excess, 0), align)
    if excess < 0 or not 0 <= start <= excess:
        raise SignalError(f"Expected a window of {length} samples starting at {start} inside a "
                         f"signal of {x.shape[-1]} samples.")
    return x[..., start:start + length]


def window_starts(n_samples, length, step=None):
    """First samples of the windows of :func:`split`: ``0, step, 2 * step, ...``.

    Examples
    --------
    >>> window_starts(10, 4, 3)
    array([0, 3, 6])
    """
    step = length if step is None else step
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (length, step)):
        raise SignalError(f"Expected strictly positive integer length and step. Received: length={length}, "
                          f"step={step}.")
    if n_samples < length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - length + 1, step, dtype=np.int64)


def take_windows(x, starts, length):
    """Gather windows of ``length`` samples starting at ``starts``.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(n, n_leads, n_samples)``.
    starts : numpy.ndarray
        int ``(n_segments,)`` (the same starts for every row) or ``(n, n_segments)``.
    length : int
        Window length in samples.

    Returns
    -------
    numpy.ndarray
        ``(n, n_segments, n_leads, length)``, a copy.
    """
    views = sliding_window_view(x, length, axis=-1)          # (n, leads, n_starts, length)
    starts = np.broadcast_to(np.asarray(starts, dtype=np.int64), (x.shape[0], np.shape(starts)[-1]))
    rows = np.arange(x.shape[0])[:, None, None]
    leads = np.arange(x.shape[1])[None, None, :]
    return views[rows, leads, starts[:, :, None]]


def split(x, length, step=None, pad_short=False):
    """Cut signals into windows of ``length`` samples every ``step`` samples.

    Trailing samples that do not fill a whole window are dropped.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(n, n_leads, n_samples)``.
    length : int
        Window length in samples.
    step : int or None
        Distance between window starts in samples (default ``length``: no overlap;
        ``step < length`` overlaps).
    pad_short : bool
        Zero-pad signals shorter than ``length`` to one window instead of raising.

    Returns
    -------
    numpy.ndarray
        ``(n, n_segments, n_leads, length)``.

    Raises
    ------
    SignalError
        If ``x`` is not ``(n, n_leads, n_samples)``, ``length`` or ``step`` is not a
        positive integer, or the signals are shorter than ``length`` and ``pad_short``
        is false.

    Examples
    --------
    >>> split(np.zeros((2, 1, 3000)), length=1000, step=500).shape
    (2, 5, 1, 1000)
    """
    x = check_signal(x, ndim=3, min_samples=0, finite=False, to_float=False)
    window_starts(x.shape[-1], length, step)
    if x.shape[-1] < length:
        if not pad_short:
            raise SignalError(f"Expected signals of at least length={length} samples. "
                             f"Received: {x.shape[-1]} samples; pass pad=True to pad them.")
        x = pad(x, length)
    return take_windows(x, window_starts(x.shape[-1], length, step), length)


def random_starts(n_samples, length, n_segments, rng, n=1):
    """Uniform random window starts, int64 ``(n, n_segments)`` in ``[0, n_samples - length]``."""
    length, n_segments = check_count(length, "length"), check_count(n_segments, "n_segments")
    if n_samples < length:
        raise SignalError(f"Expected signals of at least length={length} samples. "
                          f"Received: {n_samples} samples.")
    return rng.integers(0, n_samples - length + 1, size=(n, n_segments))


def random_split(x, length, n_segments, rng):
    """Cut ``n_segments`` windows of ``length`` samples at random starts from each row.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(n, n_leads, n_samples)``.
    length : int
        Window length in samples.
    n_segments : int
        Windows per row.
    rng : numpy.random.Generator
        Source of the starts (seed it for reproducible windows).

    Returns
    -------
    numpy.ndarray
        ``(n, n_segments, n_leads, length)``.

    Raises
    ------
    SignalError
        If ``x`` is not ``(n, n_leads, n_samples)`` or shorter than ``length``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> random_split(np.zeros((2, 1, 3000)), 1000, 4, rng).shape
    (2, 4, 1, 1000)
    """
    x = check_signal(x, ndim=3, min_samples=0, finite=False, to_float=False)
    starts = random_starts(x.shape[-1], length, n_segments, rng, n=x.shape[0])
    return take_windows(x, starts, length)
