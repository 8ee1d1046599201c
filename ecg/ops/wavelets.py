"""Wavelet transforms of signals (PyWavelets): one-level and multilevel DWT, and the CWT.

Time is the last axis of any leading shape. One-level coefficients are stacked as
``(..., 2, n_coeffs)`` (approximation ``cA`` then detail ``cD``); multilevel ones are
PyWavelets' list ``[cA_n, cD_n, ..., cD_1]``. Wavelet and padding-mode names are those
of :func:`pywt.wavelist` and :data:`pywt.Modes`.

Lee GR, Gommers R, Waselewski F, Wohlfahrt K, O'Leary A. PyWavelets: A Python package for
wavelet analysis. Journal of Open Source Software 4(36):1237, 2019.
"""
import numpy as np
import pywt

from ecg.errors import SignalError
from ecg.ops.checks import check_count, check_fs, check_signal


def _wavelet(name, kind="discrete"):
    if not isinstance(name, str) or name not in pywt.wavelist(kind=kind):
        raise SignalError(f"Expected a {kind} wavelet of pywt.wavelist(kind={kind!r}) (e.g. "
                          f"{'db4' if kind == 'discrete' else 'morl'}). Received: wavelet={name!r}.")
    return name


def _mode(mode):
    if mode not in pywt.Modes.modes:
        raise SignalError(f"Expected a padding mode in {tuple(pywt.Modes.modes)}. Received: mode={mode!r}.")
    return mode


def _cut(x, n_samples):
    """The first ``n_samples`` of a reconstruction (PyWavelets may give one sample more)."""
    if n_samples is None:
        return x
    n_samples = check_count(n_samples, "n_samples")
    if n_samples > x.shape[-1]:
        raise SignalError(f"Expected n_samples <= {x.shape[-1]} (the reconstruction's length). "
                          f"Received: n_samples={n_samples}.")
    return x[..., :n_samples]


def dwt(x, wavelet="db4", mode="symmetric"):
    """One-level discrete wavelet transform of every lead (:func:`pywt.dwt`).

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    wavelet : str
        A discrete wavelet (``"db4"``, ``"sym5"``, ``"haar"``...).
    mode : str
        Signal extension mode (``"symmetric"``, ``"periodization"``...).

    Returns
    -------
    numpy.ndarray
        ``(..., 2, n_coeffs)``: ``[..., 0, :]`` the approximation, ``[..., 1, :]`` the
        detail coefficients (float32 for float32 signals).

    Examples
    --------
    >>> dwt(np.array([1.0, 1.0, 3.0, 3.0]), "haar").round(4).tolist()
    [[1.4142, 4.2426], [0.0, 0.0]]
    """
    x = check_signal(x)
    approx, detail = pywt.dwt(x, _wavelet(wavelet), mode=_mode(mode), axis=-1)
    return np.stack([approx, detail], axis=-2)


def idwt(coeffs, wavelet="db4", mode="symmetric", n_samples=None):
    """Inverse of :func:`dwt` (:func:`pywt.idwt`) from coefficients ``(..., 2, n_coeffs)``.

    Parameters
    ----------
    n_samples : int, optional
        Length of the original signal: an odd-length signal is reconstructed with one
        sample more, which this cuts.

    Returns
    -------
    numpy.ndarray
        ``(..., n_samples)``.

    Examples
    --------
    >>> idwt(dwt(np.arange(5.0), "haar"), "haar", n_samples=5).round(6).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0]
    """
    coeffs = check_signal(coeffs, min_ndim=2, name="coeffs")
    if coeffs.shape[-2] != 2:
        raise SignalError(f"Expected coefficients (..., 2, n_coeffs) from dwt. Received: shape {coeffs.shape}.")
    return _cut(pywt.idwt(coeffs[..., 0, :], coeffs[..., 1, :], _wavelet(wavelet), mode=_mode(mode), axis=-1),
                n_samples)


def wavedec(x, wavelet="db4", level=None, mode="symmetric"):
    """Multilevel discrete wavelet decomposition of every lead (:func:`pywt.wavedec`).

    Parameters
    ----------
    level : int, optional
        Number of levels; by default the deepest useful one,
        :func:`pywt.dwt_max_level`.

    Returns
    -------
    list of numpy.ndarray
        ``[cA_level, cD_level, ..., cD_1]``, each ``(..., n_coeffs_k)``.

    Examples
    --------
    >>> [c.shape for c in wavedec(np.zeros((12, 5000)), "db4", level=3)]
    [(12, 631), (12, 631), (12, 1255), (12, 2503)]
    """
    x = check_signal(x)
    wavelet = _wavelet(wavelet)
    if level is not None:
        level = check_count(level, "level")
        deepest = pywt.dwt_max_level(x.shape[-1], wavelet)
        if level > max(deepest, 1):
            raise SignalError(f"Expected level <= {max(deepest, 1)} for {x.shape[-1]} samples and {wavelet}. "
                              f"Received: level={level}.")
    return pywt.wavedec(x, wavelet, mode=_mode(mode), level=level, axis=-1)


def waverec(coeffs, wavelet="db4", mode="symmetric", n_samples=None):
    """Inverse of :func:`wavedec` (:func:`pywt.waverec`), cut to ``n_samples``.

    Examples
    --------
    >>> x = np.sin(np.arange(999.0))
    >>> bool(np.allclose(waverec(wavedec(x, "db4", level=3), "db4", n_samples=999), x))
    True
    """
    if not isinstance(coeffs, (list, tuple)) or len(coeffs) < 2:
        raise SignalError("Expected the list [cA_n, cD_n, ..., cD_1] of wavedec. "
                          f"Received: {type(coeffs).__name__} of {len(coeffs) if hasattr(coeffs, '__len__') else 0}.")
    coeffs = [check_signal(c, name="coeffs") for c in coeffs]
    return _cut(pywt.waverec(coeffs, _wavelet(wavelet), mode=_mode(mode), axis=-1), n_samples)


def cwt(x, fs, scales, wavelet="morl"):
    """Continuous wavelet transform of every lead (:func:`pywt.cwt`).

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    fs : float
        Sampling rate in Hz (for the frequencies).
    scales : array-like of float
        Wavelet scales, in samples (the scale of a frequency ``f`` Hz is
        ``pywt.scale2frequency(wavelet, 1) * fs / f``).
    wavelet : str
        A continuous wavelet (``"morl"``, ``"mexh"``, ``"cmor1.5-1.0"``...).

    Returns
    -------
    coefs : numpy.ndarray
        ``(..., n_scales, n_samples)`` (complex for a complex wavelet).
    freqs : numpy.ndarray
        float64 ``(n_scales,)``: the centre frequency of each scale in Hz.

    Examples
    --------
    >>> coefs, freqs = cwt(np.zeros((2, 300)), fs=300, scales=[4, 8])
    >>> coefs.shape, freqs.round(2).tolist()
    ((2, 2, 300), [60.94, 30.47])
    """
    x = check_signal(x)
    fs = check_fs(fs)
    scales = np.asarray(scales, dtype=np.float64).reshape(-1)
    if not scales.size or not (np.isfinite(scales) & (scales > 0)).all():
        raise SignalError(f"Expected positive, finite scales. Received: scales={scales.tolist()}.")
    name = wavelet if isinstance(wavelet, str) and "-" in wavelet else _wavelet(wavelet, "continuous")
    try:
        coefs, freqs = pywt.cwt(x, scales, name, sampling_period=1.0 / fs, axis=-1)
    except ValueError as exc:
        raise SignalError(f"Expected a continuous wavelet. Received: wavelet={wavelet!r} ({exc}).") from None
    return np.moveaxis(coefs, 0, -2), np.asarray(freqs, dtype=np.float64)


SUBBAND_STATS = ("energy", "std", "mean_abs", "max_abs")
"""Statistics :func:`subband_statistics` computes of each band's coefficients."""


def subband_statistics(x, wavelet="db4", level=4, mode="symmetric", stats=("energy", "std", "mean_abs")):
    """Statistics of every band of the :func:`wavedec` decomposition of every lead.

    The bands are PyWavelets' order ``[cA_level, cD_level, ..., cD_1]``: the
    approximation then the details from coarse to fine (at ``fs`` Hz, detail ``cD_j``
    covers about ``fs / 2**(j + 1)`` to ``fs / 2**j`` Hz). For each band's coefficients
    ``c``: ``energy`` is ``mean(c**2)``, ``std`` the population SD, ``mean_abs``
    ``mean(|c|)``, ``max_abs`` ``max(|c|)``.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    wavelet, level, mode
        As in :func:`wavedec`.
    stats : sequence of str
        Names from :data:`SUBBAND_STATS`, in the order wanted.

    Returns
    -------
    numpy.ndarray
        ``(..., level + 1, len(stats))`` (float32 for float32 signals).

    Examples
    --------
    >>> subband_statistics(np.zeros((2, 512)), "db4", level=3).shape
    (2, 4, 3)
    """
    unknown = [name for name in stats if name not in SUBBAND_STATS]
    if unknown or not len(stats):
        raise SignalError(f"Expected statistics from {SUBBAND_STATS}. Received: stats={list(stats)}.")
    functions = {"energy": lambda c: np.mean(c ** 2, axis=-1), "std": lambda c: np.std(c, axis=-1),
                 "mean_abs": lambda c: np.mean(np.abs(c), axis=-1), "max_abs": lambda c: np.max(np.abs(c), axis=-1)}
    bands = wavedec(x, wavelet, level=level, mode=mode)
    return np.stack([np.stack([functions[name](c) for name in stats], axis=-1) for c in bands], axis=-2)
