"""ecg.ops.filters against scipy.signal called directly, on real CinC 2017, PTB-XL and MIT-BIH records.

Each filter is compared with its definition written out with scipy (Butterworth +
sosfiltfilt, iirnotch + filtfilt, firwin + filtfilt, medfilt twice) and checked against
frequency-domain properties: what it must pass, what it must remove.
"""
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
def mitdb_100(fixture_dir):
    """MIT-BIH 100, first 10 s (2 leads, 360 Hz), (2, 3600), and its beat annotations in them."""
    path = str(fixture_dir / "mitdb" / "100")
    x = wfdb.rdrecord(path, sampto=3600).p_signal.T.astype("float32")
    ann = wfdb.rdann(path, "atr", sampto=3600)
    beats = ann.sample[np.isin(ann.symbol, ["N", "A", "V"])]
    return x, beats


FS_100 = 360
T_100 = np.arange(3600) / FS_100
# 2 s at each end left out of spectral measures (zero-phase filters' edge transients);
# the 6 s left hold a whole number of periods of every frequency measured below.
INNER = slice(720, -720)


def _tone(freq, amplitude=1.0):
    return (amplitude * np.sin(2 * np.pi * freq * T_100)).astype("float32")


def _amplitude(y, freq):
    """Amplitude of the ``freq`` Hz sinusoid in ``y`` (last axis at 360 Hz) over ``INNER``."""
    return 2 * np.abs((y[..., INNER] * np.exp(-2j * np.pi * freq * T_100[INNER])).mean(axis=-1))


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


# Default taps, by the docstring's rule: 3 / lowest cut-off seconds (3 / 0.5 Hz = 2160 taps
# for 0.5 Hz, capped at a third of the 3600 samples: 1199, odd; 3 / 40 Hz = 27 taps).
@pytest.mark.parametrize("low, high, n_taps, pass_zero", [(0.5, 40, 1199, "bandpass"), (0.5, None, 1199, "highpass"),
                                                          (None, 40, 27, "lowpass")])
def test_fir_band_pass_matches_firwin_filtfilt(mitdb_100, low, high, n_taps, pass_zero):
    x, _ = mitdb_100
    taps = signal.firwin(n_taps, [f for f in (low, high) if f is not None], window="hamming",
                         pass_zero=pass_zero, fs=FS_100)
    expected = signal.filtfilt(taps, [1.0], x.astype(np.float64), axis=-1)
    out = filters.fir_band_pass(x, FS_100, low, high)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-6 * np.abs(expected).max())


def test_fir_band_pass_passes_the_band_and_stops_the_rest(mitdb_100):
    x, _ = mitdb_100
    kept, stopped = (10, 25), (50, 60, 100)
    noisy = x + sum(_tone(f) for f in kept + stopped)
    out = filters.fir_band_pass(noisy, FS_100, 0.5, 40)
    for f in kept:      # 1 mV tones over the record's own content at f (about 0.02 mV)
        assert np.all((_amplitude(out, f) > 0.9) & (_amplitude(out, f) < 1.1)), f
    for f in stopped:   # > 40 dB down
        assert np.all(_amplitude(out, f) < 1e-2), f
    # A window-method FIR has half its gain at each cut-off; forwards and backwards: a quarter.
    for f in (0.5, 40):
        assert abs(_amplitude(filters.fir_band_pass(_tone(f), FS_100, 0.5, 40), f) - 0.25) < 0.01, f


def test_notch_matches_iirnotch_filtfilt(mitdb_100):
    x, _ = mitdb_100
    b, a = signal.iirnotch(50, 30, fs=FS_100)
    expected = signal.filtfilt(b, a, x.astype(np.float64), axis=-1)
    out = filters.notch(x, FS_100, 50)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-6 * np.abs(expected).max())
    # harmonics=3 of 60 Hz at 360 Hz: notches at 60 and 120 Hz, none at the Nyquist 180 Hz.
    expected = x.astype(np.float64)
    for f in (60, 120):
        b, a = signal.iirnotch(f, 30, fs=FS_100)
        expected = signal.filtfilt(b, a, expected, axis=-1)
    # one filtfilt per notch pads each edge once per notch: compare away from the edges
    np.testing.assert_allclose(filters.notch(x, FS_100, 60, harmonics=3)[:, INNER], expected[:, INNER],
                               atol=1e-6 * np.abs(expected).max())


def test_notch_removes_the_mains_frequency_only(mitdb_100):
    x, _ = mitdb_100
    out = filters.notch(x + _tone(50) + _tone(10), FS_100, 50)
    assert np.all(_amplitude(out, 50) < 10 ** (-30 / 20))                        # > 30 dB down
    assert np.all((_amplitude(out, 10) > 0.9) & (_amplitude(out, 10) < 1.1))
    # quality 30: the -3 dB band is 50 / 30 Hz wide, where filtfilt's gain is 1/2
    for f in (50 - 25 / 30, 50 + 25 / 30):
        assert abs(_amplitude(filters.notch(_tone(f), FS_100, 50), f) - 0.5) < 0.02, f
    out = filters.notch(x + _tone(60) + _tone(120) + _tone(90), FS_100, 60, harmonics=3)
    assert np.all(_amplitude(out, 60) < 10 ** (-30 / 20)) and np.all(_amplitude(out, 120) < 10 ** (-30 / 20))
    assert np.all(_amplitude(out, 90) > 0.9)


def test_notch_60_hz_skips_harmonics_above_nyquist():
    assert filters.notch_sos(300, 60, harmonics=5).shape == (2, 6)


def test_median_baseline_matches_scipy_medfilt(cinc, mitdb_100):
    # 200 and 600 ms at 300 Hz: 61 and 181 samples; at 360 Hz: 73 and 217 (odd, as medfilt needs).
    x, _ = mitdb_100
    for lead, fs, sizes in ((cinc[0, 0], 300, (61, 181)), (x[0], FS_100, (73, 217))):
        lead = lead.astype(np.float64)
        expected = signal.medfilt(signal.medfilt(lead, sizes[0]), sizes[1])
        # medfilt pads with zeros, median_filter repeats the edge: compare past both half-windows.
        edge = (sizes[0] + sizes[1]) // 2
        np.testing.assert_allclose(filters.median_baseline(lead, fs)[edge:-edge], expected[edge:-edge], atol=1e-9)
        np.testing.assert_allclose(filters.remove_baseline(lead, fs)[edge:-edge], (lead - expected)[edge:-edge],
                                   atol=1e-9)


def test_highpass_baseline_matches_butterworth(mitdb_100):
    x, _ = mitdb_100
    sos = signal.butter(4, 0.5, btype="highpass", fs=FS_100, output="sos")
    expected = signal.sosfiltfilt(sos, x.astype(np.float64), axis=-1)
    np.testing.assert_allclose(filters.remove_baseline(x, FS_100, method="highpass"), expected,
                               atol=1e-6 * np.abs(expected).max())


@pytest.mark.parametrize("method", ["median", "highpass"])
def test_remove_baseline_removes_drift_and_keeps_qrs(mitdb_100, method):
    x, beats = mitdb_100
    drift = _tone(0.1)      # 1 mV, one period in the 10 s
    clean = filters.remove_baseline(x, FS_100, method=method)
    out = filters.remove_baseline(x + drift, FS_100, method=method)
    # what is left of the drift: how much adding it changed the output
    residual = np.sqrt(((out - clean) ** 2).mean(axis=-1))
    assert np.all(residual < 0.05 * drift.std())
    # QRS amplitude: peak-to-peak within 50 ms of each annotated beat, against the raw record
    beats = beats[(beats >= 18) & (beats < 3600 - 18)]
    assert len(beats) >= 10
    qrs_in = np.array([np.ptp(x[..., b - 18:b + 18], axis=-1) for b in beats])
    qrs_out = np.array([np.ptp(out[..., b - 18:b + 18], axis=-1) for b in beats])
    assert np.all(np.abs(qrs_out / qrs_in - 1) < 0.1)


def test_remove_baseline_rejects_unknown_methods(cinc):
    with pytest.raises(ValueError, match="method"):
        filters.remove_baseline(cinc, 300, method="wavelet")


def test_docstring_examples():
    assert doctest.testmod(filters, extraglobs={"np": np}).failed == 0
