"""DICOM waveform and WAV readers (ecg.io.dicom, ecg.io.wav) and load(fmt="dicom"|"wav").

References: pydicom's own decoding (``Dataset.waveform_array``) of the 12-lead ECG that
pydicom ships as a test file, and wfdb's physical signal of the MIT-BIH record written
to a WAV file with scipy.
"""
import doctest
import shutil

import numpy as np
import pydicom
import pytest
import wfdb
from pydicom.data import get_testdata_file
from scipy.io import wavfile

from ecg import EcgDataset
from ecg.errors import EcgError, RecordError
from ecg.io import dicom, read_record, wav
from ecg.report import ErrorReport

ECG_DCM = get_testdata_file("waveform_ecg.dcm")
WFDB_KEYS = {"record", "path", "fs", "n_samples", "sig_name", "units", "flat_leads", "invalid_runs"}


def test_dicom_samples_are_pydicoms():
    ds = pydicom.dcmread(ECG_DCM)
    for group in (0, 1):
        reference = ds.waveform_array(group).T          # physical units of the file, microvolts
        raw, meta = dicom.read_dicom(ECG_DCM, group=group, units=None)
        np.testing.assert_allclose(raw, reference, rtol=1e-6)
        assert meta["units"] == ["uV"] * 12
        signal, meta = dicom.read_dicom(ECG_DCM, group=group)
        np.testing.assert_allclose(signal, reference / 1000, rtol=1e-6, atol=1e-7)
        assert signal.dtype == np.float32 and meta["units"] == ["mV"] * 12
        item = ds.WaveformSequence[group]
        assert meta["fs"] == float(item.SamplingFrequency) and meta["n_samples"] == item.NumberOfWaveformSamples
    picked, meta = dicom.read_dicom(ECG_DCM, channels=[1, 6])
    np.testing.assert_allclose(picked, ds.waveform_array(0).T[[1, 6]] / 1000, rtol=1e-6, atol=1e-7)
    assert meta["sig_name"] == ["II", "V1"]


def test_dicom_meta_has_the_wfdb_keys(fixture_dir):
    _, wfdb_meta = read_record(fixture_dir / "ludb" / "1")
    _, meta = dicom.read_dicom(ECG_DCM)
    assert set(meta) == set(wfdb_meta) == WFDB_KEYS | {"age", "sex"}
    assert meta["record"] == "waveform_ecg" and meta["age"] == 42.0 and meta["sex"] == "F"
    assert meta["sig_name"] == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert meta["flat_leads"] == []


def test_dicom_errors_name_the_record(tmp_path):
    with pytest.raises(RecordError, match="'missing'.*not found"):
        dicom.read_dicom(tmp_path / "missing.dcm")
    (tmp_path / "text.dcm").write_text("not a DICOM file")
    with pytest.raises(RecordError, match="'text'.*not a readable DICOM file"):
        dicom.read_dicom(tmp_path / "text.dcm")
    with pytest.raises(RecordError, match="'CT_small'.*holds no waveform"):
        dicom.read_dicom(get_testdata_file("CT_small.dcm"))
    with pytest.raises(RecordError, match="2 waveform group"):
        dicom.read_dicom(ECG_DCM, group=2)
    ds = pydicom.dcmread(ECG_DCM)
    ds.WaveformSequence[0].WaveformData = ds.WaveformSequence[0].WaveformData[:1000]
    ds.save_as(tmp_path / "cut.dcm")
    with pytest.raises(RecordError, match="'cut'.*truncated: 12 channels x 10000 samples need 240000 bytes"):
        dicom.read_dicom(tmp_path / "cut.dcm")
    with pytest.raises(RecordError, match="no lead 12"):
        dicom.read_dicom(ECG_DCM, channels=[12])


@pytest.fixture(scope="module")
def mitdb_wav(fixture_dir, tmp_path_factory):
    """The first 10 s of MIT-BIH 100 (digital samples) as a 2-channel int16 WAV, and wfdb's record."""
    rec = wfdb.rdrecord(str(fixture_dir / "mitdb" / "100"), sampto=3600, physical=False)
    folder = tmp_path_factory.mktemp("wav")
    wavfile.write(folder / "100.wav", int(rec.fs), rec.d_signal.astype(np.int16))
    physical = wfdb.rdrecord(str(fixture_dir / "mitdb" / "100"), sampto=3600)
    return folder, rec, physical


def test_wav_samples_are_wfdbs(mitdb_wav):
    folder, rec, physical = mitdb_wav
    signal, meta = wav.read_wav(folder / "100.wav", gain=rec.adc_gain, baseline=rec.baseline, sig_name=rec.sig_name)
    np.testing.assert_allclose(signal, physical.p_signal.T, rtol=1e-6)
    assert signal.dtype == np.float32 and signal.shape == (2, 3600)
    assert meta == {"record": "100", "path": str(folder / "100.wav"), "fs": 360.0, "n_samples": 3600,
                    "sig_name": ["MLII", "V5"], "units": ["mV", "mV"], "flat_leads": [], "invalid_runs": []}
    one, meta = wav.read_wav(folder / "100.wav", gain=200.0, baseline=1024, channels=[1])
    np.testing.assert_allclose(one, physical.p_signal.T[1:], rtol=1e-6)
    assert meta["sig_name"] == ["1"]


@pytest.mark.filterwarnings("ignore::scipy.io.wavfile.WavFileWarning")
def test_wav_errors(mitdb_wav, tmp_path):
    folder, _, _ = mitdb_wav
    with pytest.raises(RecordError, match="'nothing'.*not found"):
        wav.read_wav(tmp_path / "nothing.wav")
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEnot really")
    with pytest.raises(RecordError, match="'bad'.*not a readable WAV file"):
        wav.read_wav(tmp_path / "bad.wav")
    with pytest.raises(EcgError, match="one per lead"):
        wav.read_wav(folder / "100.wav", gain=[200.0, 200.0, 200.0])
    flat = tmp_path / "flat.wav"
    wavfile.write(flat, 250, np.zeros((500, 1), np.int16))
    with pytest.raises(RecordError, match="'flat'.*flat lead"):
        wav.read_wav(flat, on_flat="error")


def test_load_dicom_and_wav_in_a_pipeline(mitdb_wav, tmp_path):
    shutil.copy(ECG_DCM, tmp_path / "ecg1.dcm")
    (tmp_path / "broken.dcm").write_text("no")
    ds = EcgDataset(path=str(tmp_path / "*.dcm"))
    report = ErrorReport()
    batch = ds.create_batch(ds.indices).load(fmt="dicom", components=["signal", "meta", "annotation"],
                                             on_error="skip", report=report)
    assert list(batch.indices) == ["ecg1"] and batch.annotation[0] == {}
    assert batch.signal[0].shape == (12, 10000) and batch.meta[0]["fs"] == 1000.0
    assert "broken" in report.summary()
    medians = ds.create_batch(["ecg1"]).load(src=str(tmp_path), fmt="dicom", group=1, units="uV")
    assert medians.signal[0].shape == (12, 1200) and medians.meta[0]["units"][0] == "uV"
    with pytest.raises(EcgError, match="reader arguments group, units"):
        ds.create_batch(["ecg1"]).load(fmt="dicom", gain=2.0)

    folder, rec, physical = mitdb_wav
    wavs = EcgDataset(path=str(folder / "*.wav"))
    batch = wavs.create_batch(wavs.indices).load(fmt="wav", gain=200.0, baseline=1024, sig_name=rec.sig_name)
    np.testing.assert_allclose(batch.signal[0], physical.p_signal.T, rtol=1e-6)
    batch.find_r_peaks("MLII")
    assert len(batch.annotation[0]["rpeaks"]["sample"]) >= 10
    with pytest.raises(EcgError, match="reads no annotation files"):
        wavs.create_batch(wavs.indices).load(fmt="wav", ann_ext="atr")


def test_docstring_examples():
    assert doctest.testmod(dicom, extraglobs={"np": np}).failed == 0
