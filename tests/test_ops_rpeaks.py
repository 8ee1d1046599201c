"""ecg.ops.rpeaks on the full MIT-BIH fixture records against their beat annotations."""
import doctest

import numpy as np
import pytest
import wfdb
from wfdb import processing

from ecg.ops import rpeaks

BEATS = ["N", "L", "R", "e", "j", "A", "a", "J", "S", "V", "E", "F", "/", "f", "Q"]


def score(fixture_dir, name):
    path = str(fixture_dir / "mitdb" / name)
    record, ann = wfdb.rdrecord(path, channels=[0]), wfdb.rdann(path, "atr")
    peaks = rpeaks.r_peaks(record.p_signal[:, 0], record.fs)
    reference = ann.sample[np.isin(ann.symbol, BEATS)]
    cmp = processing.compare_annotations(reference, peaks, int(0.15 * record.fs))
    return cmp.tp / (cmp.tp + cmp.fn), cmp.tp / (cmp.tp + cmp.fp), peaks, reference


@pytest.mark.parametrize("name, min_se, min_ppv", [("100", 0.999, 0.999), ("208", 0.99, 0.995),
                                                   ("201", 0.96, 0.995)])
def test_sensitivity_and_predictivity(fixture_dir, name, min_se, min_ppv):
    se, ppv, _, _ = score(fixture_dir, name)
    assert se >= min_se and ppv >= min_ppv, (se, ppv)


def test_peaks_sit_on_r_waves(fixture_dir):
    _, _, peaks, reference = score(fixture_dir, "100")
    nearest = reference[np.abs(reference[None, :200] - peaks[:200, None]).argmin(axis=1)]
    assert np.median(np.abs(peaks[:200] - nearest)) <= 3   # samples at 360 Hz


def test_works_at_other_rates_and_shapes(fixture_dir):
    path = str(fixture_dir / "mitdb" / "100")
    x = wfdb.rdrecord(path, sampto=360 * 60).p_signal.T
    from ecg.ops.resample import resample, resample_indices
    at_250 = rpeaks.r_peaks(resample(x, 360, 250), 250)
    assert at_250.shape == (2,) and at_250.dtype == object
    at_360 = rpeaks.r_peaks(x[0], 360)
    assert np.abs(resample_indices(at_360, 360, 250) - at_250[0][:len(at_360)]).max() <= 3


def test_heart_rate_and_rr(fixture_dir):
    _, _, peaks, reference = score(fixture_dir, "100")
    assert abs(rpeaks.heart_rate(peaks, 360) - rpeaks.heart_rate(reference, 360)) < 0.5
    assert rpeaks.rr_intervals(peaks, 360).shape == (len(peaks) - 1,)
    assert np.isnan(rpeaks.heart_rate(peaks[:1], 360))


def test_short_or_flat_signal_gives_no_peaks():
    assert rpeaks.r_peaks(np.zeros(20), 360).size == 0
    with pytest.raises(ValueError, match="one lead"):
        rpeaks.PanTompkins(360).detect(np.zeros((2, 1000)))


def test_docstring_examples():
    assert doctest.testmod(rpeaks, extraglobs={"np": np}).failed == 0
