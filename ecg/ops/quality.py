"""Signal quality indices: flat line, saturation and noise level, per lead.

Each index is a float per lead (``x.shape[:-1]``); :func:`quality_flags` compares them
with limits to say which leads are usable.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ecg.ops.filters import band_pass


def flat_fraction(x, fs, window=0.2, tolerance=0.01):
    """Fraction of time a lead is flat: in windows whose peak-to-peak is below ``tolerance``.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)`` in mV.
    fs : float
        Sampling rate in Hz.
    window : float
        Window length in seconds (non-overlapping windows).
    tolerance : float
        Peak-to-peak amplitude in signal units under which a window is flat.

    Returns
    -------
    numpy.ndarray
        ``x.shape[:-1]`` fractions in ``[0, 1]``.

    Examples
    --------
    >>> x = np.concatenate([np.sin(np.arange(500) / 5), np.zeros(500)])
    >>> float(flat_fraction(x, fs=500))
    0.5
    """
    size = max(int(round(window * fs)), 2)
    n_windows = x.shape[-1] // size
    if n_windows == 0:
        return (np.ptp(x, axis=-1) < tolerance).astype(np.float64)
    blocks = x[..., :n_windows * size].reshape(*x.shape[:-1], n_windows, size)
    return (np.ptp(blocks, axis=-1) < tolerance).mean(axis=-1)


def saturation_fraction(x, min_run=3):
    """Fraction of samples stuck at the lead's extreme values in runs of ``min_run`` or more.

    An amplifier or ADC at its limit repeats its largest (or smallest) value: such
    plateaus at the extremes of a lead are clipping.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    min_run : int
        Shortest run of equal extreme samples that counts as saturation.

    Returns
    -------
    numpy.ndarray
        ``x.shape[:-1]`` fractions in ``[0, 1]``.

    Examples
    --------
    >>> x = np.clip(np.sin(np.arange(1000) / 20), -0.5, 0.5)
    >>> float(saturation_fraction(x)) > 0.5
    True
    """
    at_extreme = (x == x.max(axis=-1, keepdims=True)) | (x == x.min(axis=-1, keepdims=True))
    if x.shape[-1] < min_run:
        return np.zeros(x.shape[:-1])
    runs = sliding_window_view(at_extreme, min_run, axis=-1).all(axis=-1)
    # a sample is in a run if any window of min_run samples containing it is all extreme
    covered = np.zeros_like(at_extreme)
    for offset in range(min_run):
        covered[..., offset:offset + runs.shape[-1]] |= runs
    return covered.mean(axis=-1)


def noise_level(x, fs, band=(5.0, 40.0), noise_cutoff=40.0):
    """High-frequency noise relative to the ECG: RMS above ``noise_cutoff`` over RMS in ``band``.

    Muscle (EMG) noise and poor contact put power above 40 Hz, where the ECG has
    little; a clean lead gives values well under 0.3.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    fs : float
        Sampling rate in Hz (``noise_cutoff`` must be below ``fs / 2``).
    band : tuple of float
        ECG band in Hz.
    noise_cutoff : float
        High-pass cut-off of the noise in Hz.

    Returns
    -------
    numpy.ndarray
        ``x.shape[:-1]`` ratios (``inf`` for a lead with no ECG power).
    """
    x = np.asarray(x, dtype=np.float64)
    ecg = band_pass(x, fs, *band)
    noise = band_pass(x, fs, low=noise_cutoff, high=None)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt((noise ** 2).mean(axis=-1) / (ecg ** 2).mean(axis=-1))
    return np.where(np.isnan(ratio), np.inf, ratio)


def quality_flags(x, fs, max_flat=0.5, max_saturation=0.05, max_noise=1.0):
    """Quality indices and whether each lead passes them.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)`` in mV.
    fs : float
        Sampling rate in Hz.
    max_flat, max_saturation : float
        Largest acceptable :func:`flat_fraction` and :func:`saturation_fraction`.
    max_noise : float
        Largest acceptable :func:`noise_level` (skipped when ``fs <= 80`` Hz).

    Returns
    -------
    numpy.ndarray
        float64 ``(..., 4)``: flat fraction, saturation fraction, noise level, and 1.0
        where the lead passes all limits (else 0.0).
    """
    flat = flat_fraction(x, fs)
    saturation = saturation_fraction(x)
    noise = noise_level(x, fs) if fs > 80 else np.zeros(x.shape[:-1])
    ok = (flat <= max_flat) & (saturation <= max_saturation) & (noise <= max_noise)
    return np.stack([flat, saturation, noise, ok.astype(np.float64)], axis=-1)
