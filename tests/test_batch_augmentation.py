"""AugmentationMixin actions of EcgBatch on real PTB-XL and CinC 2017 records."""
import numpy as np
import pytest
from batchflow import DatasetIndex

from ecg.batch import EcgBatch

PTBXL = ["00001_hr", "00002_hr", "00003_hr", "00004_hr"]


@pytest.fixture
def ptbxl(fixture_dir):
    folder = fixture_dir / "ptbxl" / "records500" / "00000"
    return EcgBatch(DatasetIndex(PTBXL)).load(src=str(folder), fmt="wfdb")


ACTIONS = [("add_gaussian_noise", {"snr_db": 10}), ("add_uniform_noise", {}), ("add_baseline_wander", {}), ("add_emg_noise", {}),
           ("add_powerline_noise", {"freq": 60}), ("scale_amplitude", {}), ("flip_polarity", {"p": 1}),
           ("stretch_time", {}), ("warp_time", {}), ("cutout_signals", {}), ("dropout_leads", {})]


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


def test_noise_action_reaches_its_snr_per_lead(ptbxl):
    raw = np.stack(list(ptbxl.signal)).astype(np.float64)
    ptbxl.add_gaussian_noise(snr_db=15, seed=4)
    noise = np.stack(list(ptbxl.signal)) - raw
    measured = 10 * np.log10(raw.var(-1) / noise.var(-1))
    np.testing.assert_allclose(measured, 15, atol=0.3)
    # white: no band holds much more than its share of the noise power
    spectrum = np.abs(np.fft.rfft(noise[0, 1])) ** 2
    bands = np.array_split(spectrum[1:], 10)
    shares = np.array([b.sum() for b in bands]) / spectrum[1:].sum()
    assert shares.max() < 0.15


def test_uniform_noise_is_bounded_flat_and_of_its_amplitude(ptbxl):
    raw = np.stack(list(ptbxl.signal)).astype(np.float64)
    ptbxl.add_uniform_noise(amplitude=0.05, seed=3)
    noise = (np.stack(list(ptbxl.signal)) - raw).ravel()
    assert np.abs(noise).max() <= 0.05 + 1e-6            # float32 rounding of the sum
    # U(-a, a): SD a / sqrt(3), and flat: each tenth of the range holds a tenth of the samples
    np.testing.assert_allclose(noise.std(), 0.05 / np.sqrt(3), rtol=0.02)
    counts, _ = np.histogram(noise, bins=10, range=(-0.05, 0.05))
    np.testing.assert_allclose(counts / noise.size, 0.1, atol=0.01)


def test_probability_zero_changes_nothing(ptbxl):
    raw = np.stack(list(ptbxl.signal))
    ptbxl.add_emg_noise(p=0.0).scale_amplitude(p=0.0)
    np.testing.assert_array_equal(np.stack(list(ptbxl.signal)), raw)


def test_probability_half_augments_about_half(fixture_dir):
    folder = fixture_dir / "ptbxl" / "records500" / "00000"
    batch = EcgBatch(DatasetIndex(PTBXL)).load(src=str(folder), fmt="wfdb")
    raw = np.concatenate([np.stack(list(batch.signal))] * 50)          # 200 items
    batch = EcgBatch(DatasetIndex(np.arange(200)))
    batch.set_component("signal", list(raw))
    batch.set_component("meta", [{"fs": 500.0} for _ in range(200)])
    batch.scale_amplitude(2.0, 2.0, p=0.5, seed=1)
    doubled = [np.allclose(s, 2 * r) for s, r in zip(batch.signal, raw)]
    kept = [np.array_equal(s, r) for s, r in zip(batch.signal, raw)]
    assert all(d != k for d, k in zip(doubled, kept))
    assert 70 <= sum(doubled) <= 130


def test_uses_batch_random_without_seed(fixture_dir):
    folder = fixture_dir / "ptbxl" / "records500" / "00000"
    outs = []
    for seed in (5, 5, 6):
        batch = EcgBatch(DatasetIndex(PTBXL)).load(src=str(folder), fmt="wfdb")
        raw = np.stack(list(batch.signal))
        batch.random_seed = seed
        batch.add_gaussian_noise(snr_db=20)
        outs.append(np.stack(list(batch.signal)))
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], outs[2])
    np.testing.assert_allclose(10 * np.log10(raw.var(-1) / (outs[0] - raw).var(-1)), 20, atol=0.3)


def test_random_crop_on_segments(cinc_dir):
    batch = EcgBatch(DatasetIndex(["A00001", "A00004"])).load(src=str(cinc_dir), fmt="wfdb")
    batch.split_signals(3000)
    segments = [s.copy() for s in batch.signal]
    batch.random_crop_signals(2000, seed=0)
    assert batch.signal[0].shape == (3, 1, 2000)
    starts = set()
    for cropped, whole in zip(batch.signal, segments):
        for crop, segment in zip(cropped, whole):
            hits = [s for s in range(1001) if np.array_equal(segment[:, s:s + 2000], crop)]
            assert hits, "a crop is not a contiguous part of its own segment"
            starts.add(hits[0])
    assert len(starts) > 1                                   # each segment gets its own start
    assert batch.meta[0]["segment_length"] == 2000
