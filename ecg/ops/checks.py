"""Checks at the public boundary of the ops: one place that says what a valid input is.

The kernels in :mod:`ecg.ops` call these first, so bad input raises
:class:`~ecg.errors.SignalError` (or :class:`~ecg.errors.ConfigError` for an unknown
option) naming the argument and its value, never a numpy or scipy exception from
deep inside a filter.
"""
import numbers

import numpy as np

from ecg.errors import ConfigError, SignalError


def check_signal(x, min_ndim=1, ndim=None, min_samples=1, finite=True, to_float=True, name="x"):
    """Return ``x`` as a real-valued array with time on its last axis, or raise.

    Parameters
    ----------
    x : array-like
        Signals ``(..., n_samples)``.
    min_ndim, ndim : int, optional
        The least, or the exact, number of axes ``x`` must have.
    min_samples : int
        The least number of samples (last axis).
    finite : bool
        Whether NaN and inf are refused (they would spread through a filter).
    to_float : bool
        Whether integer and boolean signals become float64 (``False`` for ops that
        only cut or pad, which keep any real dtype).
    name : str
        The argument's name, for the message.

    Returns
    -------
    numpy.ndarray
        ``x`` itself when it is a float array; integer and boolean signals (digital
        units) become float64, since a filtered or resampled signal is not integer.

    Raises
    ------
    SignalError
        Wrong number of axes, too few samples (or no values at all, unless
        ``min_samples=0``), a dtype that is not real numbers, or
        (``finite=True``) a NaN or infinite sample.

    Examples
    --------
    >>> check_signal(np.arange(4)).dtype
    dtype('float64')
    """
    x = np.asarray(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64) if to_float else x
    elif x.dtype.kind != "f":
        raise SignalError(f"Expected real-valued samples (a float or integer array). "
                          f"Received: {name} of dtype {x.dtype}.")
    if ndim is not None and x.ndim != ndim:
        raise SignalError(f"Expected {name} with {ndim} axes. Received: shape {x.shape}.")
    if x.ndim < min_ndim:
        raise SignalError(f"Expected {name} with at least {min_ndim} axes (time last). "
                          f"Received: shape {x.shape}.")
    if x.ndim and x.shape[-1] < min_samples:
        raise SignalError(f"Expected {name} of at least {min_samples} samples on its last axis. "
                          f"Received: shape {x.shape}.")
    if min_samples and x.size == 0:
        raise SignalError(f"Expected a non-empty {name}. Received: shape {x.shape}.")
    if finite and not np.isfinite(x).all():
        raise SignalError(f"Expected finite samples. Received: {name} with NaN or infinite values; "
                          "interpolate or drop them first.")
    return x


def check_fs(fs, name="fs"):
    """Return ``fs`` (Hz) as a float; raise SignalError unless it is a finite number above 0.

    Examples
    --------
    >>> check_fs(360)
    360.0
    """
    if isinstance(fs, (bool, np.bool_)) or not isinstance(fs, (numbers.Real, np.floating, np.integer)):
        raise SignalError(f"Expected a sampling rate in Hz. Received: {name}={fs!r}.")
    fs = float(fs)
    if not np.isfinite(fs) or fs <= 0:
        raise SignalError(f"Expected a strictly positive, finite sampling rate in Hz. Received: {name}={fs}.")
    return fs


def check_count(value, name, minimum=1):
    """Return ``value`` as an int; raise SignalError unless it is an integer >= ``minimum``.

    Examples
    --------
    >>> check_count(3, "length")
    3
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise SignalError(f"Expected an integer {name}. Received: {name}={value!r}.")
    if value < minimum:
        raise SignalError(f"Expected {name} >= {minimum}. Received: {name}={value}.")
    return int(value)


def check_option(value, options, name):
    """Raise ConfigError unless ``value`` is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ConfigError(f"Expected {name} in {tuple(options)}. Received: {name}={value!r}.")
    return value
