"""Feature front-ends (ecg.models.frontends) against NumPy, SciPy, PyWavelets and NeuroKit2 on real records."""
import doctest
import subprocess
import sys

import numpy as np
import pytest
import pywt
import wfdb
from pydantic import BaseModel, ConfigDict
from scipy import signal

from ecg import EcgDataset, KerasBaseModel
from ecg.cli import main
from ecg.errors import ConfigError
from ecg.models import frontends
from ecg.models.factory import build_network
from ecg.models.frontends import compute_features, frontend_factory
from ecg.ops import hrv
from ecg.ops.rpeaks import r_peaks
from ecg.recipes import predict_dataset

CNN = {"name": "cnn", "params": {"filters": [4, 8], "pool_size": 2}}


@pytest.fixture(scope="module")
def windows(fixture_dir):
    """Six 10-s two-lead windows (batch, steps, channels) of three MIT-BIH records, in mV."""
    out = []
    for name in ("100", "201", "208"):
        sig = wfdb.rdrecord(str(fixture_dir / "mitdb" / name), sampto=360 * 20).p_signal
        out += [sig[:3600], sig[3600:7200]]
    return np.stack(out).astype(np.float32)


def _frontend_output(frontend, x):
    """What the front-end layer of a network built with ``frontend`` gives for ``x``."""
    import keras

    net = build_network({**CNN, "frontend": frontend}, x.shape[1:], 3)
    layer = net.get_layer(f"{frontend['name']}_frontend")
    return keras.Model(net.input, layer.output).predict(x, verbose=0), net


@pytest.mark.parametrize("params", [{}, {"norm": "backward", "bins": 401}, {"norm": "forward", "n_fft": 4096},
                                    {"bins": 400, "pool": 8, "log_floor": 1e-3}])
def test_fft_frontend_is_numpy_rfft_magnitude(windows, params):
    got, net = _frontend_output({"name": "fft", "params": params}, windows)
    n_fft = params.get("n_fft", 3600)
    ref = np.abs(np.fft.rfft(windows.astype(np.float64), n=n_fft, axis=1, norm=params.get("norm", "ortho")))
    bins = params.get("bins", n_fft // 2 + 1)
    ref = ref[:, :bins]
    pool = params.get("pool", 1)
    ref = ref[:, :bins // pool * pool].reshape(len(windows), bins // pool, pool, 2).mean(axis=2)
    if "log_floor" in params:
        ref = np.log(ref + params["log_floor"])
    assert got.shape == ref.shape == (6, bins // pool, 2)
    # float32 FFT of 3600-4096 samples: rounding of about 1e-6 of the largest magnitude
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    assert net.output_shape == (None, 3)


@pytest.mark.parametrize("params", [{}, {"frame_length": 100, "frame_step": 30, "fft_length": 128},
                                    {"frame_length": 256, "frame_step": 64, "window": "hamming", "bins": 40,
                                     "log_floor": 1e-4}])
def test_stft_frontend_is_scipy_stft_magnitude(windows, params):
    got, _ = _frontend_output({"name": "stft", "params": params}, windows)
    length, step = params.get("frame_length", 128), params.get("frame_step", 32)
    _, times, values = signal.stft(windows.transpose(0, 2, 1).astype(np.float64), window=params.get("window", "hann"),
                                   nperseg=length, noverlap=length - step, nfft=params.get("fft_length", length),
                                   boundary=None, padded=False, detrend=False, scaling="spectrum")
    ref = np.abs(values)[:, :, :params.get("bins", values.shape[2])]        # (batch, leads, bins, frames)
    if "log_floor" in params:
        ref = np.log(ref + params["log_floor"])
    ref = ref.transpose(0, 3, 1, 2).reshape(len(windows), len(times), -1)   # lead 0's bins, then lead 1's
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("params", [{}, {"wavelet": "sym5", "level": 6, "mode": "periodization",
                                         "stats": ["max_abs", "energy"]}])
def test_wavelet_frontend_is_pywt_wavedec_statistics(windows, params):
    got = compute_features({"name": "wavelet", "params": params}, windows, fs=360)
    functions = {"energy": lambda c: np.mean(c ** 2), "std": np.std, "mean_abs": lambda c: np.mean(np.abs(c)),
                 "max_abs": lambda c: np.max(np.abs(c))}
    stats = params.get("stats", ["energy", "std", "mean_abs"])
    ref = [[functions[name](band) for lead in window.T
            for band in pywt.wavedec(lead, params.get("wavelet", "db4"), mode=params.get("mode", "symmetric"),
                                     level=params.get("level", 4))
            for name in stats] for window in windows]
    assert got.shape == (6, 2 * (params.get("level", 4) + 1) * len(stats))
    np.testing.assert_allclose(got, np.array(ref), rtol=1e-5)


@pytest.fixture(scope="module")
def long_windows(fixture_dir):
    """5-minute windows of MIT-BIH 100, 201 and 208 (lead MLII), and the R peaks found in each."""
    sig = np.stack([wfdb.rdrecord(str(fixture_dir / "mitdb" / name), sampto=360 * 300, channels=[0]).p_signal
                    for name in ("100", "201", "208")]).astype(np.float32)
    return sig, [r_peaks(w[:, 0], 360) for w in sig]


NK_TIME = {"mean_rr": "HRV_MeanNN", "sdnn": "HRV_SDNN", "rmssd": "HRV_RMSSD", "pnn50": "HRV_pNN50",
           "median_rr": "HRV_MedianNN", "cv_rr": "HRV_CVNN"}
NK_NONLINEAR = {"sd1": "HRV_SD1", "sd2": "HRV_SD2", "sd1_sd2": "HRV_SD1SD2", "sample_entropy": "HRV_SampEn"}
IN_MS = {"mean_rr", "sdnn", "rmssd", "median_rr", "sd1", "sd2"}


def test_hrv_frontend_matches_neurokit(long_windows):
    """The window's HRV against NeuroKit2's hrv_time and hrv_nonlinear on the same R peaks.

    The peaks are the input (the detector is checked against the annotations in
    test_ops_rpeaks); what is tested is the HRV the front-end derives from them. These
    features share NeuroKit2's definitions (SD with ddof=1, pNN50 over the number of RR
    intervals, SampEn with r = 0.2 SD): rtol 1e-5 (float32 windows, float64 features).
    LF, HF and LF/HF are compared with NeuroKit2 on the annotated beats in
    test_ops_hrv.py: on detected peaks an ectopic or missed beat (MIT-BIH 208) makes
    the two interpolations of the RR series differ by up to 14x in LF, a difference of
    artefact handling, not of the spectrum.
    """
    nk = pytest.importorskip("neurokit2")
    sig, peaks = long_windows
    names = list(NK_TIME) + list(NK_NONLINEAR)
    got = compute_features({"name": "hrv", "params": {"features": names}}, sig, fs=360)
    for row, p in zip(got, peaks):
        values = dict(zip(names, row))
        ref = {**nk.hrv_time(p, sampling_rate=360).iloc[0], **nk.hrv_nonlinear(p, sampling_rate=360).iloc[0]}
        for name, column in {**NK_TIME, **NK_NONLINEAR}.items():
            expected = ref[column] / (1000 if name in IN_MS else 1)
            np.testing.assert_allclose(values[name], expected, rtol=1e-5, err_msg=name)


def test_hrv_frontend_default_is_every_feature_and_too_few_beats_give_zeros(long_windows):
    sig, _ = long_windows
    short = sig[:, :720]                                   # 2 s: at most 2-3 beats
    got = compute_features({"name": "hrv"}, short, fs=360)
    assert got.shape == (3, len(hrv.FEATURES)) and np.isfinite(got).all()
    assert (got[:, hrv.FEATURES.index("lf")] == 0).all()


def test_config_errors_name_the_valid_choices():
    with pytest.raises(ConfigError, match=r"unknown front-end 'stf'; registered: fft, hrv, raw, stft, wavelet"):
        KerasBaseModel({"model": {**CNN, "frontend": {"name": "stf"}}})
    with pytest.raises(ConfigError, match=r"front-end 'stft': invalid params: frame_lenght.*Valid keys: frame_length"):
        KerasBaseModel({"model": {**CNN, "frontend": {"name": "stft", "params": {"frame_lenght": 64}}}})
    with pytest.raises(ConfigError, match=r"unknown key 'model.frontend.param'; valid keys: name, params"):
        KerasBaseModel({"model": {**CNN, "frontend": {"name": "stft", "param": {}}}})
    with pytest.raises(ConfigError, match=r"'hrv' is a features front-end; model.frontend takes the signal "
                                          r"front-ends: fft, raw, stft"):
        KerasBaseModel({"model": {**CNN, "frontend": {"name": "hrv"}}})
    with pytest.raises(ConfigError, match=r"'fft' is a signal front-end; feature_input.frontend takes the "
                                          r"features front-ends: hrv, wavelet"):
        KerasBaseModel({"model": CNN, "feature_input": {"frontend": {"name": "fft"}}})
    with pytest.raises(ConfigError, match=r"expected names from mean_rr"):
        KerasBaseModel({"model": CNN, "feature_input": {"frontend": {"name": "hrv",
                                                                      "params": {"features": ["sdann"]}}}})
    with pytest.raises(ConfigError, match="fft_length must be >= frame_length"):
        build_network({**CNN, "frontend": {"name": "stft", "params": {"fft_length": 64}}}, (1000, 1), 2)
    with pytest.raises(ConfigError, match="a segmentation network needs one output per input sample"):
        build_network({"name": "unet", "params": {"filters": [4]}, "frontend": {"name": "fft"}}, (256, 1), 2,
                      task="segmentation")
    with pytest.raises(ConfigError, match="needs a fixed window length"):
        build_network({**CNN, "frontend": {"name": "stft"}}, (None, 1), 2)
    assert build_network({"name": "unet", "params": {"filters": [4]}, "frontend": {"name": "raw"}}, (256, 1), 2,
                         task="segmentation").output_shape == (None, 256, 2)


class DiffParams(BaseModel):
    """First difference of each lead (a user's signal front-end)."""

    model_config = ConfigDict(extra="forbid")
    lag: int = 1


def first_difference(inputs, params):
    import keras

    return keras.layers.Subtract(name="diff_frontend")([inputs[:, params.lag:], inputs[:, :-params.lag]])


class RangeParams(BaseModel):
    """Peak-to-peak amplitude of each lead (a user's feature front-end)."""

    model_config = ConfigDict(extra="forbid")


def amplitude_range(windows, fs, params):
    return windows.max(axis=1) - windows.min(axis=1)


@pytest.fixture
def user_frontends():
    frontend_factory.register("diff", first_difference, DiffParams)
    frontend_factory.register("range", amplitude_range, RangeParams, role="features")
    yield
    frontend_factory.unregister("diff")
    frontend_factory.unregister("range")


def test_user_frontends_work_like_builtins_and_are_listed(user_frontends, windows, capsys):
    model = KerasBaseModel({"model": {**CNN, "frontend": {"name": "diff", "params": {"lag": 2}}},
                            "feature_input": {"frontend": {"name": "range"}}, "seed": 0})
    features = model.frontend_features(windows, 360)
    np.testing.assert_array_equal(features, np.ptp(windows, axis=1))
    model.build(windows.shape[1:], 2, n_features=features.shape[1])
    assert model.model.get_layer("diff_frontend").output.shape == (None, 3598, 2)
    assert model.predict_on_batch([windows, features]).shape == (6, 2)
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[0]: line.split()[1] for line in lines[lines.index("") + 2:]}
    assert listed == {"diff": "signal", "fft": "signal", "raw": "signal", "stft": "signal", "range": "features",
                      "hrv": "features", "wavelet": "features"}
    with pytest.raises(ConfigError, match="'range' is already registered"):
        frontend_factory.register("range", amplitude_range, RangeParams, role="features")
    with pytest.raises(ConfigError, match="role must be one of"):
        frontend_factory.register("other", amplitude_range, RangeParams, role="numpy")


def test_learned_and_feature_branches_train_save_reload_and_predict_replays(cinc_dir, tmp_path):
    """An STFT-fed CNN beside an HRV feature branch: a few steps, saved, reloaded, predicted by the recipe."""
    recipe = [{"band_pass_signals": {"low": 0.5, "high": 40}}, {"resample_signals": {"fs": 100.0}},
              {"pad_signals": {"length": 1500, "mode": "wrap"}}, {"split_signals": {"length": 1500, "step": 1500}}]
    config = {"model": {**CNN, "frontend": {"name": "stft", "params": {"frame_length": 64, "frame_step": 16,
                                                                       "bins": 20, "log_floor": 1e-3}}},
              "feature_input": {"frontend": {"name": "hrv", "params": {"features": ["mean_rr", "rmssd", "sd1"]}},
                                "units": 4, "hidden": 4},
              "preprocess": recipe, "seed": 0}
    dataset = EcgDataset(path=str(cinc_dir / "*.hea"))
    from ecg.recipes import apply_recipe

    pipeline = (dataset.p.init_model("m", KerasBaseModel, mode="dynamic", config=config)
                .load(fmt="wfdb", components=["signal", "meta"])
                .load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv", components="target"))
    pipeline = apply_recipe(pipeline, recipe).one_hot_labels(["N", "A", "O", "~"]).train_on_batch("m")
    pipeline.run(batch_size=8, n_iters=3, shuffle=False)
    model = pipeline.m("m")
    assert len(model.hist) == 3 and np.isfinite(model.hist[-1]["loss"])
    assert model.model.get_layer("stft_frontend").output.shape == (None, 90, 20)
    assert model.config.feature_input.n_features == 3
    model.save(tmp_path / "m")
    loaded = KerasBaseModel({"path": str(tmp_path / "m")})
    assert loaded.feature_frontend.name == "hrv"
    batch = apply_recipe(dataset.p.load(fmt="wfdb", components=["signal", "meta"]), recipe).next_batch(
        10, shuffle=False)
    x = batch._model_x(model)
    assert x[1].shape == (batch.segment_counts().sum(), 3) and (x[1][:, 0] > 0.3).all()   # mean RR, s
    expected = model.predict_on_batch(x)
    np.testing.assert_array_equal(loaded.predict_on_batch(batch._model_x(loaded)), expected)
    predicted = predict_dataset(str(tmp_path / "m"), dataset.create_subset(dataset.indices[:10]), batch_size=5)
    per_record = [part.mean(axis=0) for part in np.split(expected, np.cumsum(batch.segment_counts())[:-1])]
    np.testing.assert_allclose(predicted.probabilities, np.stack(per_record), rtol=1e-5, atol=1e-6)


def test_compact_save_rebuilds_the_frontend(windows, tmp_path):
    model = KerasBaseModel({"model": {**CNN, "frontend": {"name": "fft", "params": {"bins": 300, "pool": 3}}},
                            "seed": 0})
    model.build(windows.shape[1:], 2)
    model.save(tmp_path / "c", compact=True)
    loaded = KerasBaseModel({"path": str(tmp_path / "c")})
    np.testing.assert_allclose(loaded.predict_on_batch(windows), model.predict_on_batch(windows), atol=2e-3)


@pytest.mark.parametrize("frontend", [{"name": "fft", "params": {"bins": 400, "pool": 4, "log_floor": 1e-3}},
                                      {"name": "stft", "params": {"frame_length": 100, "frame_step": 30,
                                                                  "fft_length": 128}}])
def test_signal_frontends_export_to_onnx(windows, frontend, tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    from ecg.export import load_exported

    model = KerasBaseModel({"model": {**CNN, "frontend": frontend}, "seed": 0}).build(windows.shape[1:], 3)
    model.export(tmp_path / "m.onnx")
    exported = load_exported(tmp_path / "m.onnx")
    # measured 3e-8 (fft) and 2e-7 (stft) on these windows
    np.testing.assert_allclose(exported.predict_on_batch(windows), model.predict_on_batch(windows), atol=1e-5)


def test_importing_frontends_does_not_import_keras():
    code = ("import sys, ecg.models.frontends as f; f.frontend_factory.describe('stft'); "
            "print('keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_docstring_examples():
    from ecg.models import spectral_frontends

    assert doctest.testmod(frontends).failed == 0
    assert doctest.testmod(spectral_frontends).failed == 0
