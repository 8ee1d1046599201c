"""AugmentationMixin actions of EcgBatch on real PTB-XL and CinC 2017 records."""
import numpy as np
import pytest
from batchflow import DatasetIndex

from ecg.batch import EcgBatch
from ecg.ops import augment

PTBXL = ["00001_hr", "00002_hr", "00003_hr", "00004_hr"]


@pytest.fixture
def ptbxl(fixture_dir):
    folder = fixture_dir / "ptbxl" / "records500" / "00000"
    return EcgBatch(DatasetIndex(PTBXL)).load(src=str(folder), fmt="wfdb")


ACTIONS = [("add_gaussian_noise", {"snr_db": 10}), ("add_baseline_wander", {}), ("add_emg_noise", {}),
           ("add_powerline_noise", {"freq": 60}), ("scale_amplitude", {}), ("flip_polarity", {"p": 1}),
           ("stretch_time", {}), ("warp_time", {}), ("cutout_signals", {}), ("drop_leads", {})]


@pytest.mark.parametrize("name, kwargs", ACTIONS)
def test_action_reproducible_with_seed(fixture_dir, name, kwargs):
    folder = fixture_dir / "ptbxl" / "records500" / "00000"
    runs = []
    for seed in (1, 1, 2):
        batch = EcgBatch(DatasetIndex(PTBXL)).load(src=str(folder), fmt="wfdb")
        raw = np.stack(list(batch.signal))
        out = getattr(batch, name)(seed=seed, **kwargs)
        assert out is batch
        runs.append(np.stack(list(batch.signal)))
    assert runs[0].dtype == np.float32 and runs[0].shape == raw.shape
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], raw)
    if name != "flip_polarity":
        assert not np.array_equal(runs[0], runs[2])


def test_matches_ops_with_same_generator(ptbxl):
    raw = np.stack(list(ptbxl.signal))
    ptbxl.add_gaussian_noise(snr_db=15, seed=4)
    expected = augment.gaussian_noise(raw, np.random.default_rng(4), snr_db=15)
    np.testing.assert_array_equal(np.stack(list(ptbxl.signal)), expected)


def test_probability_zero_changes_nothing(ptbxl):
    raw = np.stack(list(ptbxl.signal))
    ptbxl.add_emg_noise(p=0.0).scale_amplitude(p=0.0)
    np.testing.assert_array_equal(np.stack(list(ptbxl.signal)), raw)


def test_uses_batch_random_without_seed(ptbxl):
    ptbxl.random_seed = 5
    ptbxl.add_gaussian_noise()
    assert all(np.isfinite(s).all() for s in ptbxl.signal)


def test_random_crop_on_segments(cinc_dir):
    batch = EcgBatch(DatasetIndex(["A00001", "A00004"])).load(src=str(cinc_dir), fmt="wfdb")
    batch.split_signals(3000).random_crop_signals(2000, seed=0)
    assert batch.signal[0].shape == (3, 1, 2000)
