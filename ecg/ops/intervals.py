"""ECG parameters of a record: heart rate from its R peaks, PQ, QRS and QT intervals from a delineation.

The delineation is a list of waves (onset, offset, class), read from a WFDB
delineation annotation (:func:`ecg.ops.masks.wave_intervals`, e.g. LUDB's per-lead
files) or from a per-sample wave mask (:func:`waves_from_mask`, e.g. the output of the
LUDB delineation network). Each interval is measured on every beat that has the waves
it needs, then the median over beats is taken (robust to a missed or an extra wave):

``qrs``
    QRS onset to QRS offset.
``pq``
    P onset to QRS onset, for a QRS whose P wave ends before it and after the previous
    QRS (the PR interval of clinical reports).
``qt``
    QRS onset to the offset of the first T wave after that QRS, before the next QRS.

Times are between the annotation marks, in ms; offsets are wave samples (included), as
in :mod:`ecg.ops.masks`. A parameter no beat allows is NaN.
"""
import numpy as np

from ecg.ops.checks import check_fs
from ecg.ops.masks import mask_to_intervals, wave_intervals

PARAMETERS = ("hr_median", "hr_mean", "rr_median", "rr_mean", "pq", "qrs", "qt")
"""Keys of :func:`ecg_parameters`: heart rates in beats per minute, intervals in ms."""
P, QRS, T = 1, 2, 3


def heart_rate(r_peaks, fs):
    """Heart rate of R peaks at ``fs`` Hz, from the median and from the mean RR interval.

    Parameters
    ----------
    r_peaks : array-like of int
        R-peak sample indices, increasing.
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    dict
        ``hr_median`` and ``hr_mean`` (beats per minute: ``60 / RR``), ``rr_median`` and
        ``rr_mean`` (ms); NaN with fewer than two peaks.

    Examples
    --------
    >>> heart_rate([0, 500, 1000, 1600], fs=500)
    {'hr_median': 60.0, 'hr_mean': 56.25, 'rr_median': 1000.0, 'rr_mean': 1066.6666666666667}
    """
    fs = check_fs(fs)
    rr = np.diff(np.asarray(r_peaks, dtype=np.float64)) / fs
    if not rr.size:
        return dict.fromkeys(PARAMETERS[:4], float("nan"))
    median, mean = float(np.median(rr)), float(rr.mean())
    return {"hr_median": 60.0 / median, "hr_mean": 60.0 / mean, "rr_median": 1000.0 * median,
            "rr_mean": 1000.0 * mean}


def waves_from_annotation(samples, symbols, classes=("p", "N", "t")):
    """Waves ``(onsets, offsets, labels)`` of a WFDB delineation annotation (P 1, QRS 2, T 3).

    Examples
    --------
    >>> waves_from_annotation([1, 2, 3, 5, 6, 8], ["(", "p", ")", "(", "N", ")"])
    (array([1, 5]), array([3, 8]), array([1, 2], dtype=int8))
    """
    onsets, _, offsets, labels = wave_intervals(samples, symbols, classes)
    return onsets, offsets, labels


def waves_from_mask(mask):
    """Waves ``(onsets, offsets, labels)`` of a per-sample mask (0 background, P 1, QRS 2, T 3).

    Examples
    --------
    >>> waves_from_mask([0, 1, 1, 0, 2, 2, 2, 0, 3, 3])
    (array([1, 4, 8]), array([2, 6, 9]), array([1, 2, 3], dtype=int8))
    """
    runs = mask_to_intervals(np.asarray(mask).reshape(-1), n_classes=3)
    labels = np.concatenate([np.full(len(runs[k]), k, np.int8) for k in (P, QRS, T)])
    bounds = np.concatenate([runs[k] for k in (P, QRS, T)])
    order = np.argsort(bounds[:, 0], kind="stable")
    return bounds[order, 0], bounds[order, 1], labels[order]


def wave_parameters(onsets, offsets, labels, fs):
    """Median PQ, QRS and QT intervals in ms of waves (see the module docstring).

    Parameters
    ----------
    onsets, offsets : array-like of int, shape (n_waves,)
        First and last sample of each wave, in time order.
    labels : array-like of int, shape (n_waves,)
        1 for P, 2 for QRS, 3 for T.
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    dict
        ``pq``, ``qrs``, ``qt`` in ms (NaN where no beat has the waves).

    Examples
    --------
    >>> wave_parameters([0, 80, 300], [50, 130, 400], [1, 2, 3], fs=1000)
    {'pq': 80.0, 'qrs': 50.0, 'qt': 320.0}
    """
    fs = check_fs(fs)
    onsets, offsets = np.asarray(onsets, np.int64), np.asarray(offsets, np.int64)
    labels = np.asarray(labels)
    order = np.argsort(onsets, kind="stable")
    onsets, offsets, labels = onsets[order], offsets[order], labels[order]
    q_on, q_off = onsets[labels == QRS], offsets[labels == QRS]
    p_on, p_off = onsets[labels == P], offsets[labels == P]
    t_on, t_off = onsets[labels == T], offsets[labels == T]
    previous_qrs_end = np.concatenate([[-1], q_off[:-1]])
    next_qrs_start = np.concatenate([q_on[1:], [np.iinfo(np.int64).max]])
    # the last P ending before each QRS onset, if it starts after the previous QRS
    k = np.searchsorted(p_off, q_on, side="left") - 1
    has_p = (k >= 0) & (p_on[np.maximum(k, 0)] > previous_qrs_end) if p_on.size else np.zeros(q_on.size, bool)
    pq = q_on[has_p] - p_on[k[has_p]]
    # the first T starting at or after each QRS offset, if it ends before the next QRS
    j = np.searchsorted(t_on, q_off, side="left")
    has_t = (j < t_on.size) & (t_off[np.minimum(j, max(t_on.size - 1, 0))] < next_qrs_start) if t_on.size \
        else np.zeros(q_on.size, bool)
    qt = t_off[j[has_t]] - q_on[has_t]

    def median_ms(values):
        return float(np.median(values)) * 1000.0 / fs if values.size else float("nan")

    return {"pq": median_ms(pq), "qrs": median_ms(q_off - q_on), "qt": median_ms(qt)}


def ecg_parameters(r_peaks, fs, waves=None):
    """Heart rate and PQ, QRS and QT intervals of a record (keys :data:`PARAMETERS`).

    Parameters
    ----------
    r_peaks : array-like of int
        R-peak sample indices (:func:`ecg.ops.rpeaks.r_peaks`).
    fs : float
        Sampling rate in Hz.
    waves : tuple of arrays, optional
        ``(onsets, offsets, labels)`` from :func:`waves_from_annotation` or
        :func:`waves_from_mask`; without it ``pq``, ``qrs`` and ``qt`` are NaN.

    Returns
    -------
    dict
        Heart rates in beats per minute, RR and wave intervals in ms.

    Examples
    --------
    >>> params = ecg_parameters([100, 600, 1100], 500, waves_from_mask([0] * 50 + [1] * 40 + [0] * 20 + [2] * 50))
    >>> params["hr_median"], params["pq"], params["qrs"]
    (60.0, 120.0, 98.0)
    """
    out = heart_rate(r_peaks, fs)
    if waves is None:
        out.update(dict.fromkeys(PARAMETERS[4:], float("nan")))
    else:
        out.update(wave_parameters(*waves, fs))
    return out
