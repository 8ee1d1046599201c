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
