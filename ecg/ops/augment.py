"""Signal augmentations for training, reproducible through a numpy Generator.

Every function takes signals ``x`` ``(n, ..., n_samples)`` (``n`` items, e.g. ``(n,
n_leads, n_samples)``), a :class:`numpy.random.Generator` ``rng`` and a probability
``p``: each item along the first axis is augmented with probability ``p`` (its own
random draws), the others are returned unchanged. Amplitudes are in the signal's units
(mV), times in seconds, frequencies in Hz. Outputs keep the shape and dtype of ``x``.
"""
import numpy as np

from ecg.errors import SignalError
from ecg.ops.alignment import interpolate_at
from ecg.ops.filters import band_pass


def _apply(x, augmented, rng, p):
    """Items of ``augmented`` where a Bernoulli(p) draw per item hits, else of ``x``."""
    if p >= 1:
        return augmented.astype(x.dtype, copy=False)
    hit = (rng.random(x.shape[0]) < p).reshape(-1, *(1,) * (x.ndim - 1))
    return np.where(hit, augmented, x).astype(x.dtype, copy=False)


def _per_item(rng, x, low, high):
    """One uniform draw in ``[low, high)`` per item, broadcastable against ``x``."""
    return rng.uniform(low, high, size=(x.shape[0],) + (1,) * (x.ndim - 1))


def _power(x):
    return (x.astype(np.float64) - x.mean(axis=-1, keepdims=True)).var(axis=-1, keepdims=True)


def gaussian_noise(x, rng, snr_db=20.0, p=1.0):
    """Add white Gaussian noise at a signal-to-noise ratio of ``snr_db`` dB per lead.

    ``snr_db`` may be a number or a ``(low, high)`` range drawn per item.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.sin(np.arange(5000) / 10)[None, None]
    >>> noisy = gaussian_noise(x, rng, snr_db=10)
    >>> round(float(10 * np.log10(x.var() / (noisy - x).var())))
    10
    """
    low, high = np.broadcast_to(snr_db, 2)
    snr = _per_item(rng, x, low, high) if high > low else low
    sigma = np.sqrt(_power(x) / 10 ** (snr / 10))
    return _apply(x, x + sigma * rng.standard_normal(x.shape), rng, p)


def uniform_noise(x, rng, amplitude=0.03, p=1.0):
    """Add noise drawn uniformly in ``[-amplitude, amplitude]`` to every sample.

    Rounding to a grid of step ``q`` adds about this noise with ``amplitude = q / 2``:
    training with it makes a network insensitive to an int8 input's rounding (see
    :func:`ecg.export.export_model`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.zeros((2, 1, 10000))
    >>> noisy = uniform_noise(x, rng, amplitude=0.05)
    >>> bool(np.abs(noisy).max() <= 0.05), round(float(noisy.std() * np.sqrt(3)), 2)
    (True, 0.05)
    """
    if amplitude < 0:
        raise SignalError(f"Expected amplitude >= 0. Received: {amplitude}.")
    return _apply(x, x + rng.uniform(-amplitude, amplitude, size=x.shape), rng, p)


def baseline_wander(x, fs, rng, amplitude=0.2, freq=(0.05, 0.5), n_components=3, p=1.0):
    """Add baseline wander: a sum of ``n_components`` slow sinusoids (respiration, motion).

    Parameters
    ----------
    amplitude : float
        Peak amplitude of each component in signal units (drawn in ``[0, amplitude]``).
    freq : tuple of float
        Range of the component frequencies in Hz.
    """
    t = np.arange(x.shape[-1]) / fs
    shape = (x.shape[0], n_components) + (1,) * (x.ndim - 1)
    freqs = rng.uniform(*freq, size=shape)
    phases = rng.uniform(0, 2 * np.pi, size=shape)
    amps = rng.uniform(0, amplitude, size=shape)
    wander = (amps * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=1)
    return _apply(x, x + wander, rng, p)


def emg_noise(x, fs, rng, snr_db=20.0, band=(20.0, 150.0), p=1.0):
    """Add muscle (EMG-like) noise: Gaussian noise band-limited to ``band`` Hz at ``snr_db``.

    The upper edge is lowered to 0.45 * fs where the sampling rate is too low for it.
    """
    high = min(band[1], 0.45 * fs)
    noise = band_pass(rng.standard_normal(x.shape), fs, band[0], high if high > band[0] else None)
    scale = np.sqrt(_power(x) / 10 ** (snr_db / 10) / np.maximum(_power(noise), 1e-12))
    return _apply(x, x + scale * noise, rng, p)


def powerline_noise(x, fs, rng, amplitude=0.05, freq=50.0, harmonics=1, p=1.0):
    """Add power-line interference at ``freq`` Hz (and harmonics below ``fs / 2``).

    The amplitude (signal units) and phase are drawn per item in ``[0, amplitude]``.
    """
    t = np.arange(x.shape[-1]) / fs
    hum = np.zeros((x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],))
    for k in range(1, harmonics + 1):
        if k * freq >= fs / 2:
            break
        amp = _per_item(rng, x, 0, amplitude) / k
        phase = _per_item(rng, x, 0, 2 * np.pi)
        hum = hum + amp * np.sin(2 * np.pi * k * freq * t + phase)
    return _apply(x, x + hum, rng, p)


def amplitude_scale(x, rng, low=0.8, high=1.2, p=1.0):
    """Multiply each item by a factor drawn in ``[low, high]``."""
    return _apply(x, x * _per_item(rng, x, low, high), rng, p)


def polarity_flip(x, rng, p=0.5):
    """Invert the sign of each item with probability ``p``."""
    return _apply(x, -x, rng, p)


def stretch_maps(n_items, n_samples, rng, max_stretch=0.1, p=1.0):
    """Sample maps of :func:`time_stretch`: ``j / factor`` per item, ``NaN`` past the input.

    Items not augmented (probability ``1 - p``) get the identity map.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_items, n_samples)`` (see :mod:`ecg.ops.alignment`).
    """
    factor = rng.uniform(1 - max_stretch, 1 + max_stretch, size=n_items)
    factor = np.where(_hits(rng, n_items, p), factor, 1.0)
    positions = np.arange(n_samples)[None] / factor[:, None]
    positions[positions > n_samples - 1] = np.nan
    return positions


def time_stretch(x, rng, max_stretch=0.1, p=1.0):
    """Stretch or compress time by a factor in ``[1 - max_stretch, 1 + max_stretch]``.

    The stretched signal is linearly interpolated on the original grid and keeps the
    original length: a stretch crops the end, a compression pads it with the last value.
    The sample maps are :func:`stretch_maps`; the batch action moves annotations and
    per-sample targets by the same maps.

    Examples
    --------
    >>> x = np.arange(10.0)[None]
    >>> time_stretch(x, np.random.default_rng(0), max_stretch=0.5).shape
    (1, 10)
    """
    return interpolate_at(x, stretch_maps(x.shape[0], x.shape[-1], rng, max_stretch, p))


def warp_maps(n_items, n_samples, rng, max_warp=0.1, n_knots=4, p=1.0):
    """Sample maps of :func:`time_warp`, identity for items not augmented.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_items, n_samples)``, strictly increasing from 0 to ``n_samples - 1``.
    """
    speed_knots = rng.uniform(1 - max_warp, 1 + max_warp, size=(n_items, n_knots))
    speed_knots[~_hits(rng, n_items, p)] = 1.0
    grid = np.linspace(0, n_samples - 1, n_knots)
    speed = np.stack([np.interp(np.arange(n_samples), grid, knots) for knots in speed_knots])
    positions = np.concatenate([np.zeros((n_items, 1)), np.cumsum(speed[:, :-1], axis=1)], axis=1)
    positions *= (n_samples - 1) / np.maximum(positions[:, -1:], 1e-12)
    return positions


def time_warp(x, rng, max_warp=0.1, n_knots=4, p=1.0):
    """Smooth non-linear time warp: the local speed varies in ``[1 - max_warp, 1 + max_warp]``.

    Random speeds at ``n_knots`` evenly spaced knots are interpolated to every sample
    and integrated into a monotonic time map with fixed end points (:func:`warp_maps`),
    so the length, the first and the last sample are kept while beats in between move
    by up to about ``max_warp`` of the window.

    Examples
    --------
    >>> x = np.sin(np.linspace(0, 20, 1000))[None, None]
    >>> warped = time_warp(x, np.random.default_rng(0), max_warp=0.2)
    >>> warped.shape, bool(np.isclose(warped[0, 0, -1], x[0, 0, -1]))
    ((1, 1, 1000), True)
    """
    return interpolate_at(x, warp_maps(x.shape[0], x.shape[-1], rng, max_warp, n_knots, p))


def _hits(rng, n_items, p):
    """bool ``(n_items,)``: which items a Bernoulli(p) draw augments."""
    return np.ones(n_items, dtype=bool) if p >= 1 else rng.random(n_items) < p


def crop_starts(n_items, n_samples, rng, length):
    """Random window starts of :func:`random_crop`, int64 ``(n_items,)``."""
    if n_samples < length:
        raise SignalError(f"Expected signals of at least length={length} samples. "
                          f"Received: {n_samples} samples.")
    return rng.integers(0, n_samples - length + 1, size=n_items)


def random_crop(x, rng, length):
    """One window of ``length`` samples at a random start per item: ``(..., length)``."""
    starts = crop_starts(x.shape[0], x.shape[-1], rng, length)
    index = starts.reshape(-1, *(1,) * (x.ndim - 1)) + np.arange(length)
    return np.take_along_axis(x, np.broadcast_to(index, x.shape[:-1] + (length,)), axis=-1)


def cutout(x, fs, rng, duration=0.5, value=0.0, p=1.0):
    """Set a window of ``duration`` seconds at a random place of each item to ``value``."""
    width = min(int(round(duration * fs)), x.shape[-1])
    starts = rng.integers(0, x.shape[-1] - width + 1, size=x.shape[0])
    t = np.arange(x.shape[-1])
    starts = starts.reshape(-1, *(1,) * (x.ndim - 1))
    mask = (t >= starts) & (t < starts + width)
    return _apply(x, np.where(mask, value, x), rng, p)


def lead_dropout(x, rng, rate=0.25, p=1.0):
    """Zero each lead (axis ``-2``) with probability ``rate``, keeping at least one per item."""
    if x.ndim < 3:
        raise ValueError(f"Expected signals (n, n_leads, n_samples). Received: shape {x.shape}.")
    drop = rng.random(x.shape[:-1]) < rate
    keep_one = rng.integers(0, x.shape[-2], size=x.shape[:-2])
    np.put_along_axis(drop, keep_one[..., None], False, axis=-1)
    return _apply(x, np.where(drop[..., None], 0, x), rng, p)


NOISE_KINDS = ("bw", "ma", "em", "pl")
"""Noise kinds of :func:`noise_signals`: baseline wander, muscle artefact, electrode motion,
power line (the three MIT-BIH Noise Stress Test kinds and mains hum)."""


def electrode_motion(shape, fs, rng, rate=0.5, decay=(0.1, 0.5), burst_freq=(1.0, 10.0),
                     burst_width=(0.05, 0.3)):
    """Electrode-motion artefact: random baseline jumps that decay, and short oscillating bursts.

    A synthetic stand-in for the ``em`` record of the MIT-BIH Noise Stress Test Database
    (Moody, Muldrow & Mark, CinC 1984): motion of an electrode changes the skin-electrode
    impedance, which shows as abrupt baseline shifts relaxing back, and as transients
    in the ECG band that can look like beats. Events arrive as a Poisson process of
    ``rate`` per second; each is a step of random sign and size relaxing with a time
    constant in ``decay`` seconds, plus a Gaussian-windowed sinusoid of a frequency in
    ``burst_freq`` Hz and a width (SD) in ``burst_width`` seconds.

    Parameters
    ----------
    shape : tuple of int
        Output shape, time on the last axis.
    fs : float
        Sampling rate in Hz.
    rng : numpy.random.Generator
        The random draws.

    Returns
    -------
    numpy.ndarray
        float64 ``shape``, in arbitrary units (scale it to an SNR).

    Examples
    --------
    >>> em = electrode_motion((2, 3600), 360, np.random.default_rng(0))
    >>> em.shape, bool(np.abs(em).max() > 0)
    ((2, 3600), True)
    """
    n = shape[-1]
    t = np.arange(n) / fs
    flat = np.zeros((int(np.prod(shape[:-1], dtype=np.int64)), n))
    duration = n / fs
    for row in flat:
        # at least one event per item, so that no item is left without artefact
        for onset in rng.uniform(0, duration, size=max(1, rng.poisson(rate * duration))):
            after = t >= onset
            row[after] += rng.normal() * np.exp(-(t[after] - onset) / rng.uniform(*decay))
            width = rng.uniform(*burst_width)
            row += (rng.normal() * np.exp(-0.5 * ((t - onset) / width) ** 2)
                    * np.sin(2 * np.pi * rng.uniform(*burst_freq) * (t - onset) + rng.uniform(0, 2 * np.pi)))
    return flat.reshape(shape)


def noise_signals(kind, shape, fs, rng, powerline_freq=50.0):
    """Pure noise of one kind, of unit power per item and lead (its last-axis variance is 1).

    =========  ======================================================================
    ``bw``     baseline wander: 3 sinusoids of 0.05-0.5 Hz (:func:`baseline_wander`)
    ``ma``     muscle artefact: Gaussian noise band-limited to 20-150 Hz (:func:`emg_noise`)
    ``em``     electrode motion (:func:`electrode_motion`)
    ``pl``     power line: a sinusoid of ``powerline_freq`` Hz and its 2nd harmonic (up to 0.3 of it)
    =========  ======================================================================

    Parameters
    ----------
    kind : str
        One of :data:`NOISE_KINDS`.
    shape : tuple of int
        Output shape, time on the last axis.
    fs : float
        Sampling rate in Hz.
    rng : numpy.random.Generator
        The random draws.

    Returns
    -------
    numpy.ndarray
        float64 ``shape``.

    Raises
    ------
    ValueError
        For an unknown ``kind``.
    """
    zeros = np.zeros(shape)
    if kind == "bw":
        noise = baseline_wander(zeros, fs, rng, amplitude=1.0)
    elif kind == "ma":
        high = min(150.0, 0.45 * fs)
        noise = band_pass(rng.standard_normal(shape), fs, 20.0, high if high > 20.0 else None)
    elif kind == "em":
        noise = electrode_motion(shape, fs, rng)
    elif kind == "pl":
        t = np.arange(shape[-1]) / fs
        items = shape[:-1]
        noise = np.sin(2 * np.pi * powerline_freq * t + rng.uniform(0, 2 * np.pi, size=items + (1,)))
        if 2 * powerline_freq < fs / 2:
            noise = noise + rng.uniform(0, 0.3, size=items + (1,)) * np.sin(
                2 * np.pi * 2 * powerline_freq * t + rng.uniform(0, 2 * np.pi, size=items + (1,)))
    else:
        raise ValueError(f"Expected a noise kind in {NOISE_KINDS}. Received: kind={kind!r}.")
    noise = noise - noise.mean(axis=-1, keepdims=True)
    return noise / np.sqrt(np.maximum(noise.var(axis=-1, keepdims=True), 1e-24))


def noise_at_snr(x, fs, rng, snr_db, kinds=NOISE_KINDS, powerline_freq=50.0):
    """Realistic noise for clean signals ``x`` at a signal-to-noise ratio of ``snr_db`` dB.

    Each item gets a mixture of the noise ``kinds`` (:func:`noise_signals`) with random
    weights (a flat Dirichlet draw of the kinds' power shares), scaled per lead so that
    ``10 log10(power(x) / power(noise)) == snr_db`` exactly, the power of ``x`` taken
    about its mean (as in :func:`gaussian_noise`).

    Parameters
    ----------
    x : numpy.ndarray
        Clean signals ``(n, ..., n_samples)``.
    fs : float
        Sampling rate in Hz.
    rng : numpy.random.Generator
        The random draws.
    snr_db : float or tuple of float
        The SNR in dB, or a ``(low, high)`` range drawn per item.
    kinds : sequence of str
        Noise kinds mixed (of :data:`NOISE_KINDS`); one kind gives that kind alone.

    Returns
    -------
    numpy.ndarray
        float64 noise of ``x``'s shape; ``x + noise`` is the noisy signal.

    Examples
    --------
    >>> x = np.sin(np.arange(3600) / 20)[None, None]
    >>> noise = noise_at_snr(x, 360, np.random.default_rng(0), snr_db=6)
    >>> round(float(10 * np.log10(x.var() / noise.var())), 6)
    6.0
    """
    kinds = list(kinds)
    if not kinds:
        raise ValueError("Expected at least one noise kind. Received: kinds=[].")
    low, high = np.broadcast_to(snr_db, 2)
    snr = _per_item(rng, x, low, high) if high > low else low
    shares = rng.dirichlet(np.ones(len(kinds)), size=x.shape[0]) if len(kinds) > 1 else np.ones((x.shape[0], 1))
    noise = np.zeros(x.shape)
    for k, kind in enumerate(kinds):
        weight = np.sqrt(shares[:, k]).reshape(-1, *(1,) * (x.ndim - 1))
        noise += weight * noise_signals(kind, x.shape, fs, rng, powerline_freq)
    noise -= noise.mean(axis=-1, keepdims=True)
    scale = np.sqrt(_power(x) / 10 ** (snr / 10) / np.maximum(noise.var(axis=-1, keepdims=True), 1e-24))
    return scale * noise
