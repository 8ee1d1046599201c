"""CardIO's actions in EcgBatch (ecg.batch.cardio, ecg.batch.spectral), each against its reference, and a
CardIO pipeline ported with only the renames of the README's "Coming from CardIO".

References: wfdb (leads read by position), numpy (convolution, FFT), scipy (resample_poly,
spectrogram), PyWavelets, pydicom (microvolts), numpy's Generator (the random rates),
NeuroKit2 through ecg.ops.polarity (tested in test_ops_cardio), LUDB's annotations.
"""
import numpy as np
import pydicom
import pytest
import pywt
import wfdb
from batchflow import C, Pipeline, V
from pydicom.data import get_testdata_file
from scipy import signal

from ecg import EcgDataset, KerasBaseModel
from ecg.data.datasets import ludb
from ecg.errors import ConfigError, RecordError
from ecg.ops import intervals, polarity, resample


@pytest.fixture(scope="module")
def cinc(cinc_dir):
    return EcgDataset(path=str(cinc_dir / "*.hea"))


@pytest.fixture(scope="module")
def ludb_records(fixture_dir):
    return EcgDataset(path=str(fixture_dir / "ludb" / "*.hea"))


def cinc_batch(cinc, n=6):
    return cinc.create_batch(cinc.indices[:n]).load(fmt="wfdb", components=["signal", "meta"])


def ludb_batch(records, n=2, **kwargs):
    return records.create_batch(records.indices[:n]).load(fmt="wfdb", components=["signal", "meta", "annotation"],
                                                          ann_ext=list(ludb.LEADS), **kwargs)


def rdsignal(path, channels=None):
    return wfdb.rdrecord(str(path), channels=channels).p_signal.T.astype(np.float32)


# --- signals -----------------------------------------------------------------------------
def test_flip_signals_turns_inverted_records_upright(cinc, cinc_dir):
    batch = cinc_batch(cinc, n=12).flip_signals()
    n_flipped = 0
    for i, record in enumerate(batch.indices):
        original = rdsignal(cinc_dir / record)
        inverted = bool(polarity.inverted_leads(original, 300)[0])
        np.testing.assert_array_equal(batch.signal[i], -original if inverted else original)
        assert batch.meta[i]["flipped_leads"] == (["ECG"] if inverted else [])
        n_flipped += inverted
    assert n_flipped >= 3              # A00003, A00006, A00007, A00011 are recorded upside down
    again = batch.flip_signals()
    assert all(meta["flipped_leads"] == [] for meta in again.meta)


def test_flip_signals_checks_only_the_leads_named(ludb_records):
    batch = ludb_batch(ludb_records).flip_signals(leads=["i", "ii", "v6"])
    assert [meta["flipped_leads"] for meta in batch.meta] == [[], []]
    assert "avr" in ludb_batch(ludb_records).flip_signals().meta[0]["flipped_leads"]
    with pytest.raises(RecordError, match="'1'.*'II'"):
        ludb_batch(ludb_records).flip_signals(leads="II")


def test_resample_signals_takes_any_positive_rate(fixture_dir):
    mitdb = EcgDataset(path=str(fixture_dir / "mitdb" / "100.hea"))
    batch = mitdb.create_batch(mitdb.indices).load(fmt="wfdb", components=["signal", "meta", "annotation"],
                                                   ann_ext="atr")
    before, beats = batch.signal[0].copy(), batch.annotation[0]["atr"]["sample"].copy()
    batch.resample_signals(301.257)
    up, down = resample.resample_ratio(360, 301.257)
    np.testing.assert_allclose(batch.signal[0], signal.resample_poly(before, up, down, axis=-1), atol=1e-5)
    assert batch.meta[0]["fs"] == pytest.approx(301.257, rel=1e-6) == 360 * up / down
    assert batch.meta[0]["n_samples"] == batch.signal[0].shape[-1]
    np.testing.assert_array_equal(batch.annotation[0]["atr"]["sample"],
                                  resample.resample_indices(beats, 360, 301.257, batch.signal[0].shape[-1]))


def test_random_resample_draws_a_rate_per_record_and_moves_the_masks(ludb_records, fixture_dir):
    batch = ludb_batch(ludb_records, n=3).annotation_to_mask("ii")
    originals = [s.copy() for s in batch.signal]
    batch.random_resample_signals("normal", loc=300, scale=10, seed=11)
    rates = np.random.default_rng(11).normal(300, 10, size=3)      # the reference: numpy's generator
    for i in range(3):
        fs = batch.meta[i]["fs"]
        assert fs == pytest.approx(rates[i], rel=1e-6) and fs == resample.resampled_rate(500, rates[i])
        up, down = resample.resample_ratio(500, rates[i])
        np.testing.assert_allclose(batch.signal[i], signal.resample_poly(originals[i], up, down, axis=-1),
                                   atol=1e-5)
        assert batch.target[i].shape == (batch.signal[i].shape[-1],)
        # the moved mask is the mask of the moved annotation, up to a sample at wave edges
        ann = batch.annotation[i]["ii"]
        from ecg.ops.masks import annotations_to_mask
        rebuilt = annotations_to_mask(ann["sample"], ann["symbol"], batch.signal[i].shape[-1])
        assert (rebuilt == batch.target[i]).mean() > 0.98
    choice = ludb_batch(ludb_records, n=2).random_resample_signals("choice", a=[250.0, 360.0], seed=0)
    assert {meta["fs"] for meta in choice.meta} <= {250.0, 360.0}
    with pytest.raises(ConfigError, match="distribution of numpy.random.Generator"):
        ludb_batch(ludb_records, n=1).random_resample_signals("gaussian")
    with pytest.raises(RecordError, match="no positive rate"):
        ludb_batch(ludb_records, n=1).random_resample_signals("uniform", low=-2.0, high=-1.0)


def test_convolve_signals_is_numpys(cinc, cinc_dir):
    kernel = np.array([1.0, 2.0, 4.0, 2.0, 1.0]) / 10
    batch = cinc_batch(cinc, n=3).convolve_signals(kernel, padding="constant")
    for i, record in enumerate(batch.indices):
        np.testing.assert_allclose(batch.signal[i][0], np.convolve(rdsignal(cinc_dir / record)[0], kernel, "same"),
                                   atol=1e-6)
        assert batch.signal[i].dtype == np.float32


def test_apply_to_each_lead_is_apply_along_axis(ludb_records, fixture_dir):
    batch = ludb_batch(ludb_records, n=1).apply_to_each_lead(signal.detrend, type="constant")
    np.testing.assert_allclose(batch.signal[0], signal.detrend(rdsignal(fixture_dir / "ludb" / "1"), type="constant"),
                               atol=1e-6)
    with pytest.raises(RecordError, match="'1'.*apply_to_each_lead"):
        ludb_batch(ludb_records, n=1).apply_to_each_lead(np.diff)


# --- leads -----------------------------------------------------------------------------------
def test_drop_and_reorder_leads_are_wfdbs_channels(ludb_records, fixture_dir):
    path = fixture_dir / "ludb" / "1"
    batch = ludb_batch(ludb_records, n=1).drop_leads(["avr", "avl", 0])
    kept = [1, 2, 5, 6, 7, 8, 9, 10, 11]
    np.testing.assert_array_equal(batch.signal[0], rdsignal(path, channels=kept))
    assert batch.meta[0]["sig_name"] == [ludb.LEADS[k] for k in kept] and batch.meta[0]["units"] == ["mV"] * 9
    order = ["v6", "ii", "iii", "avf", "v1", "v2", "v3", "v4", "v5"]
    batch.reorder_leads(order)
    np.testing.assert_array_equal(batch.signal[0], rdsignal(path, channels=[ludb.LEADS.index(n) for n in order]))
    assert batch.meta[0]["sig_name"] == order
    with pytest.raises(RecordError, match="every lead once"):
        batch.reorder_leads(["v6", "ii"])
    with pytest.raises(RecordError, match="would leave no lead"):
        ludb_batch(ludb_records, n=1).drop_leads(list(range(12)))
    with pytest.raises(RecordError, match="'1'.*'V1'"):
        ludb_batch(ludb_records, n=1).drop_leads("V1")


def test_flat_leads_follow_the_leads(ludb_records):
    batch = ludb_batch(ludb_records, n=1)
    batch.meta[0]["flat_leads"] = [2, 11]
    batch.drop_leads([0]).reorder_leads([10, *range(10)])
    assert batch.meta[0]["flat_leads"] == [0, 2]


def test_rename_leads(ludb_records):
    batch = ludb_batch(ludb_records, n=2).rename_leads({"i": "I", "ii": "II", "MLII": "unused"})
    assert batch.meta[1]["sig_name"][:3] == ["I", "II", "iii"]
    batch.rename_leads([name.upper() for name in ludb.LEADS])
    assert batch.meta[0]["sig_name"] == [name.upper() for name in ludb.LEADS]
    batch.select_leads(["II", "V1"])           # the new names are the names later actions use
    with pytest.raises(RecordError, match="two leads one name"):
        batch.rename_leads({"II": "V1"})
    with pytest.raises(RecordError, match="3 names for its 2 leads"):
        batch.rename_leads(["a", "b", "c"])


def test_convert_units_matches_the_files_microvolts(tmp_path):
    import shutil
    shutil.copy(get_testdata_file("waveform_ecg.dcm"), tmp_path / "ecg1.dcm")
    ds = EcgDataset(path=str(tmp_path / "*.dcm"))
    batch = ds.create_batch(ds.indices).load(fmt="dicom")
    assert batch.meta[0]["units"] == ["mV"] * 12
    batch.convert_units("uV")
    microvolts = pydicom.dcmread(tmp_path / "ecg1.dcm").waveform_array(0).T
    np.testing.assert_allclose(batch.signal[0], microvolts, rtol=1e-6)
    assert batch.meta[0]["units"] == ["uV"] * 12
    batch.meta[0]["units"][0] = "mmHg"
    with pytest.raises(RecordError, match="'ecg1'.*voltage unit"):
        batch.convert_units("mV")


# --- spectral and wavelet components ---------------------------------------------------------
def test_fourier_components_are_numpys(cinc, cinc_dir):
    batch = cinc_batch(cinc, n=3)
    batch.rfft().fft(dst="full_spectrum")
    for i, record in enumerate(batch.indices):
        x = rdsignal(cinc_dir / record)
        np.testing.assert_allclose(batch.spectrum[i], np.fft.rfft(x.astype(np.float64)), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(batch.full_spectrum[i], np.fft.fft(x.astype(np.float64)), rtol=1e-4, atol=1e-3)
        np.testing.assert_array_equal(batch.meta[i]["spectrum_freqs"], np.fft.rfftfreq(x.shape[-1], 1 / 300))
    assert "spectrum" in batch.components and "full_spectrum" in batch.components
    originals = [s.copy() for s in batch.signal]
    batch.irfft()
    for before, after in zip(originals, batch.signal):
        np.testing.assert_allclose(after, before, atol=1e-5)
    batch.ifft(src="full_spectrum")
    for before, after in zip(originals, batch.signal):
        np.testing.assert_allclose(after, before, atol=1e-5)
        assert after.dtype == np.float32


def test_spectrogram_and_wavelet_components(ludb_records, fixture_dir):
    batch = ludb_batch(ludb_records, n=2).spectrogram(nperseg=500, noverlap=250).dwt(wavelet="sym5") \
        .wavedec(level=4).cwt([4.0, 8.0, 16.0], wavelet="mexh")
    x = rdsignal(fixture_dir / "ludb" / str(batch.indices[0]))
    freqs, times, values = signal.spectrogram(x, fs=500, nperseg=500, noverlap=250)
    np.testing.assert_allclose(batch.stft[0], values, rtol=1e-4, atol=1e-10)   # float32 rounding
    np.testing.assert_array_equal(batch.meta[0]["stft_freqs"], freqs)
    np.testing.assert_array_equal(batch.meta[0]["stft_times"], times)
    approx, detail = pywt.dwt(x, "sym5", axis=-1)
    np.testing.assert_allclose(batch.dwt_coeffs[0][:, 0], approx, rtol=1e-6)
    np.testing.assert_allclose(batch.dwt_coeffs[0][:, 1], detail, rtol=1e-6, atol=1e-7)
    for ours, ref in zip(batch.wavelet_coeffs[0], pywt.wavedec(x, "db4", level=4, axis=-1), strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)
    coefs, cwt_freqs = pywt.cwt(x, [4.0, 8.0, 16.0], "mexh", sampling_period=1 / 500, axis=-1)
    np.testing.assert_allclose(batch.scalogram[0], np.moveaxis(coefs, 0, -2), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(batch.meta[0]["scalogram_freqs"], cwt_freqs)
    originals = [s.copy() for s in batch.signal]
    batch.idwt(wavelet="sym5")
    np.testing.assert_allclose(batch.signal[0], originals[0], atol=1e-5)
    batch.waverec()
    np.testing.assert_allclose(batch.signal[1], originals[1], atol=1e-5)
    # components an action added stay with the records through actions that make new batches
    items = batch.unstack_leads()
    assert len(items) == 24 and items.stft[1].shape == (1,) + batch.stft[0].shape[1:]
    np.testing.assert_array_equal(items.stft[13], batch.stft[1][1:2])
    np.testing.assert_array_equal(items.wavelet_coeffs[2][0], batch.wavelet_coeffs[0][0][2:3])
    segments = ludb_batch(ludb_records, n=1).split_signals(1000).rfft().unstack_signals()
    assert len(segments) == 5 and segments.spectrum[0].shape == (12, 501)
    np.testing.assert_allclose(segments.spectrum[3], np.fft.rfft(segments.signal[3].astype(np.float64)),
                               rtol=1e-4, atol=1e-3)


def test_transform_components_are_checked(cinc):
    batch = cinc_batch(cinc, n=2)
    with pytest.raises(ConfigError, match="attribute of EcgBatch"):
        batch.rfft(dst="fft")
    with pytest.raises(ConfigError, match="other than"):
        batch.rfft(dst="meta")
    with pytest.raises(ConfigError, match="component name"):
        batch.rfft(dst="__class__")
    with pytest.raises(ConfigError, match="no component 'nothing'"):
        batch.irfft(src="nothing")
    with pytest.raises(RecordError, match="'A00001'.*nperseg <= 9000"):
        batch.spectrogram(nperseg=20000)
    batch.rfft(n=1024)
    with pytest.raises(RecordError, match="not the signal's shape"):
        batch.irfft(n=1024)


# --- ECG parameters ----------------------------------------------------------------------------
def test_calc_ecg_parameters_on_ludb(ludb_records, fixture_dir):
    batch = ludb_batch(ludb_records, n=4).find_r_peaks("ii").calc_ecg_parameters(waves="ii")
    for i, record in enumerate(batch.indices):
        ann = wfdb.rdann(str(fixture_dir / "ludb" / str(record)), "ii")
        annotated = ann.sample[np.array(ann.symbol) == "N"]
        params = batch.meta[i]["ecg_parameters"]
        assert set(params) == set(intervals.PARAMETERS)
        # the R peaks found give the heart rate of LUDB's annotated QRS complexes
        reference = intervals.heart_rate(annotated, 500)
        assert params["hr_median"] == pytest.approx(reference["hr_median"], abs=1.0)
        assert params["hr_mean"] == pytest.approx(reference["hr_mean"], abs=1.0)
        waves = intervals.wave_parameters(*intervals.waves_from_annotation(ann.sample, ann.symbol), 500)
        assert {k: params[k] for k in ("pq", "qrs", "qt")} == pytest.approx(waves, nan_ok=True)
        assert 60 <= params["qrs"] <= 160 and 300 <= params["qt"] <= 520
    # the same delineation as a per-sample mask (the form a delineation model predicts)
    masked = ludb_batch(ludb_records, n=4).find_r_peaks("ii").annotation_to_mask("ii") \
        .calc_ecg_parameters(waves="target")
    for a, b in zip(batch.meta, masked.meta):
        assert a["ecg_parameters"] == pytest.approx(b["ecg_parameters"], nan_ok=True)
    with pytest.raises(RecordError, match="call find_r_peaks first"):
        ludb_batch(ludb_records, n=1).calc_ecg_parameters(waves="ii")
    with pytest.raises(RecordError, match="no 'mask' annotation"):
        ludb_batch(ludb_records, n=1).find_r_peaks("ii").calc_ecg_parameters(waves="mask")


# --- a CardIO pipeline, ported ---------------------------------------------------------------------
MODEL = {"model": {"name": "cnn", "params": {"filters": [8, 16], "kernel_size": 7, "pool_size": 4, "norm": "layer"}},
         "seed": 3, "optimizer": {"name": "adam", "learning_rate": 3e-3}}


def test_cardio_train_and_predict_pipelines_run_with_the_documented_renames(cinc, cinc_dir, tmp_path):
    """CardIO's AF tutorial pipelines; renames: init_model(name, class, mode), train_model -> train_on_batch,
    predict_model -> predict_on_batch, binarize_labels() -> binarize_labels("A")."""
    labels = str(cinc_dir / "REFERENCE.csv")
    train = (Pipeline()
             .init_model("fft_model", KerasBaseModel, mode="dynamic", config=MODEL)
             .init_variable("loss_history", [])
             .load(components=["signal", "meta"], fmt="wfdb")
             .load(components="target", fmt="csv", src=labels)
             .drop_labels(["~"])
             .rename_labels({"N": "NO", "O": "NO"})
             .flip_signals()
             .random_resample_signals("normal", loc=300, scale=10)
             .random_split_signals(2048, {"A": 9, "NO": 3})
             .binarize_labels("A")
             .train_on_batch("fft_model", save_to=V("loss_history", mode="a"))) << cinc
    train.run(batch_size=10, shuffle=True, drop_last=True, n_epochs=2)
    model = train.m("fft_model")
    assert model.classes == ["other", "A"] and model.model.input_shape == (None, 2048, 1)
    assert 2 <= len(train.v("loss_history")) <= 8             # 30 records left after drop_labels(["~"])
    path = str(tmp_path / "fft_model")
    train.save_model_now("fft_model", path=path)

    predict = (Pipeline(config={"fft_model": {"path": path}})
               .init_model("fft_model", KerasBaseModel, config=C("fft_model"))
               .init_variable("predictions_list", [])
               .load(fmt="wfdb", components=["signal", "meta"])
               .flip_signals()
               .split_signals(2048, 2048)
               .predict_on_batch("fft_model", save_to=V("predictions_list", mode="e"))) << cinc
    predict.run(batch_size=1, shuffle=False, drop_last=False, n_epochs=1)
    predictions = predict.v("predictions_list")
    assert len(predictions) == len(cinc)
    lengths = [wfdb.rdheader(str(cinc_dir / record)).sig_len for record in cinc.indices]
    assert [p.shape for p in predictions] == [(n // 2048, 2) for n in lengths]
    assert all(np.allclose(p.sum(axis=1), 1.0, atol=1e-5) for p in predictions)


# --- recipes -------------------------------------------------------------------------------------
def test_the_new_signal_actions_replay_from_a_saved_recipe(ludb_records):
    from ecg.recipes import apply_recipe, validate_recipe

    recipe = validate_recipe([{"flip_signals": {"leads": ["i", "ii", "v6"]}}, {"drop_leads": {"leads": ["avr", 0]}},
                              {"rename_leads": {"names": {"ii": "II"}}}, {"convolve_signals": {"kernel": [1, 2, 1]}},
                              {"convert_units": {"units": "uV"}}, {"rfft": {"n": 4096}},
                              {"spectrogram": {"nperseg": 500, "window": ["tukey", 0.5]}},
                              {"wavedec": {"wavelet": "sym4", "level": 3}}, {"cwt": {"scales": [4, 8]}}])
    batch = apply_recipe(Pipeline(), recipe).execute_for(ludb_batch(ludb_records, n=1))
    assert batch.meta[0]["sig_name"][0] == "II" and batch.meta[0]["units"] == ["uV"] * 10
    assert batch.spectrum[0].shape == (10, 2049) and len(batch.wavelet_coeffs[0]) == 4
    assert batch.scalogram[0].shape == (10, 2, 5000)
    for step, problem in [({"rfft": {"dst": "meta"}}, "component name"),
                          ({"dwt": {"wavelet": "morl"}}, "discrete wavelet"),
                          ({"convolve_signals": {"kernel": ["/etc/passwd"]}}, "valid number"),
                          ({"spectrogram": {"window": ["tukey", "x"]}}, "pair"),
                          ({"drop_leads": {"leads": [True]}}, "lead names or positions"),
                          ({"apply_to_each_lead": {"func": "os.system"}}, "not a recipe action"),
                          ({"random_resample_signals": {"distribution": "normal"}}, "not a recipe action")]:
        with pytest.raises(ConfigError, match=problem):
            validate_recipe([step])
