"""Lead polarity: find the leads recorded upside down from their QRS complexes, and flip them.

An electrode swapped or a lead wired the wrong way round records the ECG upside down:
the QRS complexes, upright in most leads, point down. This is not a random
augmentation (that is :func:`ecg.ops.augment.polarity_flip`): each lead is judged on
its own beats, in these steps:

1. remove the baseline (zero-phase high-pass at 0.5 Hz), so that a deflection is
   measured from the isoelectric line;
2. detect the QRS complexes of the lead (:func:`ecg.ops.rpeaks.r_peaks`, Pan-Tompkins,
   which sees slopes and so finds inverted complexes too);
3. in a window of ``window`` seconds around each detection, take the largest positive
   and the largest negative deflection;
4. the lead is inverted when, over its beats, the median of ``max + min`` is negative:
   its dominant QRS deflection points down.

A lead in which no QRS complex is found is left as it is. Leads whose QRS is normally
negative (aVR; often V1) are inverted by this rule: leave them out of the leads checked.
"""
import numpy as np

from ecg.ops.checks import check_fs, check_signal
from ecg.ops.filters import band_pass
from ecg.ops.rpeaks import r_peaks


def qrs_polarity(x, fs, window=0.1, conf=None):
    """Median QRS deflection ``max + min`` of every lead, from the baseline, in signal units.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)`` in physical units (mV).
    fs : float
        Sampling rate in Hz.
    window : float
        Width in seconds of the window around each detected QRS complex.
    conf : PanTompkinsConf or None
        Parameters of the QRS detector.

    Returns
    -------
    numpy.ndarray
        float64 ``x.shape[:-1]``: positive for an upright lead, negative for an
        inverted one, 0 where no QRS complex was found.

    Raises
    ------
    SignalError
        If ``x`` is not a finite real signal or ``fs`` is not a positive rate.

    Examples
    --------
    >>> t = np.arange(3000) / 300
    >>> beats = np.exp(-((t % 1.0) - 0.5) ** 2 / 0.0002)
    >>> np.sign(qrs_polarity(np.stack([beats, -beats]), fs=300)).tolist()
    [1.0, -1.0]
    """
    x = check_signal(x)
    fs = check_fs(fs)
    if window <= 0:
        raise ValueError(f"Expected a window of more than 0 seconds. Received: window={window}")
    rows = x.reshape(-1, x.shape[-1])
    filtered = band_pass(rows, fs, low=0.5)
    half = max(int(round(window * fs / 2)), 1)
    offsets = np.arange(-half, half + 1)
    out = np.zeros(len(rows))
    for k, (row, peaks) in enumerate(zip(filtered, r_peaks(rows, fs, conf))):
        if len(peaks):
            windows = filtered[k][np.clip(peaks[:, None] + offsets, 0, len(row) - 1)]
            out[k] = np.median(windows.max(axis=1) + windows.min(axis=1))
    return out.reshape(x.shape[:-1])


def inverted_leads(x, fs, window=0.1, conf=None):
    """Whether each lead of ``x`` is upside down (see the module docstring).

    Returns
    -------
    numpy.ndarray
        bool ``x.shape[:-1]``.

    Examples
    --------
    >>> t = np.arange(3000) / 300
    >>> beats = np.exp(-((t % 1.0) - 0.5) ** 2 / 0.0002)
    >>> inverted_leads(np.stack([beats, -beats]), fs=300).tolist()
    [False, True]
    """
    return qrs_polarity(x, fs, window=window, conf=conf) < 0


def flip_inverted(x, fs, window=0.1, conf=None):
    """``x`` with its inverted leads (:func:`inverted_leads`) multiplied by -1.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``x``.

    Examples
    --------
    >>> t = np.arange(3000) / 300
    >>> beats = np.exp(-((t % 1.0) - 0.5) ** 2 / 0.0002)
    >>> fixed = flip_inverted(np.stack([beats, -beats]), fs=300)
    >>> bool(np.array_equal(fixed[1], beats))
    True
    """
    flip = inverted_leads(x, fs, window=window, conf=conf)
    return np.where(flip[..., None], -x, x).astype(np.asarray(x).dtype, copy=False)
