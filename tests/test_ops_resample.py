"""ecg.ops.resample against scipy.signal.resample_poly, and annotation positions on MIT-BIH."""
import doctest

import numpy as np
import pytest
import wfdb
from scipy import signal

from ecg.ops import resample


@pytest.mark.parametrize("fs, new_fs, up, down", [(500, 250, 1, 2), (360, 250, 25, 36),
                                                  (300, 500, 5, 3), (128.5, 257, 2, 1)])
def test_ratio(fs, new_fs, up, down):
    assert resample.resample_ratio(fs, new_fs) == (up, down)


def test_ratio_rejects_non_positive():
    with pytest.raises(ValueError, match="strictly positive"):
        resample.resample_ratio(0, 250)


def test_matches_resample_poly_on_ptbxl(fixture_dir):
    rec = wfdb.rdrecord(str(fixture_dir / "ptbxl" / "records500" / "00000" / "00001_hr"))
    x = rec.p_signal.T.astype("float32")[None]
    out = resample.resample(x, 500, 250)
    assert out.shape == (1, 12, 2500) and out.dtype == np.float32
    np.testing.assert_allclose(out, signal.resample_poly(x, 1, 2, axis=-1), atol=1e-5)
    assert resample.resampled_length(5000, 500, 250) == 2500


def test_mitdb_360_to_250_keeps_annotations_on_r_peaks(fixture_dir):
    path = str(fixture_dir / "mitdb" / "100")
    rec = wfdb.rdrecord(path, sampto=360 * 120)
    ann = wfdb.rdann(path, "atr", sampto=360 * 120)
    x = rec.p_signal.T.astype("float32")
    out = resample.resample(x, 360, 250)
    np.testing.assert_allclose(out, signal.resample_poly(x, 25, 36, axis=-1), atol=1e-5)
    assert out.shape[-1] == resample.resampled_length(x.shape[-1], 360, 250) == 30000
    beats = ann.sample[np.isin(ann.symbol, ["N", "A", "V"])]
    moved = resample.resample_indices(beats, 360, 250, n_samples=out.shape[-1])
    np.testing.assert_array_equal(moved, np.floor(beats * 250 / 360 + 0.5).astype(np.int64))
    # The R peak under each annotation is still under it (within 1 sample at 250 Hz).
    lead = out[0]
    old_offsets = [np.argmax(x[0, s - 18:s + 18]) - 18 for s in beats[1:-1]]
    new_offsets = [np.argmax(lead[s - 12:s + 12]) - 12 for s in moved[1:-1]]
    assert np.abs(np.array(new_offsets) - np.array(old_offsets) * 250 / 360).max() <= 1.5


def test_same_rate_is_a_copy():
    x = np.arange(10.0)
    out = resample.resample(x, 250, 250)
    assert out is not x and np.array_equal(out, x)


def test_docstring_examples():
    assert doctest.testmod(resample, extraglobs={"np": np}).failed == 0
