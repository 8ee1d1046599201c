"""R-peak detection (Pan-Tompkins), RR intervals and heart rate.

The detector follows Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE
Trans Biomed Eng 32(3):230-236, 1985, with the decision rules as refined by Hamilton
PS, Tompkins WJ. Quantitative investigation of QRS detection rules using the MIT/BIH
arrhythmia database. IEEE Trans Biomed Eng 33(12):1157-1165, 1986. The filters are
run forwards and backwards (zero phase), so no group-delay correction is needed.
"""
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from ecg.ops.filters import band_pass


@dataclass(frozen=True)
class PanTompkinsConf:
    """Parameters of :class:`PanTompkins` (times in seconds, frequencies in Hz).

    Attributes
    ----------
    low, high : float
        Band-pass of step 1, where QRS energy dominates P/T waves and baseline.
    integration_window : float
        Moving-window integration length (about the widest QRS).
    refractory : float
        No second QRS within this time of a QRS.
    t_wave_window : float
        A peak within this time of the last QRS may be a T wave (slope test).
    t_wave_slope_ratio : float
        ...and is one if its maximal slope is below this fraction of the last QRS's.
    learning_time : float
        Initial signal used to initialise the peak levels.
    signal_weight, noise_weight : float
        Exponential-average weight of a new signal or noise peak level.
    threshold_ratio : float
        Threshold = noise level + ratio * (signal level - noise level).
    search_back_ratio : float
        Search back when no QRS was found for this multiple of the mean RR interval...
    search_back_threshold : float
        ...accepting the largest skipped peak above this fraction of the threshold.
    rr_low, rr_high : float
        RR intervals within ``[rr_low, rr_high]`` times the mean are "regular" and feed
        the search-back mean RR.
    locate_window : float
        Half-width of the window in which the R peak is placed at the largest absolute
        band-passed amplitude around the integrated peak.
    refine_window : float
        Half-width of the window of step 10 (:func:`refine_r_peaks`); 0, the default,
        leaves step 10 out (the detector as published).
    refine_low, refine_high : float
        Band-pass of step 10: wider than step 1's, so that a wide ventricular QRS keeps
        its R wave, and with the baseline and the slow ST-T waves removed.
    """

    low: float = 5.0
    high: float = 15.0
    integration_window: float = 0.150
    refractory: float = 0.200
    t_wave_window: float = 0.360
    t_wave_slope_ratio: float = 0.5
    learning_time: float = 2.0
    signal_weight: float = 0.125
    noise_weight: float = 0.125
    threshold_ratio: float = 0.25
    search_back_ratio: float = 1.66
    search_back_threshold: float = 0.5
    rr_low: float = 0.92
    rr_high: float = 1.16
    locate_window: float = 0.075
    refine_window: float = 0.0
    refine_low: float = 3.0
    refine_high: float = 40.0


class PanTompkins:
    """Pan-Tompkins QRS detector.

    Steps, in order:

    1. band-pass 5-15 Hz (zero-phase Butterworth) to keep QRS energy;
    2. derivative (central difference) to stress the steep QRS slopes;
    3. squaring, which makes all values positive and emphasises large slopes;
    4. moving-window integration over 150 ms: one smooth hump per QRS;
    5. candidate peaks: local maxima of the integrated signal at least 200 ms apart
       (refractory period);
    6. adaptive thresholds: running signal and noise peak levels, initialised on the
       first 2 s; a candidate above ``noise + 0.25 * (signal - noise)`` is a QRS;
    7. T-wave discrimination: a candidate within 360 ms of the last QRS whose maximal
       slope is under half that QRS's slope is a T wave (noise);
    8. search back: when no QRS was found for 1.66 times the mean regular RR interval,
       the largest skipped candidate above half the threshold is taken as a QRS;
    9. the R peak is placed at the largest absolute band-passed amplitude within
       75 ms of the integrated peak;
    10. optionally (``refine_window > 0``), each peak moves to the largest absolute
        deflection of the 3-40 Hz band-passed lead within ``refine_window`` of it
        (:func:`refine_r_peaks`): on wide ventricular beats the integrated peak of
        step 4 comes late, and step 9 lands on the S wave instead of the R wave.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz.
    conf : PanTompkinsConf or None
        Parameters; default :class:`PanTompkinsConf()`.

    Examples
    --------
    >>> t = np.arange(3000) / 300
    >>> ecg = np.exp(-((t % 0.8) - 0.4) ** 2 / 0.0002)   # a spike every 0.8 s
    >>> PanTompkins(300).detect(ecg)[:3]
    array([120, 360, 600])
    """

    def __init__(self, fs, conf=None):
        self.fs = float(fs)
        self.conf = conf or PanTompkinsConf()

    def _samples(self, seconds):
        return max(int(round(seconds * self.fs)), 1)

    def transform(self, x):
        """Steps 1-4 on ``x`` ``(..., n_samples)``: band-passed, slope and integrated signals."""
        conf = self.conf
        filtered = band_pass(np.asarray(x, dtype=np.float64), self.fs, conf.low, conf.high, order=2)
        slope = np.gradient(filtered, axis=-1) * self.fs
        integrated = ndimage.uniform_filter1d(slope ** 2, self._samples(conf.integration_window),
                                              axis=-1, mode="nearest")
        return filtered, slope, integrated

    def detect(self, x):
        """R-peak sample indices of one lead ``x`` ``(n_samples,)``, int64, increasing."""
        x = np.asarray(x)
        if x.ndim != 1:
            raise ValueError(f"Expected one lead (n_samples,). Received: shape {x.shape}.")
        if x.shape[-1] < 3 * self._samples(self.conf.integration_window) + 30:
            return np.zeros(0, dtype=np.int64)
        filtered, slope, integrated = self.transform(x)
        candidates, _ = signal.find_peaks(integrated, distance=self._samples(self.conf.refractory))
        qrs = self._decide(candidates, integrated, np.abs(slope))
        peaks = self._locate(qrs, filtered)
        if self.conf.refine_window > 0:
            peaks = refine_r_peaks(x, peaks, self.fs, self.conf.refine_window, self.conf.refine_low,
                                   self.conf.refine_high)
        return peaks

    def _decide(self, candidates, integrated, abs_slope):
        """Steps 6-8: the sequential decision rules over the candidate peaks."""
        conf = self.conf
        heights = integrated[candidates]
        learning = integrated[:self._samples(conf.learning_time)]
        signal_level, noise_level = 0.25 * learning.max(), 0.5 * learning.mean()
        half_qrs = self._samples(conf.integration_window / 2)
        refractory = self._samples(conf.refractory)
        t_wave = conf.t_wave_window * self.fs
        rr = _RRAverage(conf.rr_low, conf.rr_high)
        qrs, last, last_slope = [], -1, 0.0   # last: position in candidates of the last QRS
        k = 0
        while k < len(candidates):
            p, height = candidates[k], heights[k]
            threshold = noise_level + conf.threshold_ratio * (signal_level - noise_level)
            if qrs and rr.mean and p - qrs[-1] > conf.search_back_ratio * rr.mean:
                skipped = np.arange(last + 1, k)
                skipped = skipped[(candidates[skipped] - qrs[-1] > refractory)
                                  & (heights[skipped] > conf.search_back_threshold * threshold)]
                if len(skipped):
                    k = skipped[np.argmax(heights[skipped])]
                    p, height = candidates[k], heights[k]
                    signal_level = 0.25 * height + 0.75 * signal_level
                    rr.add(p - qrs[-1])
                    qrs.append(p)
                    last, last_slope = k, _window_max(abs_slope, p, half_qrs)
                    k += 1
                    continue
            is_qrs = height > threshold
            if is_qrs and qrs and p - qrs[-1] < t_wave:
                slope = _window_max(abs_slope, p, half_qrs)
                if slope > last_slope / conf.t_wave_slope_ratio:
                    # Far steeper than the last detection: that one was a P wave.
                    qrs.pop()
                    rr.drop()
                is_qrs = slope >= conf.t_wave_slope_ratio * last_slope
            if is_qrs:
                signal_level = conf.signal_weight * height + (1 - conf.signal_weight) * signal_level
                if qrs:
                    rr.add(p - qrs[-1])
                qrs.append(p)
                last, last_slope = k, _window_max(abs_slope, p, half_qrs)
            else:
                noise_level = conf.noise_weight * height + (1 - conf.noise_weight) * noise_level
            k += 1
        return np.asarray(qrs, dtype=np.int64)

    def _locate(self, qrs, filtered):
        """Step 9: move each detection to the largest absolute band-passed amplitude."""
        if len(qrs) == 0:
            return qrs
        half = self._samples(self.conf.locate_window)
        offsets = np.arange(-half, half + 1)
        windows = np.clip(qrs[:, None] + offsets, 0, len(filtered) - 1)
        located = windows[np.arange(len(qrs)), np.argmax(np.abs(filtered[windows]), axis=1)]
        return np.unique(located)


def refine_r_peaks(x, peaks, fs, window=0.1, low=3.0, high=40.0):
    """Move each R peak to the largest absolute deflection of the band-passed lead near it.

    The reference beat marks of MIT-BIH (``.atr``) sit on the major extremum of the QRS
    complex, positive or negative. Pan-Tompkins places its peak at the largest
    amplitude of a 5-15 Hz signal around the centre of the QRS energy, which for a wide
    ventricular beat (record 208) is the S wave, about 90 ms after the R wave. This
    step band-passes the lead at ``low``-``high`` Hz (zero-phase Butterworth, order 2),
    which keeps the R wave of a wide QRS and removes the baseline and the slow ST-T
    deflection, and moves each peak to the sample of largest absolute value within
    ``window`` seconds on either side: both polarities, so a QS or an inverted
    complex keeps its negative extremum.

    Parameters
    ----------
    x : numpy.ndarray, shape (n_samples,)
        One lead, in any units.
    peaks : array-like of int, shape (n_peaks,)
        Detected R peaks, in samples.
    fs : float
        Sampling rate in Hz.
    window : float
        Half-width of the search window, in seconds.
    low, high : float
        Band-pass cut-offs in Hz; ``high`` is lowered to 0.45 ``fs`` at low rates.

    Returns
    -------
    numpy.ndarray of int64, shape (n_refined,)
        The moved peaks, increasing; two peaks that move onto the same sample become one.

    Raises
    ------
    ValueError
        If ``x`` is not 1-D or ``window`` is negative.

    Examples
    --------
    >>> t = np.arange(1800) / 360
    >>> qrs = np.exp(-((t % 1.0) - 0.5) ** 2 / 0.00005) - 0.6 * np.exp(-((t % 1.0) - 0.56) ** 2 / 0.0002)
    >>> refine_r_peaks(qrs, [200, 560, 920], 360).tolist()     # the peaks were 20 ms late
    [180, 540, 900]
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"Expected one lead (n_samples,). Received: shape {x.shape}.")
    if window < 0:
        raise ValueError(f"Expected a window >= 0 seconds. Received: window={window}")
    peaks = np.asarray(peaks, dtype=np.int64).reshape(-1)
    if peaks.size == 0 or x.size < 30:
        return peaks
    high = min(high, 0.45 * fs)
    filtered = band_pass(x, fs, low, high if high > low else None, order=2)
    half = int(round(window * fs))
    windows = np.clip(peaks[:, None] + np.arange(-half, half + 1), 0, x.size - 1)
    moved = windows[np.arange(peaks.size), np.argmax(np.abs(filtered[windows]), axis=1)]
    return np.unique(moved)


def _window_max(values, center, half):
    return values[max(center - half, 0):center + half + 1].max()


class _RRAverage:
    """Hamilton-Tompkins RR average: the mean of the last 8 regular RR intervals.

    An interval is regular within ``[low, high]`` times the current mean; after 8
    irregular intervals in a row the rhythm has changed and the mean restarts from the
    last 8 intervals.
    """

    def __init__(self, low, high):
        self.low, self.high = low, high
        self.recent, self.regular, self.irregular_run = [], [], 0
        self.mean = None

    def add(self, interval):
        self.recent = (self.recent + [interval])[-8:]
        if self.mean is None or self.low * self.mean <= interval <= self.high * self.mean:
            self.regular = (self.regular + [interval])[-8:]
            self.irregular_run = 0
        else:
            self.irregular_run += 1
            if self.irregular_run >= 8:
                self.regular, self.irregular_run = list(self.recent), 0
        self.mean = float(np.mean(self.regular))

    def drop(self):
        """Forget the last interval (its beat was withdrawn)."""
        if self.recent:
            last = self.recent.pop()
            if self.regular and self.regular[-1] == last:
                self.regular.pop()
        self.mean = float(np.mean(self.regular)) if self.regular else None


def r_peaks(x, fs, conf=None):
    """R-peak sample indices of every lead ``x`` ``(..., n_samples)`` at ``fs`` Hz.

    Parameters
    ----------
    x : numpy.ndarray
        Signals, time on the last axis. A 1-D lead gives one int64 array.
    fs : float
        Sampling rate in Hz.
    conf : PanTompkinsConf or None
        Detector parameters.

    Returns
    -------
    numpy.ndarray
        For a 1-D ``x``: int64 ``(n_peaks,)``. Otherwise an object array of shape
        ``x.shape[:-1]`` holding one such array per lead.

    Examples
    --------
    >>> t = np.arange(3000) / 300
    >>> r_peaks(np.exp(-((t % 1.0) - 0.5) ** 2 / 0.0002), fs=300)
    array([ 150,  450,  750, 1050, 1350, 1650, 1950, 2250, 2550, 2850])
    """
    detector = PanTompkins(fs, conf)
    x = np.asarray(x)
    if x.ndim == 1:
        return detector.detect(x)
    rows = x.reshape(-1, x.shape[-1])
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):  # the decision rules are sequential in time
        out[i] = detector.detect(row)
    return out.reshape(x.shape[:-1])


def rr_intervals(peaks, fs):
    """RR intervals in seconds between successive R peaks (sample indices at ``fs`` Hz).

    Examples
    --------
    >>> rr_intervals(np.array([0, 300, 540]), fs=300)
    array([1. , 0.8])
    """
    return np.diff(np.asarray(peaks, dtype=np.float64)) / fs


def heart_rate(peaks, fs):
    """Mean heart rate in beats per minute: 60 over the mean RR interval (NaN under 2 peaks).

    Examples
    --------
    >>> float(heart_rate(np.array([0, 300, 600, 900]), fs=300))
    60.0
    """
    rr = rr_intervals(peaks, fs)
    return 60.0 / rr.mean() if len(rr) else np.nan
