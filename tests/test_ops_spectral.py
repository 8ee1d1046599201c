"""ecg.ops.spectral and ecg.ops.wavelets against numpy.fft, scipy.signal and PyWavelets on real records."""
import doctest

import numpy as np
import pytest
import pywt
import wfdb
from scipy import signal

from ecg.errors import SignalError
from ecg.ops import spectral, wavelets


@pytest.fixture(scope="module")
def ptbxl(fixture_dir):
    """PTB-XL record 1 at 500 Hz: 12 leads x 5000 samples, float32, read by wfdb."""
    rec = wfdb.rdrecord(str(fixture_dir / "ptbxl" / "records500" / "00000" / "00001_hr"))
    return rec.p_signal.T.astype(np.float32)


@pytest.fixture(scope="module")
def cinc(fixture_dir):
    """CinC 2017 A00001 (300 Hz, odd length after a 1-sample cut: 8999 samples), float64."""
    return wfdb.rdrecord(str(fixture_dir / "cinc2017" / "A00001")).p_signal.T[:, :8999]


def test_fourier_transforms_are_numpys(ptbxl, cinc):
    for x in (ptbxl, cinc):
        ref = x.astype(np.float64)
        np.testing.assert_allclose(spectral.fft(x), np.fft.fft(ref, axis=-1), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(spectral.rfft(x, n=4096, norm="ortho"), np.fft.rfft(ref, n=4096, norm="ortho"),
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(spectral.irfft(spectral.rfft(x), n=x.shape[-1]), ref, atol=1e-5)
        np.testing.assert_allclose(spectral.ifft(spectral.fft(x)).real, ref, atol=1e-5)
    assert spectral.fft(ptbxl).dtype == np.complex64 and spectral.rfft(cinc).dtype == np.complex128
    assert spectral.irfft(spectral.rfft(ptbxl)).dtype == np.float32
    np.testing.assert_array_equal(spectral.rfft_frequencies(5000, 500), np.fft.rfftfreq(5000, 1 / 500))
    np.testing.assert_array_equal(spectral.fft_frequencies(8999, 300), np.fft.fftfreq(8999, 1 / 300))


def test_spectrogram_is_scipys(ptbxl):
    freqs, times, values = spectral.spectrogram(ptbxl, 500, nperseg=500, noverlap=250)
    ref_f, ref_t, ref_v = signal.spectrogram(ptbxl, fs=500, nperseg=500, noverlap=250)
    np.testing.assert_array_equal(freqs, ref_f)
    np.testing.assert_array_equal(times, ref_t)
    np.testing.assert_allclose(values, ref_v, rtol=1e-5)
    assert values.shape == (12, 251, 19)
    _, _, magnitude = spectral.spectrogram(ptbxl[0], 500, nperseg=256, window=("tukey", 0.25), mode="magnitude")
    np.testing.assert_allclose(magnitude, signal.spectrogram(ptbxl[0], 500, ("tukey", 0.25), 256,
                                                             mode="magnitude")[2], rtol=1e-5)


def test_spectrogram_refuses_segments_longer_than_the_signal():
    with pytest.raises(SignalError, match="nperseg <= 100"):
        spectral.spectrogram(np.zeros(100), 100, nperseg=256)
    with pytest.raises(SignalError, match="noverlap < nperseg"):
        spectral.spectrogram(np.zeros(1000), 100, nperseg=100, noverlap=100)


@pytest.mark.parametrize("wavelet, mode", [("db4", "symmetric"), ("sym5", "periodization"), ("haar", "zero")])
def test_wavelet_transforms_are_pywavelets(ptbxl, cinc, wavelet, mode):
    for x in (ptbxl, cinc):
        coeffs = wavelets.dwt(x, wavelet, mode)
        approx, detail = pywt.dwt(x, wavelet, mode=mode, axis=-1)
        np.testing.assert_array_equal(coeffs[..., 0, :], approx)
        np.testing.assert_array_equal(coeffs[..., 1, :], detail)
        np.testing.assert_allclose(wavelets.idwt(coeffs, wavelet, mode, n_samples=x.shape[-1]), x, atol=1e-5)
        decomposition = wavelets.wavedec(x, wavelet, level=3, mode=mode)
        for ours, ref in zip(decomposition, pywt.wavedec(x, wavelet, mode=mode, level=3, axis=-1), strict=True):
            np.testing.assert_array_equal(ours, ref)
        np.testing.assert_allclose(wavelets.waverec(decomposition, wavelet, mode, n_samples=x.shape[-1]), x,
                                   atol=1e-5)


def test_cwt_is_pywavelets(cinc):
    scales = pywt.scale2frequency("morl", 1) * 300 / np.array([40.0, 20.0, 10.0, 5.0])
    coefs, freqs = wavelets.cwt(cinc[:, :3000], 300, scales)
    ref, ref_freqs = pywt.cwt(cinc[:, :3000], scales, "morl", sampling_period=1 / 300, axis=-1)
    np.testing.assert_allclose(coefs, np.moveaxis(ref, 0, -2))
    np.testing.assert_allclose(freqs, ref_freqs)
    np.testing.assert_allclose(freqs, [40.0, 20.0, 10.0, 5.0])
    complex_coefs, _ = wavelets.cwt(cinc[0, :1000], 300, [8.0], wavelet="cmor1.5-1.0")
    assert np.iscomplexobj(complex_coefs) and complex_coefs.shape == (1, 1000)


def test_wavelet_errors_say_what_is_valid():
    with pytest.raises(SignalError, match="discrete wavelet"):
        wavelets.dwt(np.zeros(64), "morl")
    with pytest.raises(SignalError, match="padding mode"):
        wavelets.dwt(np.zeros(64), "db4", mode="edge")
    with pytest.raises(SignalError, match="level <= "):
        wavelets.wavedec(np.zeros(64), "db4", level=9)
    with pytest.raises(SignalError, match="continuous wavelet"):
        wavelets.cwt(np.zeros(64), 100, [2.0], wavelet="db4")
    with pytest.raises(SignalError, match="positive, finite scales"):
        wavelets.cwt(np.zeros(64), 100, [0.0])
    with pytest.raises(SignalError, match=r"\(\.\.\., 2, n_coeffs\)"):
        wavelets.idwt(np.zeros((3, 10)))


def test_docstring_examples():
    for module in (spectral, wavelets):
        assert doctest.testmod(module, extraglobs={"np": np}).failed == 0
