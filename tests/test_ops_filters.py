"""ecg.ops.filters against scipy.signal called directly, on real CinC 2017 and PTB-XL records."""
import doctest

import numpy as np
import pytest
import wfdb
from scipy import signal

from ecg.ops import filters


@pytest.fixture(scope="module")
def cinc(cinc_dir):
    """Two CinC 2017 records (single lead, 300 Hz) cropped to 9000 samples, (2, 1, 9000)."""
    sigs = [wfdb.rdrecord(str(cinc_dir / name)).p_signal.T[:, :9000] for name in ("A00001", "A00004")]
    return np.stack(sigs).astype("float32")


@pytest.fixture(scope="module")
def ptbxl(fixture_dir):
    """Two PTB-XL records (12 leads, 500 Hz, 10 s), (2, 12, 5000)."""
    folder = fixture_dir / "ptbxl" / "records500" / "00000"
    sigs = [wfdb.rdrecord(str(folder / f"0000{k}_hr")).p_signal.T for k in (1, 2)]
    return np.stack(sigs).astype("float32")


@pytest.mark.parametrize("low, high, btype", [(0.5, 40, "bandpass"), (None, 40, "lowpass"),
                                              (0.5, None, "highpass")])
def test_band_pass_matches_scipy(cinc, ptbxl, low, high, btype):
    for x, fs in ((cinc, 300), (ptbxl, 500)):
        cut = [f for f in (low, high) if f is not None]
        sos = signal.butter(4, cut if len(cut) == 2 else cut[0], btype=btype, fs=fs, output="sos")
        expected = signal.sosfiltfilt(sos, x.astype(np.float64), axis=-1)
        out = filters.band_pass(x, fs, low, high)
        assert out.shape == x.shape and out.dtype == np.float32
        np.testing.assert_allclose(out, expected, atol=1e-4 * np.abs(expected).max())


def test_band_pass_is_zero_phase(ptbxl):
    # Zero phase: the filtered lead lines up with the raw one (cross-correlation peaks at
    # lag 0), where a causal Butterworth delays it.
    lead = ptbxl[0, 1].astype(np.float64) - ptbxl[0, 1].mean()

    def lag(y):
        xcorr = signal.correlate(y, lead, mode="full")
        return int(np.argmax(xcorr)) - (len(lead) - 1)

    assert lag(filters.band_pass(lead, 500, 0.5, 40)) == 0
    assert lag(signal.sosfilt(filters.butter_sos(500, 0.5, 40), lead)) > 0


@pytest.mark.parametrize("low, high", [(0, 40), (0.5, 150), (40, 0.5), (None, None)])
def test_band_pass_rejects_bad_cutoffs(cinc, low, high):
    with pytest.raises(ValueError, match="Expected"):
        filters.band_pass(cinc, 300, low, high)


def test_fir_band_pass_matches_scipy(ptbxl):
    taps = signal.firwin(501, [1, 40], pass_zero="bandpass", fs=500)
    expected = signal.filtfilt(taps, [1.0], ptbxl.astype(np.float64), axis=-1)
    np.testing.assert_allclose(filters.fir_band_pass(ptbxl, 500, 1, 40, n_taps=501), expected,
                               atol=1e-4 * np.abs(expected).max())
    assert filters.fir_band_pass(ptbxl, 500, 1, 40).shape == ptbxl.shape


def test_notch_removes_50_hz_and_harmonics(ptbxl):
    t = np.arange(5000) / 500
    hum = 0.2 * np.sin(2 * np.pi * 50 * t) + 0.1 * np.sin(2 * np.pi * 100 * t)
    noisy = ptbxl + hum.astype("float32")
    out = filters.notch(noisy, 500, 50, harmonics=3)
    sos = np.concatenate([np.concatenate(signal.iirnotch(f, 30, fs=500))[None] for f in (50, 100, 150)])
    np.testing.assert_allclose(out, signal.sosfiltfilt(sos, noisy.astype(np.float64), axis=-1), atol=1e-4)
    freqs, power = signal.welch(out[0, 0], fs=500, nperseg=1000)
    _, power_in = signal.welch(noisy[0, 0], fs=500, nperseg=1000)
    for f in (50, 100):
        k = np.argmin(np.abs(freqs - f))
        assert power[k] < 1e-2 * power_in[k]


def test_notch_60_hz_skips_harmonics_above_nyquist():
    assert filters.notch_sos(300, 60, harmonics=5).shape == (2, 6)


def test_median_baseline_matches_scipy_medfilt(cinc):
    lead = cinc[0, 0].astype(np.float64)
    expected = signal.medfilt(signal.medfilt(lead, 61), 181)
    got = filters.median_baseline(lead, 300)
    # medfilt pads with zeros, median_filter repeats the edge: compare away from the ends.
    np.testing.assert_allclose(got[200:-200], expected[200:-200], atol=1e-9)


def test_remove_baseline_removes_drift(cinc):
    t = np.arange(cinc.shape[-1]) / 300
    drift = (0.8 * np.sin(2 * np.pi * 0.15 * t)).astype("float32")
    for method in ("median", "highpass"):
        clean = filters.remove_baseline(cinc, 300, method=method)
        drifted = filters.remove_baseline(cinc + drift, 300, method=method)
        residual = (drifted - clean)[..., 600:-600]
        # The median estimate bends near QRS complexes: ask for 90 % of the drift gone.
        assert np.sqrt((residual ** 2).mean()) < 0.1 * drift.std()
    with pytest.raises(ValueError, match="method"):
        filters.remove_baseline(cinc, 300, method="wavelet")


def test_docstring_examples():
    assert doctest.testmod(filters, extraglobs={"np": np}).failed == 0
