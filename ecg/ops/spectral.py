"""Spectra of signals: discrete Fourier transforms and short-time Fourier spectrograms.

Thin, checked wrappers of :mod:`numpy.fft` and :func:`scipy.signal.spectrogram` with
time on the last axis of any leading shape; float32 signals give complex64 spectra
(float32 after an inverse real transform), float64 signals complex128.
"""
import numpy as np
from scipy import signal

from ecg.errors import SignalError
from ecg.ops.checks import check_count, check_fs, check_signal

NORMS = (None, "backward", "ortho", "forward")
""":mod:`numpy.fft` normalisations."""


def _spectrum(x, name="x"):
    """``x`` as a finite, non-empty complex or real array (a spectrum to invert)."""
    x = np.asarray(x)
    if x.dtype.kind not in "biufc":
        raise SignalError(f"Expected a numeric spectrum. Received: {name} of dtype {x.dtype}.")
    if not x.ndim or not x.size:
        raise SignalError(f"Expected a non-empty spectrum with frequency on its last axis. Received: shape {x.shape}.")
    if not np.isfinite(x).all():
        raise SignalError(f"Expected finite values. Received: {name} with NaN or infinite values.")
    return x


def _checked(n, norm):
    if n is not None:
        check_count(n, "n")
    if norm not in NORMS:
        raise SignalError(f"Expected norm in {NORMS}. Received: norm={norm!r}.")


def _single(out, x):
    """Complex64 or float32 results for single-precision input."""
    if x.dtype in (np.float32, np.complex64):
        return out.astype(np.complex64 if np.iscomplexobj(out) else np.float32)
    return out


def fft(x, n=None, norm=None):
    """Discrete Fourier transform of every lead (:func:`numpy.fft.fft` on the last axis).

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    n : int, optional
        Length of the transform: the signal is cut or zero-padded to ``n`` samples.
    norm : {None, "backward", "ortho", "forward"}
        Normalisation, as in :mod:`numpy.fft`.

    Returns
    -------
    numpy.ndarray
        Complex ``(..., n)`` (``n_samples`` by default); frequencies are
        :func:`fft_frequencies`.

    Examples
    --------
    >>> fft(np.ones(4)).real.tolist()
    [4.0, 0.0, 0.0, 0.0]
    """
    x = check_signal(x)
    _checked(n, norm)
    return _single(np.fft.fft(x, n=n, axis=-1, norm=norm), x)


def ifft(spectrum, n=None, norm=None):
    """Inverse of :func:`fft` on the last axis (:func:`numpy.fft.ifft`); complex result.

    Examples
    --------
    >>> ifft(fft(np.arange(4.0))).real.round(6).tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    spectrum = _spectrum(spectrum, "spectrum")
    _checked(n, norm)
    return _single(np.fft.ifft(spectrum, n=n, axis=-1, norm=norm), spectrum)


def rfft(x, n=None, norm=None):
    """One-sided Fourier transform of real leads (:func:`numpy.fft.rfft` on the last axis).

    Returns
    -------
    numpy.ndarray
        Complex ``(..., n // 2 + 1)``; frequencies are :func:`rfft_frequencies`.

    Examples
    --------
    >>> rfft(np.ones(4)).real.tolist()
    [4.0, 0.0, 0.0]
    """
    x = check_signal(x)
    _checked(n, norm)
    return _single(np.fft.rfft(x, n=n, axis=-1, norm=norm), x)


def irfft(spectrum, n=None, norm=None):
    """Inverse of :func:`rfft` (:func:`numpy.fft.irfft`): real leads of ``n`` samples.

    Parameters
    ----------
    spectrum : numpy.ndarray
        One-sided spectra ``(..., n_freqs)``.
    n : int, optional
        Length of the signal; by default ``2 * (n_freqs - 1)`` (give the original length
        of an odd-length signal).

    Examples
    --------
    >>> irfft(rfft(np.arange(5.0)), n=5).round(6).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0]
    """
    spectrum = _spectrum(spectrum, "spectrum")
    _checked(n, norm)
    return _single(np.fft.irfft(spectrum, n=n, axis=-1, norm=norm), spectrum)


def fft_frequencies(n, fs):
    """Frequencies in Hz of the ``n`` bins of :func:`fft` at ``fs`` Hz (:func:`numpy.fft.fftfreq`).

    Examples
    --------
    >>> fft_frequencies(4, fs=100).tolist()
    [0.0, 25.0, -50.0, -25.0]
    """
    return np.fft.fftfreq(check_count(n, "n"), d=1.0 / check_fs(fs))


def rfft_frequencies(n, fs):
    """Frequencies in Hz of :func:`rfft` of ``n`` samples at ``fs`` Hz (:func:`numpy.fft.rfftfreq`).

    Examples
    --------
    >>> rfft_frequencies(4, fs=100).tolist()
    [0.0, 25.0, 50.0]
    """
    return np.fft.rfftfreq(check_count(n, "n"), d=1.0 / check_fs(fs))


def spectrogram(x, fs, nperseg=256, noverlap=None, window=("tukey", 0.25), mode="psd", scaling="density"):
    """Short-time Fourier spectrogram of every lead (:func:`scipy.signal.spectrogram`).

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    fs : float
        Sampling rate in Hz.
    nperseg : int
        Samples per segment (at most ``n_samples``).
    noverlap : int, optional
        Samples shared by consecutive segments; ``nperseg // 8`` by default (scipy's).
    window : str or tuple
        Window of each segment, as :func:`scipy.signal.get_window` takes it (scipy's default).
    mode : {"psd", "magnitude", "angle", "phase", "complex"}
        What each time-frequency cell holds (scipy's modes).
    scaling : {"density", "spectrum"}
        Power spectral density (V²/Hz in signal units) or power spectrum (V²).

    Returns
    -------
    freqs : numpy.ndarray
        float64 ``(n_freqs,)``, Hz.
    times : numpy.ndarray
        float64 ``(n_times,)``, seconds: the centre of each segment.
    values : numpy.ndarray
        ``(..., n_freqs, n_times)``.

    Raises
    ------
    SignalError
        If ``nperseg`` is not in ``[1, n_samples]`` or ``noverlap`` not in ``[0, nperseg)``.

    Examples
    --------
    >>> freqs, times, values = spectrogram(np.zeros((2, 1000)), fs=100, nperseg=100, noverlap=50)
    >>> values.shape, freqs[-1], times[0]
    ((2, 51, 19), np.float64(50.0), np.float64(0.5))
    """
    x = check_signal(x)
    fs = check_fs(fs)
    nperseg = check_count(nperseg, "nperseg")
    if nperseg > x.shape[-1]:
        raise SignalError(f"Expected nperseg <= {x.shape[-1]} samples (the signal's length). "
                          f"Received: nperseg={nperseg}.")
    if noverlap is not None and not 0 <= check_count(noverlap, "noverlap", minimum=0) < nperseg:
        raise SignalError(f"Expected 0 <= noverlap < nperseg={nperseg}. Received: noverlap={noverlap}.")
    freqs, times, values = signal.spectrogram(x, fs=fs, window=window, nperseg=nperseg, noverlap=noverlap,
                                              mode=mode, scaling=scaling, axis=-1)
    return freqs, times, values
