"""Length-keeping transforms of signals: convolution with a kernel, a function per lead."""
import numpy as np
from scipy import signal

from ecg.errors import SignalError
from ecg.ops.checks import check_signal

CONVOLVE_PADDING = ("constant", "edge", "reflect", "symmetric", "wrap")
""":func:`numpy.pad` modes for the ends of a convolved signal."""


def convolve(x, kernel, padding="edge"):
    """Convolve every lead of ``x`` with ``kernel``, keeping its length and alignment.

    Each lead is padded by ``len(kernel) // 2`` samples before and ``(len(kernel) - 1)
    // 2`` after (:func:`numpy.pad` mode ``padding``) and the ``"valid"`` part of the
    convolution is kept, so output sample ``k`` is centred on input sample ``k``:
    with ``padding="constant"`` (zeros) it is ``numpy.convolve(lead, kernel, "same")``.
    The convolution is :func:`scipy.signal.convolve`, which picks the direct sum or the
    FFT, whichever is faster for the kernel's length.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    kernel : array-like of float, shape (n_taps,)
        The kernel (e.g. ``np.ones(5) / 5`` for a moving average).
    padding : {"constant", "edge", "reflect", "symmetric", "wrap"}
        How the ends are extended: zeros, the end samples, or mirrored or periodic copies.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; float32 for float32 input, else float64.

    Raises
    ------
    SignalError
        If ``kernel`` is not a non-empty, finite 1-D array, or ``padding`` is unknown.

    Examples
    --------
    >>> convolve(np.array([0.0, 0.0, 3.0, 0.0, 0.0]), np.ones(3) / 3).tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    x = check_signal(x)
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 1 or not kernel.size or not np.isfinite(kernel).all():
        raise SignalError(f"Expected a non-empty, finite 1-D kernel. Received: kernel of shape {kernel.shape}.")
    if padding not in CONVOLVE_PADDING:
        raise SignalError(f"Expected padding in {CONVOLVE_PADDING}. Received: padding={padding!r}.")
    width = [(0, 0)] * (x.ndim - 1) + [(kernel.size // 2, (kernel.size - 1) // 2)]
    padded = np.pad(x.astype(np.float64), width, mode=padding)
    out = signal.convolve(padded, kernel.reshape((1,) * (x.ndim - 1) + (-1,)), mode="valid")
    return out.astype(np.float32 if x.dtype == np.float32 else np.float64, copy=False)


def apply_to_each_lead(x, func, *args, **kwargs):
    """``func(lead, *args, **kwargs)`` on every lead of ``x``; each result must keep the length.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    func : callable
        Takes a 1-D lead ``(n_samples,)`` and returns ``(n_samples,)``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``, of the dtype ``func`` returns.

    Raises
    ------
    SignalError
        If ``func`` returns another shape for a lead (the samples would no longer line
        up with the annotations).

    Examples
    --------
    >>> apply_to_each_lead(np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]]), np.sort).tolist()
    [[1.0, 2.0, 3.0], [0.0, 4.0, 5.0]]
    """
    x = np.asarray(x)
    rows = x.reshape(-1, x.shape[-1])
    results = []
    for k, row in enumerate(rows):
        out = np.asarray(func(row, *args, **kwargs))
        if out.shape != row.shape:
            raise SignalError(f"Expected {getattr(func, '__name__', func)!r} to return a lead of shape "
                              f"{row.shape}. Received: shape {out.shape} for lead {k}; a function that "
                              "changes the length must be an action that moves the annotations too.")
        results.append(out)
    return np.stack(results).reshape(x.shape) if results else x.copy()
