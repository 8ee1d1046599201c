"""Heart-rate variability and RR-irregularity features of one record.

All functions take RR intervals in **seconds** (``np.diff(r_peaks) / fs``) and return
plain floats (``NaN`` where a record has too few beats). The feature set is what AF
detection and beat classification lean on:

* time domain: mean, SD (SDNN), RMSSD, pNN50, pNN20, coefficient of variation, median,
  interquartile range and median absolute deviation of the RR intervals;
* non-linear: Poincaré SD1, SD2 and their ratio; sample entropy of the RR series
  (Richman and Moorman 2000) and the coefficient of sample entropy (COSEn, Lake and
  Moorman 2011), designed for AF in short records;
* frequency domain: LF (0.04-0.15 Hz) and HF (0.15-0.4 Hz) power of the RR series
  resampled at 4 Hz (Welch), and LF/HF — meaningful only for records of a few minutes.

:func:`rr_features` returns them all as one named vector, the ``hrv`` feature front-end.
"""
import numpy as np
from scipy import interpolate, signal

TIME_FEATURES = ("mean_rr", "sdnn", "rmssd", "pnn50", "pnn20", "cv_rr", "median_rr", "iqr_rr", "mad_rr")
NONLINEAR_FEATURES = ("sd1", "sd2", "sd1_sd2", "sample_entropy", "cosen")
FREQUENCY_FEATURES = ("lf", "hf", "lf_hf")
IRREGULARITY_FEATURES = ("n_beats", "heart_rate", "rmssd_norm", "max_rr_ratio", "turning_point_ratio",
                         "sdsd_norm", "dnn_over_mean")
MAD_SCALE = 1.4826
FEATURES = TIME_FEATURES + NONLINEAR_FEATURES + FREQUENCY_FEATURES + IRREGULARITY_FEATURES


def time_domain(rr):
    """Time-domain HRV of RR intervals ``rr`` (s): dict of :data:`TIME_FEATURES`.

    ``sdnn`` is the sample SD (``ddof=1``, as NeuroKit2 and Kubios report it); pNN50
    and pNN20 are the successive differences above 50 and 20 ms, as a percentage of the
    number of RR intervals (as NeuroKit2 counts them); ``mad_rr`` is the median absolute
    deviation scaled by 1.4826 (consistent with the SD for normal data).

    Examples
    --------
    >>> f = time_domain(np.array([0.8, 0.9, 0.8, 1.0]))
    >>> round(float(f["rmssd"]), 4), round(float(f["pnn50"]), 1)
    (0.1414, 75.0)
    """
    rr = np.asarray(rr, dtype=np.float64)
    out = dict.fromkeys(TIME_FEATURES, np.nan)
    if rr.size < 2:
        return out
    diff = np.diff(rr)
    q75, q25 = np.percentile(rr, [75, 25])
    median = np.median(rr)
    diff_ms = np.abs(np.diff(rr * 1000))          # in ms, as NeuroKit2 compares them with 50 and 20
    out.update(mean_rr=rr.mean(), sdnn=rr.std(ddof=1), rmssd=np.sqrt(np.mean(diff ** 2)),
               pnn50=100 * np.count_nonzero(diff_ms > 50) / rr.size,
               pnn20=100 * np.count_nonzero(diff_ms > 20) / rr.size,
               cv_rr=rr.std(ddof=1) / rr.mean(), median_rr=median, iqr_rr=q75 - q25,
               mad_rr=MAD_SCALE * np.median(np.abs(rr - median)))
    return out


def poincare(rr):
    """Poincaré plot descriptors SD1 and SD2 (s) and SD1/SD2.

    SD1 = SD of ``(rr[n+1] - rr[n]) / sqrt(2)``, SD2 = SD of ``(rr[n+1] + rr[n]) / sqrt(2)``
    (``ddof=1``).
    """
    rr = np.asarray(rr, dtype=np.float64)
    if rr.size < 3:
        return {"sd1": np.nan, "sd2": np.nan, "sd1_sd2": np.nan}
    x, y = rr[:-1], rr[1:]
    sd1 = np.std((y - x) / np.sqrt(2), ddof=1)
    sd2 = np.std((y + x) / np.sqrt(2), ddof=1)
    return {"sd1": sd1, "sd2": sd2, "sd1_sd2": sd1 / sd2 if sd2 > 0 else np.nan}


def sample_entropy(x, m=2, r=None):
    """Sample entropy SampEn(m, r) of a series (Richman and Moorman 2000).

    ``-log(A / B)`` with ``B`` the number of template pairs of length ``m`` within
    Chebyshev distance ``r`` and ``A`` those of length ``m + 1`` (self-matches excluded,
    the same ``N - m`` templates for both). ``r`` defaults to ``0.2 * SD(x)``.

    Returns
    -------
    float
        ``NaN`` when no template pair matches (too short or too irregular a series).

    Examples
    --------
    >>> abs(round(sample_entropy(np.tile([1.0, 2.0, 3.0], 20)), 6))
    0.0
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n <= m + 1:
        return np.nan
    r = 0.2 * x.std(ddof=1) if r is None else r
    templates = np.lib.stride_tricks.sliding_window_view(x, m + 1)[: n - m]
    dist_m = np.abs(templates[:, None, :m] - templates[None, :, :m]).max(axis=-1)
    dist_m1 = np.maximum(dist_m, np.abs(templates[:, None, m] - templates[None, :, m]))
    upper = np.triu_indices(len(templates), k=1)
    b = np.count_nonzero(dist_m[upper] <= r)
    a = np.count_nonzero(dist_m1[upper] <= r)
    if a == 0 or b == 0:
        return np.nan
    return float(-np.log(a / b))


def cosen(rr, m=1, r=0.03):
    """Coefficient of sample entropy (Lake and Moorman 2011), for AF in short records.

    ``SampEn(m, r) + log(2 r) - log(mean RR)`` with a fixed tolerance ``r`` of 30 ms
    (RR in seconds, so ``r`` in seconds).
    """
    rr = np.asarray(rr, dtype=np.float64)
    entropy = sample_entropy(rr, m=m, r=r)
    if not np.isfinite(entropy):
        return np.nan
    return entropy + np.log(2 * r) - np.log(rr.mean())


def frequency_domain(rr, fs_interp=4.0):
    """LF and HF power (s²) and LF/HF of the RR series, interpolated at ``fs_interp`` Hz.

    The RR series (at the times of its beats) is cubic-spline interpolated on an even
    grid, detrended, and its Welch spectrum integrated over 0.04-0.15 Hz (LF) and
    0.15-0.4 Hz (HF).
    """
    rr = np.asarray(rr, dtype=np.float64)
    out = {"lf": np.nan, "hf": np.nan, "lf_hf": np.nan}
    if rr.size < 4:
        return out
    times = np.cumsum(rr)
    grid = np.arange(times[0], times[-1], 1 / fs_interp)
    if grid.size < 16:
        return out
    series = interpolate.CubicSpline(times, rr)(grid)
    freqs, power = signal.welch(signal.detrend(series), fs=fs_interp, nperseg=min(256, grid.size))
    step = freqs[1] - freqs[0]
    lf = power[(freqs >= 0.04) & (freqs < 0.15)].sum() * step
    hf = power[(freqs >= 0.15) & (freqs < 0.4)].sum() * step
    out.update(lf=lf, hf=hf, lf_hf=lf / hf if hf > 0 else np.nan)
    return out


def irregularity(rr):
    """RR-irregularity measures used for AF: dict of :data:`IRREGULARITY_FEATURES`.

    ``rmssd_norm`` and ``sdsd_norm`` are RMSSD and the SD of successive differences over
    the mean RR; ``max_rr_ratio`` is the longest over the shortest RR;
    ``turning_point_ratio`` the fraction of RR intervals that are local extrema (about
    2/3 for a random series); ``dnn_over_mean`` the mean absolute successive difference
    over the mean RR.
    """
    rr = np.asarray(rr, dtype=np.float64)
    out = dict.fromkeys(IRREGULARITY_FEATURES, np.nan)
    out["n_beats"] = rr.size + 1 if rr.size else 0
    if rr.size < 2:
        return out
    diff = np.diff(rr)
    mean = rr.mean()
    out.update(heart_rate=60 / mean, rmssd_norm=np.sqrt(np.mean(diff ** 2)) / mean,
               max_rr_ratio=rr.max() / rr.min(), sdsd_norm=diff.std() / mean,
               dnn_over_mean=np.abs(diff).mean() / mean)
    if rr.size >= 3:
        middle = rr[1:-1]
        turning = ((middle > rr[:-2]) & (middle > rr[2:])) | ((middle < rr[:-2]) & (middle < rr[2:]))
        out["turning_point_ratio"] = turning.mean()
    return out


def rr_features(rr):
    """All features of :data:`FEATURES` for RR intervals ``rr`` (s), as float64 ``(n_features,)``.

    Examples
    --------
    >>> rr = np.random.default_rng(0).normal(0.8, 0.05, 40)
    >>> rr_features(rr).shape == (len(FEATURES),)
    True
    """
    rr = np.asarray(rr, dtype=np.float64)
    values = {**time_domain(rr), **poincare(rr), "sample_entropy": sample_entropy(rr), "cosen": cosen(rr),
              **frequency_domain(rr), **irregularity(rr)}
    return np.array([values[name] for name in FEATURES], dtype=np.float64)
