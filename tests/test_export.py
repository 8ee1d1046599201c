"""Tests of ``ecg.export``: every architecture to ONNX and LiteRT with parity, int8, sidecar, C header, CLI.

Parity is checked on real CinC 2017 windows (the fixture records), with the exported
file run by the same runtime wrappers ``ecg predict`` uses: ONNX Runtime and float32
LiteRT within 1e-4 of Keras, int8 LiteRT on the same class for at least 99 % of the
windows. The zoo model's tests (int8 calibration through its recipe, ``ecg predict`` on
the exports) are marked ``slow``.
"""
import json
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import wfdb
from test_models_zoo import ZOO

from ecg.cli import main
from ecg.errors import ConfigError
from ecg.export import ExportError, export_model, load_exported
from ecg.export.metadata import read_sidecar, sidecar_path
from ecg.export.report import peak_activation_bytes
from ecg.models.keras_model import KerasBaseModel

STEPS = 512
CLASSES = ["N", "A", "O", "~"]
TOLERANCE = 1e-4
SEGMENTATION = ["unet", "autoencoder"]      # per-sample output; tcn and conformer segmenters pass too, left out for time
SEGMENTATION_ONLY = {"autoencoder": {"filters": [4, 8], "latent": 3}}
CASES = ([(name, "classification") for name in ZOO]
         + [(name, "segmentation") for name in SEGMENTATION])


@pytest.fixture(scope="module")
def windows(cinc_dir):
    """Sixteen standardized 512-sample windows (300 Hz, 1 lead) of the 40 fixture records."""
    records = sorted(path.stem for path in cinc_dir.glob("*.hea"))[::5]
    x = []
    for name in records:
        signal = wfdb.rdrecord(str(cinc_dir / name)).p_signal[:, 0].astype(np.float32)
        for start in (500, 2000):
            piece = signal[start:start + STEPS]
            x.append(((piece - piece.mean()) / (piece.std() + 1e-6))[:, None])
    return np.stack(x)


def tiny_model(name, task="classification", num_classes=len(CLASSES)):
    params = SEGMENTATION_ONLY[name] if name in SEGMENTATION_ONLY else ZOO[name][0]
    model = KerasBaseModel({"model": {"name": name, "params": params}, "task": task, "seed": 0,
                            "input_shape": (STEPS, 1), "num_classes": num_classes,
                            "classes": CLASSES[:num_classes], "preprocess": [{"resample_signals": {"fs": 300.0}}]})
    return model.build((STEPS, 1), num_classes)


def test_every_factory_architecture_has_an_export_case():
    from ecg.models.factory import model_factory

    assert {name for name, _ in CASES} == set(model_factory.list())


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
@pytest.mark.parametrize("name,task", CASES)
def test_architecture_exports_with_parity(name, task, fmt, windows, tmp_path):
    model = tiny_model(name, task, 3 if task == "segmentation" else 4)
    out = tmp_path / f"{name}.{fmt}"
    report = export_model(model, out, calibration=[windows], latency_repeats=3, log=None)
    exported = load_exported(out)
    expected = model.predict_on_batch(windows)
    got = exported.predict_on_batch(windows)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE, f"{name} {task} {fmt}"
    assert report["parity"]["max_abs_diff"] <= TOLERANCE and report["parity"]["windows"] == len(windows)
    assert report["bytes"] == out.stat().st_size and report["parameters"] == model.model.count_params()
    assert report["macs"] > 0 and next(iter(report["latency_ms"].values())) > 0
    assert (report["peak_activation_bytes"] or 0) > 0 if fmt == "tflite" else report["peak_activation_bytes"] is None


def test_sidecar_carries_what_a_deployment_needs(windows, tmp_path):
    import onnx

    model = tiny_model("cnn")
    out = tmp_path / "cnn.onnx"
    report = export_model(model, out, calibration=[windows], latency_repeats=3, log=None)
    meta = read_sidecar(out)
    assert report["sidecar"] == sidecar_path(out)
    assert meta["classes"] == CLASSES and meta["sampling_rate_hz"] == 300.0
    assert meta["inputs"] == [{"name": "ecg", "shape": [None, STEPS, 1], "dtype": "float32",
                               "layout": "(batch, steps, channels)"}]
    assert meta["outputs"][0]["shape"] == [None, 4] and meta["preprocess"] == [{"resample_signals": {"fs": 300.0}}]
    assert meta["model_config"]["model"]["name"] == "cnn"
    embedded = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(embedded["ecg"]) == meta
    assert json.loads((tmp_path / "cnn.onnx.report.json").read_text())["macs"] == report["macs"]


def test_int8_records_scales_and_keeps_the_class(windows, tmp_path):
    model = tiny_model("cnn")
    x = windows
    out = tmp_path / "cnn_int8.tflite"
    report = export_model(model, out, quantize="int8", calibration=[x], latency_repeats=3, log=None)
    meta = read_sidecar(out)
    (inp,), (outp,) = meta["inputs"], meta["outputs"]
    assert meta["quantization"] == "int8" and inp["dtype"] == outp["dtype"] == "int8"
    assert inp["scale"] > 0 and -128 <= inp["zero_point"] <= 127 and outp["scale"] > 0
    assert {(q["role"], q["name"]) for q in report["quantization_params"]} == {("input", "ecg"),
                                                                              ("output", outp["name"])}
    export_model(model, tmp_path / "cnn.tflite", latency_repeats=3, log=None)
    got = load_exported(out).predict_on_batch(x)
    assert np.abs(got - model.predict_on_batch(x)).max() < 0.1
    assert peak_activation_bytes(str(out)) < peak_activation_bytes(str(tmp_path / "cnn.tflite"))


def test_c_header_is_the_flatbuffer_aligned(tmp_path):
    model = tiny_model("layer_spec")
    out = tmp_path / "spec-net.tflite"
    report = export_model(model, out, c_header=True, latency_repeats=3, log=None)
    header = tmp_path / "spec-net.h"
    assert report["c_header"] == str(header) and report["c_array"] == "spec_net"
    text = header.read_text()
    assert "alignas(16) const unsigned char spec_net[]" in text
    assert f"const unsigned int spec_net_len = {out.stat().st_size};" in text
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the header")
    program = tmp_path / "dump.c"
    program.write_text('#include <stdint.h>\n#include <stdio.h>\n#include "spec-net.h"\n'
                       "int main(void) { if ((uintptr_t)spec_net % 16) return 3;\n"
                       "  fwrite(spec_net, 1, spec_net_len, stdout); return 0; }\n")
    subprocess.run([compiler, "-std=c11", "-Wall", "-Werror", "-o", str(tmp_path / "dump"), str(program)],
                   check=True, cwd=tmp_path)
    dumped = subprocess.run([str(tmp_path / "dump")], capture_output=True, check=True).stdout
    assert dumped == out.read_bytes()


class MatrixDet(keras.layers.Layer):
    """A layer whose op (MatrixDeterminant) has no builtin LiteRT kernel."""

    def call(self, x):
        return keras.ops.expand_dims(keras.ops.det(keras.ops.reshape(x[:, :16, 0], (-1, 4, 4))), -1)


class Erfinv(keras.layers.Layer):
    """A layer whose op (Erfinv) tf2onnx cannot convert."""

    def call(self, x):
        return keras.ops.erfinv(0.5 * keras.ops.sigmoid(x) + 0.25)


@pytest.mark.parametrize("layer,fmt,reason", [
    (MatrixDet(name="det_block"), "tflite", r"layer det_block \(MatrixDet\): op MatrixDeterminant has no builtin"),
    (Erfinv(name="odd_block"), "onnx", r"layer odd_block \(Erfinv\): TensorFlow op Erfinv .* no ONNX conversion"),
])
def test_unexportable_layer_is_named(layer, fmt, reason, tmp_path):
    inputs = keras.Input((64, 1), name="ecg")
    x = layer(inputs)
    if len(x.shape) == 3:
        x = keras.layers.GlobalAveragePooling1D()(x)
    model = KerasBaseModel({"seed": 0})
    model.model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    with pytest.raises(ExportError, match=reason):
        export_model(model, tmp_path / f"net.{fmt}", log=None)


def test_npu_check_refuses_a_layer_it_breaks(tmp_path):
    spec = {"layers": [{"type": "ConvBNReLU", "out_channels": 6, "kernel_size": 9}, {"type": "GlobalAvgPool"},
                       {"type": "Linear"}]}
    model = KerasBaseModel({"model": {"name": "layer_spec", "params": spec}, "input_shape": (STEPS, 1),
                            "num_classes": 4}).build((STEPS, 1), 4)
    with pytest.raises(ExportError, match=r"layer 0 \(ConvBNReLU\): .*kernel height 9 exceeds 7"):
        export_model(model, tmp_path / "net.tflite", npu_check=True, log=None)


@pytest.mark.parametrize("kwargs,message", [
    ({"out": "m.onnx", "quantize": "int8", "calibration": "x"}, "made for LiteRT"),
    ({"out": "m.tflite", "quantize": "int8"}, "needs a calibration set"),
    ({"out": "m.pb"}, "export format must be one of"),
    ({"out": "m.onnx", "format": "tflite"}, "ending with .tflite"),
])
def test_bad_arguments_are_refused_before_converting(kwargs, message):
    from ecg.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        export_model(tiny_model("fc"), **kwargs, log=None)


def test_cli_exports_a_saved_model(tmp_path, capsys):
    saved = tiny_model("fc").save(tmp_path / "model")
    out = tmp_path / "fc.tflite"
    assert main(["export", "--model", saved, "--out", str(out), "--c-header", "--repeats", "3"]) == 0
    printed = capsys.readouterr().out
    assert f"exported {out} (tflite, float32)" in printed and "CPU latency per window (litert" in printed
    assert (tmp_path / "fc.h").is_file() and read_sidecar(out)["source"] == saved
    assert main(["export", "--model", saved, "--out", str(tmp_path / "fc.onnx"), "--quantize", "int8",
                 "--calibration", "cinc2017"]) == 2
    assert "int8 quantization is made for LiteRT" in capsys.readouterr().err


def test_importing_export_loads_no_converter():
    code = ("import sys, ecg.export, ecg.commands.export; "
            "print([m for m in ('keras', 'tensorflow', 'onnx', 'onnxruntime', 'ai_edge_litert') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


# --- the zoo's CinC 2017 model (a feature input, a recipe with R peaks and HRV features) -------
@pytest.fixture(scope="module")
def zoo_exports(cinc_dir, tmp_path_factory):
    """zoo:cinc2017 as ONNX and as int8 LiteRT calibrated on the fixture records through its recipe."""
    folder = tmp_path_factory.mktemp("zoo")
    reports = {}
    for name, quantize in (("cinc2017.onnx", None), ("cinc2017_int8.tflite", "int8")):
        reports[name] = export_model("zoo:cinc2017", folder / name, quantize=quantize, calibration=str(cinc_dir),
                                     latency_repeats=3, log=None)
    return folder, reports


@pytest.mark.slow
def test_zoo_model_exports_with_its_feature_input(zoo_exports):
    folder, reports = zoo_exports
    onnx_report, int8 = reports["cinc2017.onnx"], reports["cinc2017_int8.tflite"]
    assert onnx_report["parity"]["max_abs_diff"] <= TOLERANCE and onnx_report["parity"]["source"] == "calibration"
    assert int8["parity"]["same_class"] >= 0.99 and int8["parity"]["windows"] >= 40
    assert int8["bytes"] < 0.35 * onnx_report["bytes"]        # int8 weights: a quarter of float32's
    # calibration_keep="auto": both shares tried, the better kept, no candidate file left behind
    tried = int8["calibration"]["same_class_by_keep"]
    assert set(tried) == {"1.0", "0.5"} and int8["parity"]["same_class"] == max(tried.values())
    assert int8["calibration"]["used"] == round(int8["calibration"]["keep"] * int8["calibration"]["windows"])
    assert not [path for path in folder.iterdir() if ".tmp" in path.name]
    meta = read_sidecar(folder / "cinc2017_int8.tflite")
    # the zoo model blends boosted trees in: their features come as ranks, from the same raw features
    assert [spec["name"] for spec in meta["inputs"]] == ["ecg", "features", "tree_features"]
    assert meta["inputs"][0]["shape"] == [None, 3000, 1] and meta["sampling_rate_hz"] == 100.0
    assert set(meta["inputs"][1]["transform"]) == {"mean", "std", "clip"}
    assert meta["inputs"][2]["transform"]["from"] == "features"
    assert {j for j, _ in meta["inputs"][2]["transform"]["thresholds"]} <= set(range(25))
    assert all("scale" in spec and "zero_point" in spec for spec in meta["inputs"] + meta["outputs"])
    assert meta["classes"] == ["N", "A", "O", "~"] and "rr_features" in json.dumps(meta["preprocess"])


def test_int8_cut_of_a_blended_network_is_the_same_function(cinc_dir):
    """The int8 cut (features standardised on the host, trees on threshold counts, leaf values
    as Dense weights) computes in float what the saved network computes on raw features."""
    from ecg.export.calibration import representative_windows
    from ecg.export.features import LEVELS, apply_feature_transform, split_feature_transform

    model = KerasBaseModel({"path": "zoo:cinc2017"})
    assert model.config.trees is not None
    x, features = representative_windows(model.config, str(cinc_dir), n_records=40, max_windows=100)
    cut, transforms = split_feature_transform(model.model)
    inputs = [x] + [apply_feature_transform(features, transforms[name]) for name in ("features", "tree_features")]
    np.testing.assert_allclose(cut.predict(inputs, verbose=0), model.predict_on_batch([x, features]), atol=1e-5)
    counts = inputs[2]
    assert np.array_equal(counts, np.round(counts)) and counts.min() == 0 and counts.max() <= LEVELS
    columns = transforms["tree_features"]["thresholds"]
    assert all(len(t) <= LEVELS and np.all(np.diff(t) > 0) for _, t in columns)
    assert {j for j, _ in columns} <= set(range(features.shape[1])) and len(columns) == counts.shape[1]


def test_trim_outlier_windows_leaves_out_activation_peaks():
    """A window whose hidden activations peak far beyond the others' does not set the int8
    ranges; the share kept is the share asked for; None keeps every window."""
    import keras

    from ecg.export.calibration import activation_peaks, trim_outlier_windows

    x_in = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")
    network = keras.Model(x_in, keras.layers.Dense(2, name="out")(hidden(x_in)))
    hidden.set_weights([np.eye(4, 3, dtype=np.float32), np.zeros(3, np.float32)])
    x = np.random.default_rng(0).uniform(0, 1, (100, 4)).astype(np.float32)
    x[7, 0] = 50.0                                                 # one window far out in the hidden layer
    peaks = activation_peaks(network, {"x": x})
    assert peaks.shape == (100, 2) and peaks[7, 0] == pytest.approx(50.0)
    keep = trim_outlier_windows(network, {"x": x}, 0.9)
    assert not keep[7] and keep.sum() == 90
    # the kept windows are the calmest: none of them peaks above a left-out one in every layer
    assert peaks[keep].max(0)[0] <= peaks[~keep].max(0)[0]
    assert trim_outlier_windows(network, {"x": x}, None).all() and trim_outlier_windows(network, {"x": x}, 1).all()
    with pytest.raises(ConfigError, match="share of calibration windows"):
        trim_outlier_windows(network, {"x": x}, 1.5)


def test_calibration_keep_argument():
    import argparse

    from ecg.commands.export import _keep

    assert _keep("auto") == "auto" and _keep("0.5") == 0.5 and _keep("1") == 1.0
    for bad in ("0", "1.5", "half"):
        with pytest.raises(argparse.ArgumentTypeError, match="share in"):
            _keep(bad)


def test_threshold_levels_decide_as_the_raw_thresholds():
    """Hand-made splits: x <= t on raw values is count(thresholds < x) <= k, also where a feature
    has more thresholds than one column holds, at the thresholds themselves and beyond them."""
    from ecg.export.features import apply_feature_transform, threshold_levels

    rng = np.random.default_rng(0)
    n_trees, n_nodes = 50, 3
    feature = rng.integers(0, 2, (n_trees, n_nodes)).astype(np.float32)
    threshold = rng.choice(np.linspace(-5, 5, 31).astype(np.float32), (n_trees, n_nodes))
    paths = np.ones((n_trees, 2, n_nodes), np.float32)
    transform, new_feature, new_threshold = threshold_levels(feature, threshold, paths, 2, levels=7)
    assert len(transform["thresholds"]) > 2                    # feature 0 and 1 each span several columns
    x = np.r_[threshold.ravel()[:20], rng.uniform(-8, 8, 200)].astype(np.float32)
    raw = np.stack([x, x[::-1]], axis=1)
    counts = apply_feature_transform(raw, transform)
    expected = raw[:, feature.astype(int)] <= threshold                        # (n, trees, nodes)
    got = counts[:, new_feature.astype(int)] <= new_threshold
    assert np.array_equal(got, expected) and expected.any() and (~expected).any()


def test_calibration_of_a_single_lead_model_takes_every_lead(fixture_dir):
    """zoo:ludb_delineation sees one lead at a time: 12-lead LUDB records give 12 windows each,
    padded to the U-Net's multiple."""
    from ecg.export.calibration import representative_windows

    model = KerasBaseModel({"path": "zoo:ludb_delineation"})
    multiple = model.config.info["step_multiple"]
    (x,) = representative_windows(model.config, str(fixture_dir / "ludb"), n_records=3, max_windows=100)
    assert x.shape[0] == 36 and x.shape[2] == 1 and x.shape[1] % multiple == 0 and x.shape[1] >= 2500
    assert np.array_equal(x[:, -1], x[:, 2499])                  # edge padding of each lead's window
    assert len({float(np.round(w.std(), 4)) for w in x}) > 1     # different leads, not copies


@pytest.mark.slow
def test_predict_runs_exported_files_like_the_keras_model(zoo_exports, cinc_dir, tmp_path):
    import pandas as pd

    folder, _ = zoo_exports
    tables = {}
    for name in ("zoo:cinc2017", folder / "cinc2017.onnx", folder / "cinc2017_int8.tflite"):
        out = tmp_path / f"{len(tables)}.csv"
        assert main(["predict", "--model", str(name), "--records", str(cinc_dir), "--out", str(out)]) == 0
        tables[len(tables)] = pd.read_csv(out)
    keras_table, onnx_table, int8_table = tables.values()
    assert len(keras_table) == 40 and list(onnx_table.record) == list(keras_table.record)
    probabilities = [c for c in keras_table.columns if c.startswith("p_")]
    assert np.abs(onnx_table[probabilities].to_numpy() - keras_table[probabilities].to_numpy()).max() <= TOLERANCE
    assert (int8_table.label == keras_table.label).mean() >= 0.95
