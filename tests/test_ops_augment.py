"""ecg.ops.augment on real PTB-XL records: measured SNR, spectra, reproducibility, probability p."""
import doctest

import numpy as np
import pytest
import wfdb
from scipy import signal

from ecg.ops import augment


@pytest.fixture(scope="module")
def x(fixture_dir):
    folder = fixture_dir / "ptbxl" / "records500" / "00000"
    return np.stack([wfdb.rdrecord(str(folder / f"0000{k}_hr")).p_signal.T for k in (1, 2, 3, 4)]).astype("float32")


def rng(seed=0):
    return np.random.default_rng(seed)


def snr(clean, noisy):
    return 10 * np.log10(clean.var(-1) / (noisy - clean).var(-1))


@pytest.mark.parametrize("func", [augment.gaussian_noise, lambda x, r, snr_db: augment.emg_noise(x, 500, r, snr_db)])
def test_noise_at_requested_snr(x, func):
    out = func(x, rng(), snr_db=12)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(snr(x, out), 12, atol=0.5)


def test_emg_noise_is_high_frequency(x):
    noise = augment.emg_noise(x, 500, rng(), snr_db=10) - x
    freqs, power = signal.welch(noise[0, 0], fs=500, nperseg=512)
    assert power[freqs < 10].sum() < 0.02 * power.sum()


def test_powerline_noise_at_50_hz(x):
    hum = augment.powerline_noise(x, 500, rng(), amplitude=0.1) - x
    freqs, power = signal.welch(hum[0, 0], fs=500, nperseg=1000)
    assert freqs[np.argmax(power)] == 50


def test_baseline_wander_is_slow(x):
    wander = augment.baseline_wander(x, 500, rng(), amplitude=0.3) - x
    freqs, power = signal.welch(wander[0, 0], fs=500, nperseg=5000)
    assert power[freqs > 1].sum() < 0.01 * power.sum()


def test_reproducible_and_probability(x):
    a = augment.gaussian_noise(x, rng(3), p=0.5)
    b = augment.gaussian_noise(x, rng(3), p=0.5)
    assert np.array_equal(a, b)
    changed = [not np.array_equal(a[i], x[i]) for i in range(len(x))]
    assert any(changed)
    assert np.array_equal(augment.amplitude_scale(x, rng(), p=0.0), x)


def test_scale_and_flip(x):
    out = augment.amplitude_scale(x, rng(), 2, 2)
    np.testing.assert_allclose(out, 2 * x)
    np.testing.assert_array_equal(augment.polarity_flip(x, rng(), p=1), -x)


def fitted_stretch(x, out):
    """The factor f whose stretch ``interp(x, t / f)`` best explains ``out``: grid, then refined."""
    from scipy.optimize import minimize_scalar

    n = x.shape[-1]

    def error(f):
        t = np.arange(n) / f
        valid = t <= n - 1
        return np.abs(np.interp(t[valid], np.arange(n), x) - out[valid]).max()

    grid = np.arange(0.7, 1.3001, 0.0005)
    f0 = grid[np.argmin([error(f) for f in grid])]
    best = minimize_scalar(error, bounds=(f0 - 0.0005, f0 + 0.0005), method="bounded",
                           options={"xatol": 1e-10})
    return best.x, best.fun


def test_time_stretch_is_a_linear_stretch_of_the_record(x):
    out = augment.time_stretch(x[:, :1], rng(5), max_stretch=0.2)
    factors = []
    for item in range(len(x)):
        f, err = fitted_stretch(x[item, 0].astype(np.float64), out[item, 0].astype(np.float64))
        assert err < 1e-4 and 0.8 <= f <= 1.2
        factors.append(f)
        if f < 1:                                  # compression pads with the last value
            tail = np.arange(5000) / f > 4999
            np.testing.assert_allclose(out[item, 0][tail], x[item, 0, -1], atol=1e-6)
    assert len(set(np.round(factors, 4))) == len(x)       # each item has its own factor
    untouched = augment.time_stretch(x, rng(6), max_stretch=0.2, p=0.0)
    np.testing.assert_array_equal(untouched, x)


def test_time_warp_is_monotonic_keeps_ends_and_moves_beats(fixture_dir):
    import wfdb

    from ecg.ops.rpeaks import r_peaks

    sig = wfdb.rdrecord(str(fixture_dir / "mitdb/100"), sampto=3600).p_signal.T[None, :1].astype("float32")
    warped = augment.time_warp(sig, rng(2), max_warp=0.15)
    assert warped.shape == sig.shape and warped.dtype == np.float32
    assert warped[0, 0, 0] == sig[0, 0, 0] and np.isclose(warped[0, 0, -1], sig[0, 0, -1])
    before, after = r_peaks(sig[0, 0], 360), r_peaks(warped[0, 0], 360)
    assert len(before) == len(after)                        # the same beats, at new places
    shift = np.abs(after - before)
    assert shift.max() > 5 and shift.max() < 0.15 * 3600
    np.testing.assert_array_equal(augment.time_warp(sig, rng(2), max_warp=0.15), warped)   # seeded
    np.testing.assert_array_equal(augment.time_warp(sig, rng(2), max_warp=0.0), sig)


def test_random_crop_cutout_and_lead_dropout(x):
    crop = augment.random_crop(x, rng(), 1000)
    assert crop.shape == (4, 12, 1000)
    start = np.random.default_rng(0).integers(0, 4001, size=4)[0]
    np.testing.assert_array_equal(crop[0], x[0, :, start:start + 1000])
    with pytest.raises(ValueError, match="length=6000"):
        augment.random_crop(x, rng(), 6000)
    cut = augment.cutout(x, 500, rng(), duration=0.5)
    assert ((cut == 0).all(axis=1).sum(axis=-1) >= 250).all()
    dropped = augment.lead_dropout(x, rng(), rate=1.0)
    zero_leads = (dropped == 0).all(axis=-1).sum(axis=-1)
    assert (zero_leads == 11).all()


def test_docstring_examples():
    assert doctest.testmod(augment, extraglobs={"np": np}).failed == 0


# --- the realistic noise of the denoising task (noise_signals, noise_at_snr) ---------------
def band_share(noise, fs, low, high):
    """Share of the noise power in [low, high] Hz (Welch's estimate, scipy)."""
    freqs, power = signal.welch(noise, fs=fs, nperseg=min(noise.shape[-1], 4096), axis=-1)
    return power[..., (freqs >= low) & (freqs <= high)].sum(axis=-1) / power.sum(axis=-1)


@pytest.mark.parametrize("kind, low, high, share", [("bw", 0.0, 0.7, 0.95), ("ma", 18.0, 160.0, 0.95),
                                                    ("pl", 59.0, 61.0, 0.6), ("em", 0.0, 15.0, 0.9)])
def test_noise_kinds_have_unit_power_in_their_band(kind, low, high, share):
    noise = augment.noise_signals(kind, (3, 2, 18000), 500, rng(), powerline_freq=60.0)
    assert noise.shape == (3, 2, 18000)
    np.testing.assert_allclose(noise.var(axis=-1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(noise.mean(axis=-1), 0.0, atol=1e-9)
    assert (band_share(noise, 500, low, high) > share).all()


def test_electrode_motion_has_steps_that_decay():
    em = augment.electrode_motion((1, 36000), 360, rng(4), rate=0.2)[0]
    jumps = np.abs(np.diff(em))
    assert jumps.max() > 20 * np.median(jumps)      # abrupt events, not a smooth noise
    assert not np.array_equal(em, augment.electrode_motion((1, 36000), 360, rng(5), rate=0.2)[0])


def test_noise_at_snr_on_a_real_record(fixture_dir):
    record = wfdb.rdrecord(str(fixture_dir / "mitdb" / "100"), sampto=36000)
    clean = record.p_signal.T.reshape(2, 1, 2, 18000)              # 2 items of 2 leads
    noise = augment.noise_at_snr(clean, 360, rng(1), snr_db=-6, powerline_freq=60.0)
    power = lambda v: np.mean((v - v.mean(axis=-1, keepdims=True)) ** 2, axis=-1)  # noqa: E731
    np.testing.assert_allclose(10 * np.log10(power(clean) / power(noise)), -6.0, atol=1e-9)
    drawn = augment.noise_at_snr(clean, 360, rng(2), snr_db=(0, 12))
    snrs = 10 * np.log10(power(clean) / power(drawn))
    assert ((snrs >= 0) & (snrs <= 12)).all() and np.ptp(snrs[:, 0, 0]) > 0
    np.testing.assert_allclose(snrs[:, 0, 0], snrs[:, 0, 1])       # one SNR per item, every lead
    assert np.array_equal(noise, augment.noise_at_snr(clean, 360, rng(1), snr_db=-6, powerline_freq=60.0))
    hum = augment.noise_at_snr(clean, 360, rng(1), snr_db=0, kinds=["pl"], powerline_freq=60.0)
    freqs, spectrum = signal.welch(hum[0, 0, 0], fs=360, nperseg=3600)
    assert freqs[np.argmax(spectrum)] == 60
    with pytest.raises(ValueError, match="noise kind"):
        augment.noise_at_snr(clean, 360, rng(), 0, kinds=["hum"])
    with pytest.raises(ValueError, match="at least one"):
        augment.noise_at_snr(clean, 360, rng(), 0, kinds=[])


def test_add_noise_at_snr_action_keeps_the_clean_target(fixture_dir):
    from batchflow import DatasetIndex

    from ecg.batch import EcgBatch

    batch = EcgBatch(DatasetIndex(["100"])).load(src=str(fixture_dir / "mitdb"), fmt="wfdb",
                                                 components=["signal", "meta"])
    clean = batch.signal[0].copy()
    batch = batch.add_noise_at_snr(snr_db=3, clean_target=True, seed=7)
    np.testing.assert_array_equal(batch.target[0], clean.T)
    noise = batch.signal[0].astype(np.float64) - clean
    assert batch.signal[0].dtype == clean.dtype
    np.testing.assert_allclose(10 * np.log10(clean.var(axis=-1) / noise.var(axis=-1)), 3.0, atol=1e-3)
