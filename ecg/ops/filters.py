"""Zero-phase ECG filters: Butterworth and FIR band-pass, power-line notch, baseline removal.

Every function takes ``x`` with time on the last axis (any leading shape, e.g. ``(n,
n_leads, n_samples)``) and the sampling rate ``fs`` in Hz, filters all leading rows in
one vectorised call, and returns an array of the same shape and dtype. Cut-offs are in
Hz, so one call works at any sampling rate.
"""
import numpy as np
from scipy import ndimage, signal

from ecg.errors import SignalError
from ecg.ops.checks import check_count, check_fs, check_option, check_signal


def _check_band(fs, low, high):
    nyquist = check_fs(fs) / 2
    if low is None and high is None:
        raise SignalError("Expected at least one cut-off. Received: low=None, high=None.")
    for name, value in (("low", low), ("high", high)):
        if value is not None and not (isinstance(value, (int, float, np.number)) and 0 < value < nyquist):
            raise SignalError(f"Expected 0 < {name} < fs / 2 = {nyquist:g} Hz. Received: {name}={value}.")
    if low is not None and high is not None and low >= high:
        raise SignalError(f"Expected low < high. Received: low={low}, high={high}.")


def _sosfiltfilt(sos, x):
    """:func:`scipy.signal.sosfiltfilt` along time, after checking ``x`` is long enough for its padding."""
    taps = 2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum())
    x = check_signal(x, min_samples=3 * taps + 1)
    return signal.sosfiltfilt(sos, x, axis=-1).astype(x.dtype, copy=False)


def butter_sos(fs, low=None, high=None, order=4):
    """Second-order sections of a Butterworth band-, high- or low-pass filter.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz.
    low, high : float or None
        Cut-off frequencies in Hz; ``low=None`` gives a low-pass, ``high=None`` a high-pass.
    order : int
        Filter order (of each of the low and high edges).

    Returns
    -------
    numpy.ndarray
        ``(n_sections, 6)`` as :func:`scipy.signal.sosfiltfilt` takes it.
    """
    _check_band(fs, low, high)
    order = check_count(order, "order")
    if low is None:
        return signal.butter(order, high, btype="lowpass", fs=fs, output="sos")
    if high is None:
        return signal.butter(order, low, btype="highpass", fs=fs, output="sos")
    return signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")


def band_pass(x, fs, low=None, high=None, order=4):
    """Zero-phase Butterworth band-pass (or high-/low-pass) filter.

    The filter runs forwards and backwards (:func:`scipy.signal.sosfiltfilt`), so QRS
    complexes are not delayed and the magnitude response is the Butterworth one squared.

    Parameters
    ----------
    x : numpy.ndarray
        Signals, time on the last axis, ``(..., n_samples)``.
    fs : float
        Sampling rate in Hz.
    low, high : float or None
        Cut-offs in Hz (``low=None``: low-pass; ``high=None``: high-pass).
    order : int
        Butterworth order.

    Returns
    -------
    numpy.ndarray
        Filtered signals, same shape and dtype as ``x``.

    Raises
    ------
    SignalError
        If ``fs`` is not a positive rate, a cut-off is not in ``(0, fs / 2)``,
        ``low >= high``, or ``x`` is not a finite real signal longer than the
        filter's padding (``3 * (2 * n_sections + 1)`` samples).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(2, 12, 5000)).astype("float32")
    >>> band_pass(x, fs=500, low=0.5, high=40).shape
    (2, 12, 5000)
    """
    return _sosfiltfilt(butter_sos(fs, low, high, order), x)


def fir_band_pass(x, fs, low=None, high=None, n_taps=None, window="hamming"):
    """Zero-phase linear-phase FIR band-pass (or high-/low-pass) filter.

    The window-method FIR (:func:`scipy.signal.firwin`) is run forwards and backwards
    (:func:`scipy.signal.filtfilt`), which removes its group delay.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    fs : float
        Sampling rate in Hz.
    low, high : float or None
        Cut-offs in Hz.
    n_taps : int or None
        Odd number of taps; default about ``3 / min(cut-off)`` seconds of taps, i.e. a
        transition width near the lowest cut-off, capped at a third of the signal.
    window : str
        Window of :func:`scipy.signal.firwin`.

    Returns
    -------
    numpy.ndarray
        Filtered signals, same shape and dtype as ``x``.

    Raises
    ------
    SignalError
        For an invalid ``fs`` or cut-offs, a non-finite signal, or a signal shorter
        than ``3 * n_taps`` samples.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(3, 3000))
    >>> fir_band_pass(x, fs=300, low=1, high=40).shape
    (3, 3000)
    """
    _check_band(fs, low, high)
    x = check_signal(x)
    if n_taps is None:
        lowest = min(f for f in (low, high) if f is not None)
        n_taps = min(int(3 * fs / lowest), x.shape[-1] // 3 - 1)
        n_taps += 1 - n_taps % 2
    if not isinstance(n_taps, (int, np.integer)) or n_taps % 2 == 0 or n_taps < 3:
        raise SignalError(f"Expected an odd n_taps >= 3. Received: n_taps={n_taps}.")
    if x.shape[-1] <= 3 * n_taps:
        raise SignalError(f"Expected a signal longer than 3 * n_taps = {3 * n_taps} samples. "
                         f"Received: {x.shape[-1]} samples; pass a smaller n_taps.")
    cutoff = [f for f in (low, high) if f is not None]
    pass_zero = {(True, False): "highpass", (False, True): "lowpass"}.get(
        (low is not None, high is not None), "bandpass")
    taps = signal.firwin(n_taps, cutoff, window=window, pass_zero=pass_zero, fs=fs)
    return signal.filtfilt(taps, [1.0], x, axis=-1).astype(x.dtype, copy=False)


def notch_sos(fs, freq=50.0, harmonics=1, quality=30.0):
    """Second-order sections of IIR notches at ``freq`` and its harmonics below ``fs / 2``.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz.
    freq : float
        Power-line frequency in Hz (50 in Europe/Asia, 60 in the Americas).
    harmonics : int
        Number of notches: ``freq, 2 * freq, ...``; those at or above ``fs / 2`` are skipped.
    quality : float
        Quality factor ``freq / bandwidth`` of each notch.

    Returns
    -------
    numpy.ndarray
        ``(n_notches, 6)`` second-order sections.

    Raises
    ------
    SignalError
        If ``fs`` is not a positive rate or ``freq`` is not in ``(0, fs / 2)``.
    """
    fs = check_fs(fs)
    harmonics = check_count(harmonics, "harmonics")
    if not (isinstance(freq, (int, float, np.number)) and 0 < freq < fs / 2):
        raise SignalError(f"Expected 0 < freq < fs / 2 = {fs / 2:g} Hz. Received: freq={freq}.")
    sections = []
    for k in range(1, harmonics + 1):
        if k * freq >= fs / 2:
            break
        b, a = signal.iirnotch(k * freq, quality, fs=fs)
        sections.append(np.concatenate([b, a]))
    return np.array(sections)


def notch(x, fs, freq=50.0, harmonics=1, quality=30.0):
    """Remove power-line interference with zero-phase IIR notches.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    fs : float
        Sampling rate in Hz.
    freq : float
        Power-line frequency in Hz (50 or 60).
    harmonics : int
        How many harmonics to notch (``1``: only ``freq``).
    quality : float
        Quality factor of each notch (higher: narrower).

    Returns
    -------
    numpy.ndarray
        Filtered signals, same shape and dtype as ``x``.

    Examples
    --------
    >>> t = np.arange(5000) / 500
    >>> hum = np.sin(2 * np.pi * 50 * t)
    >>> float(np.abs(notch(hum, fs=500)[1000:-1000]).max()) < 0.05
    True
    """
    return _sosfiltfilt(notch_sos(fs, freq, harmonics, quality), x)


def _odd_window(seconds, fs):
    return int(round(seconds * fs)) // 2 * 2 + 1


def median_baseline(x, fs, windows=(0.2, 0.6)):
    """Baseline wander estimated by two cascaded median filters.

    The first median (200 ms) removes QRS complexes and P waves, the second (600 ms)
    T waves; what is left is the baseline (de Chazal P, O'Dwyer M, Reilly RB.
    Automatic classification of heartbeats using ECG morphology and heartbeat interval
    features. IEEE Trans Biomed Eng 51(7):1196-1206, 2004).

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    fs : float
        Sampling rate in Hz.
    windows : tuple of float
        Lengths of the successive median filters in seconds.

    Returns
    -------
    numpy.ndarray
        The baseline, same shape and dtype as ``x``.
    """
    fs = check_fs(fs)
    x = check_signal(x)
    baseline = x
    for seconds in windows:
        size = (1,) * (x.ndim - 1) + (_odd_window(seconds, fs),)
        baseline = ndimage.median_filter(baseline, size=size, mode="nearest")
    return baseline


def remove_baseline(x, fs, method="median", cutoff=0.5, windows=(0.2, 0.6), order=4):
    """Remove baseline wander.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    fs : float
        Sampling rate in Hz.
    method : {"median", "highpass"}
        ``"median"``: subtract :func:`median_baseline`; ``"highpass"``: zero-phase
        Butterworth high-pass at ``cutoff``.
    cutoff : float
        High-pass cut-off in Hz (``method="highpass"``).
    windows : tuple of float
        Median filter lengths in seconds (``method="median"``).
    order : int
        Butterworth order (``method="highpass"``).

    Returns
    -------
    numpy.ndarray
        Signals without baseline, same shape and dtype as ``x``.

    Raises
    ------
    ConfigError
        For an unknown ``method``.
    SignalError
        For an invalid signal or ``fs``.

    Examples
    --------
    >>> t = np.arange(3000) / 300
    >>> drift = 0.5 * np.sin(2 * np.pi * 0.2 * t)
    >>> float(np.abs(remove_baseline(drift, fs=300)).max()) < 0.05
    True
    """
    check_option(method, ("median", "highpass"), "method")
    if method == "median":
        x = check_signal(x)
        return x - median_baseline(x, fs, windows)
    return band_pass(x, fs, low=cutoff, order=order)
