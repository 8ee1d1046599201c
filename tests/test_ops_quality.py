"""ecg.ops.quality on real CinC 2017 / PTB-XL records, clean and with known defects added."""
import doctest

import numpy as np
import pytest
import wfdb

from ecg.ops import augment, quality


@pytest.fixture(scope="module")
def ptbxl(fixture_dir):
    return wfdb.rdrecord(str(fixture_dir / "ptbxl" / "records500" / "00000" / "00001_hr")).p_signal.T


def test_clean_record_passes(ptbxl, cinc_dir):
    assert quality.quality_flags(ptbxl, 500)[..., 3].all()
    cinc = wfdb.rdrecord(str(cinc_dir / "A00001")).p_signal.T
    assert quality.quality_flags(cinc, 300)[0, 3] == 1


def test_flat_line(ptbxl):
    x = ptbxl.copy()
    x[3, :3000] = 0.2
    flat = quality.flat_fraction(x, 500)
    assert flat[3] == pytest.approx(0.6) and flat[0] == 0
    assert quality.quality_flags(x, 500, max_flat=0.5)[3, 3] == 0


def test_saturation(ptbxl):
    x = ptbxl.copy()
    x[1] = np.clip(x[1], -0.05, 0.05)
    sat = quality.saturation_fraction(x)
    expected = ((ptbxl[1] >= 0.05) | (ptbxl[1] <= -0.05)).mean()
    assert sat[1] == pytest.approx(expected, abs=0.02) and sat[0] < 0.01


def test_noise(ptbxl):
    noisy = augment.emg_noise(ptbxl[None], 500, np.random.default_rng(0), snr_db=0)[0]
    assert (quality.noise_level(noisy, 500) > 3 * quality.noise_level(ptbxl, 500)).all()


def test_docstring_examples():
    assert doctest.testmod(quality, extraglobs={"np": np}).failed == 0
