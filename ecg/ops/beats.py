"""Beats: AAMI classes of WFDB beat labels and fixed windows around annotated beats.

AAMI EC57 groups the WFDB beat labels into five classes (de Chazal et al., "Automatic
classification of heartbeats using ECG morphology and heartbeat interval features",
IEEE Trans Biomed Eng 51(7):1196-1206, 2004, Table I):

===== ============================== =====================================================
class meaning                        WFDB beat labels
===== ============================== =====================================================
N     normal and bundle branch block ``N`` normal, ``L`` left / ``R`` right bundle branch
                                     block, ``B`` unspecified bundle branch block,
                                     ``e`` atrial escape, ``j`` nodal (junctional) escape
S     supraventricular ectopic       ``A`` atrial premature, ``a`` aberrated atrial
                                     premature, ``J`` nodal premature, ``S``
                                     supraventricular premature, ``n`` supraventricular
                                     escape
V     ventricular ectopic            ``V`` premature ventricular contraction, ``E``
                                     ventricular escape, ``r`` R-on-T PVC
F     fusion                         ``F`` fusion of ventricular and normal
Q     unknown                        ``/`` paced, ``f`` fusion of paced and normal,
                                     ``Q`` unclassifiable, ``?`` beat not classified
===== ============================== =====================================================

Every other label (``+`` rhythm change, ``~`` noise, ``!`` flutter wave, ``|``, ``x``,
``"``, ``[``, ``]``, ...) is not a beat and gets the class ``""``.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

AAMI_CLASSES = ("N", "S", "V", "F", "Q")

AAMI_LABELS = {
    "N": "N", "L": "N", "R": "N", "B": "N", "e": "N", "j": "N",
    "A": "S", "a": "S", "J": "S", "S": "S", "n": "S",
    "V": "V", "E": "V", "r": "V",
    "F": "F",
    "/": "Q", "f": "Q", "Q": "Q", "?": "Q",
}


def aami_classes(symbols):
    """Map WFDB annotation labels to AAMI classes.

    Parameters
    ----------
    symbols : array-like of str, shape (n_annotations,)
        WFDB labels, e.g. ``wfdb.rdann(...).symbol``.

    Returns
    -------
    numpy.ndarray of str, shape (n_annotations,)
        ``"N"``, ``"S"``, ``"V"``, ``"F"``, ``"Q"`` for beat labels, ``""`` for the others
        (see the module docstring for the table).

    Examples
    --------
    >>> aami_classes(["N", "+", "A", "V", "/", "~"]).tolist()
    ['N', '', 'S', 'V', 'Q', '']
    """
    symbols = np.asarray(symbols, dtype=str)
    keys = np.array(list(AAMI_LABELS), dtype=str)
    values = np.array(list(AAMI_LABELS.values()), dtype="<U1")
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    pos = np.clip(np.searchsorted(keys, symbols), 0, len(keys) - 1)
    return np.where(keys[pos] == symbols, values[pos], "")


def beat_windows(signal, samples, before, after):
    """Cut a fixed window around each annotated beat.

    Beat ``i`` gets ``signal[:, samples[i] - before : samples[i] + after]``; beats whose
    window would cross the start or the end of the signal are dropped. No Python loop
    runs per beat: the windows are a fancy-indexed view of ``sliding_window_view``.

    Parameters
    ----------
    signal : numpy.ndarray, shape (n_leads, n_samples)
        The record's signal (any units, e.g. mV).
    samples : array-like of int, shape (n_beats,)
        Beat positions in samples (e.g. the R peaks of ``rdann(...).sample``).
    before, after : int
        Window length before and after the beat, in samples (e.g. ``int(0.25 * fs)``).
        The beat sample itself is the first sample of the ``after`` part.

    Returns
    -------
    windows : numpy.ndarray, shape (n_kept, n_leads, before + after)
        A new array (not a view) with the signal's dtype.
    kept : numpy.ndarray of int64, shape (n_kept,)
        Indices into ``samples`` of the beats that were kept, in order.

    Raises
    ------
    ValueError
        If ``signal`` is not 2-D, or ``before``/``after`` are negative or both zero.

    Examples
    --------
    >>> signal = np.arange(20, dtype=float).reshape(1, 20)
    >>> windows, kept = beat_windows(signal, [1, 5, 18], before=2, after=3)
    >>> windows.shape, kept.tolist()
    ((1, 1, 5), [1])
    >>> windows[0, 0].tolist()
    [3.0, 4.0, 5.0, 6.0, 7.0]
    """
    signal = np.asarray(signal)
    if signal.ndim != 2:
        raise ValueError(f"Expected a signal of shape (n_leads, n_samples). Received: shape={signal.shape}")
    before, after = int(before), int(after)
    if before < 0 or after < 0 or before + after == 0:
        raise ValueError(f"Expected before >= 0, after >= 0 and before + after > 0 samples. "
                         f"Received: before={before}, after={after}")
    samples = np.asarray(samples, dtype=np.int64).reshape(-1)
    width = before + after
    n_samples = signal.shape[1]
    starts = samples - before
    kept = np.flatnonzero((starts >= 0) & (samples + after <= n_samples))
    if n_samples < width:
        return np.empty((0, signal.shape[0], width), dtype=signal.dtype), kept
    views = sliding_window_view(signal, width, axis=1)
    return np.ascontiguousarray(views[:, starts[kept]].transpose(1, 0, 2)), kept


BEAT_RR_FEATURES = ("pre_rr", "post_rr", "local_rr", "pre_rr_norm", "post_rr_norm", "local_rr_norm",
                    "pre_local", "post_pre", "local_cv")
"""Names of the columns of :func:`beat_rr_features`."""


def beat_rr_features(samples, fs, n_local=10):
    """RR-interval features of every beat of one record, normalised by the record's rhythm.

    The features that make a supraventricular beat out in an inter-patient setting are
    its prematurity and the pause after it, measured against the patient's own rhythm
    (de Chazal et al., IEEE TBME 51(7), 2004; Mondéjar-Guerra et al., BSPC 47, 2019).
    For beat ``i`` at ``samples[i]``:

    ============== ======================================================================
    column         value
    ============== ======================================================================
    pre_rr         ``samples[i] - samples[i - 1]``, in seconds
    post_rr        ``samples[i + 1] - samples[i]``, in seconds
    local_rr       mean of the ``n_local`` RR intervals centred on the beat (its pre-RR
                   and the ``n_local / 2 - 1`` before, its post-RR and the
                   ``n_local / 2 - 1`` after; fewer at the record's ends), in seconds
    pre_rr_norm    ``pre_rr / mean_rr``, with ``mean_rr`` the record's mean RR interval
    post_rr_norm   ``post_rr / mean_rr``
    local_rr_norm  ``local_rr / mean_rr``
    pre_local      ``pre_rr / local_rr``: prematurity against the local rhythm
    post_pre       ``post_rr / pre_rr``: a compensatory pause is above 1
    local_cv       SD over mean of the local RR intervals (population SD): high in
                   atrial fibrillation, where a short RR is no sign of an ectopic beat
    ============== ======================================================================

    The first beat has no pre-RR and the last no post-RR: each is taken as the record's
    mean RR, so their normalised value is 1.

    Parameters
    ----------
    samples : array-like of int, shape (n_beats,)
        Beat positions in samples, increasing (reference marks or detected R peaks).
    fs : float
        Sampling rate in Hz.
    n_local : int
        Number of RR intervals in the local average (even; an odd one is rounded up).

    Returns
    -------
    numpy.ndarray of float64, shape (n_beats, 9)
        Columns :data:`BEAT_RR_FEATURES`; all NaN for a record of fewer than two beats.

    Raises
    ------
    ValueError
        If ``samples`` are not increasing, ``fs`` is not positive or ``n_local < 1``.

    Examples
    --------
    >>> f = beat_rr_features([0, 360, 720, 900, 1440, 1800], fs=360, n_local=2)
    >>> f[3].round(3).tolist()       # RR 1 s, then 0.5 s and a 1.5 s pause: a premature beat
    [0.5, 1.5, 1.0, 0.5, 1.5, 1.0, 0.5, 3.0, 0.5]
    """
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    if not fs > 0:
        raise ValueError(f"Expected a sampling rate fs > 0 Hz. Received: fs={fs}")
    if int(n_local) < 1:
        raise ValueError(f"Expected n_local >= 1 RR intervals. Received: n_local={n_local}")
    out = np.full((samples.size, len(BEAT_RR_FEATURES)), np.nan)
    if samples.size < 2:
        return out
    rr = np.diff(samples) / fs
    if (rr <= 0).any():
        raise ValueError(f"Expected increasing beat samples. Received: a step of {rr.min() * fs:g} samples "
                         f"after beat {int(np.argmin(rr))}")
    mean_rr = rr.mean()
    pre = np.concatenate([[mean_rr], rr])
    post = np.concatenate([rr, [mean_rr]])
    half = (int(n_local) + 1) // 2
    # beat i's window holds intervals rr[i - half : i + half] (rr[i - 1] is its pre-RR)
    cumulative = np.concatenate([[0.0], np.cumsum(rr)])
    squares = np.concatenate([[0.0], np.cumsum(rr ** 2)])
    index = np.arange(samples.size)
    lo, hi = np.clip(index - half, 0, rr.size), np.clip(index + half, 0, rr.size)
    local = (cumulative[hi] - cumulative[lo]) / (hi - lo)
    local_sd = np.sqrt(np.maximum((squares[hi] - squares[lo]) / (hi - lo) - local ** 2, 0.0))
    out[:] = np.stack([pre, post, local, pre / mean_rr, post / mean_rr, local / mean_rr, pre / local,
                       post / pre, local_sd / local], axis=1)
    return out


def with_template(windows):
    """Append the record's median beat to every beat window, as extra leads.

    A network that sees each beat beside the patient's own typical beat can learn how a
    beat differs from that patient's usual morphology (an abnormal P wave, a wider QRS)
    rather than what the beats of the training patients look like, which is what an
    inter-patient split asks of it. The median over beats is robust to a minority of
    ectopic beats; where ectopic beats are the majority it is an ectopic beat.

    Parameters
    ----------
    windows : numpy.ndarray, shape (n_beats, n_leads, window)
        The beat windows of one record (from :func:`beat_windows`).

    Returns
    -------
    numpy.ndarray, shape (n_beats, 2 * n_leads, window)
        The windows, then the median beat of each lead; the dtype of ``windows``.

    Raises
    ------
    ValueError
        If ``windows`` is not 3-D.

    Examples
    --------
    >>> windows = np.array([[[0., 1., 0.]], [[0., 2., 0.]], [[0., 9., 1.]]])
    >>> with_template(windows)[2].tolist()
    [[0.0, 9.0, 1.0], [0.0, 2.0, 0.0]]
    """
    windows = np.asarray(windows)
    if windows.ndim != 3:
        raise ValueError(f"Expected beat windows (n_beats, n_leads, window). Received: shape={windows.shape}")
    if len(windows) == 0:
        return np.concatenate([windows, windows], axis=1)
    template = np.median(windows, axis=0).astype(windows.dtype)
    return np.concatenate([windows, np.broadcast_to(template, windows.shape)], axis=1)
