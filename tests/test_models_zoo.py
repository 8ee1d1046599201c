"""Tests of the architectures of ``ecg.models`` on real CinC 2017 windows.

Every architecture is built tiny, trained a few steps on real ECG windows (the loss
must go down), saved to ``.keras`` and reloaded with ``safe_mode=True`` (predictions
identical). ``tests/test_models_jax.py`` reruns part of this file on JAX.
"""
import doctest
import importlib
import os

import keras
import numpy as np
import pytest
import wfdb

from ecg.errors import ConfigError
from ecg.models import layer_spec as layer_spec_module
from ecg.models.describe import count_macs, describe
from ecg.models.factory import build_network
from ecg.models.layer_spec import read_layer_spec
from ecg.models.mobileone import MobileOneBlock, reparameterize

STEPS = 512
CLASSES = "NAO~"

# Tiny settings of every architecture: (params, tasks it is tested on).
ZOO = {
    "fc": ({"units": [8]}, ("classification", "segmentation")),
    "cnn": ({"filters": [4, 8], "kernel_size": 5}, ("classification",)),
    "tcn": ({"input_filters": 4, "blocks": [{"filters": 4, "dilation": 1},
                                            {"filters": 8, "dilation": 4, "se_ratio": 2, "separable": True}]},
            ("classification", "segmentation")),
    "unet": ({"filters": [4, 8], "down_depth": 1, "up_depth": 1}, ("classification", "segmentation")),
    "unext": ({"filters": [4, 8], "expand_ratio": 2, "se_ratio": 2}, ("classification", "segmentation")),
    "efficientnet": ({"stem_filters": 4, "head_filters": 8,
                      "stages": [{"filters": 4, "fused": True, "expand_ratio": 1},
                                 {"filters": 8, "strides": 2, "expand_ratio": 2, "se_ratio": 2}]},
                     ("classification",)),
    "resnet": ({"stem_filters": 4, "stages": [{"filters": 8}, {"filters": 8, "strides": 2}],
                "block": "bottleneck", "bottleneck_ratio": 2}, ("classification",)),
    "mobileone": ({"stem_filters": 4, "stages": [{"filters": 8}, {"filters": 8, "strides": 1, "dilation": 2}]},
                  ("classification",)),
    "conformer": ({"dim": 8, "depth": 1, "num_heads": 2, "ff_ratio": 2, "conv_kernel": 7, "patch_size": 8},
                  ("classification", "segmentation")),
    "metaformer": ({"stages": [{"dim": 8, "patch_size": 8}, {"dim": 8, "patch_size": 2, "mixer": "attention"}],
                    "mlp_ratio": 2}, ("classification", "segmentation")),
    "tsmixer": ({"dim": 4, "depth": 1, "ff_dim": 8}, ("classification", "segmentation")),
    "layer_spec": ({"layers": [{"type": "ConvBNReLU", "out_channels": 4, "kernel_size": 5},
                               {"type": "MaxPool", "kernel_size": 4},
                               {"type": "DWConvBNReLU", "kernel_size": 3},
                               {"type": "PWConvBNReLU", "out_channels": 8},
                               {"type": "GlobalAvgPool"},
                               {"type": "Linear"}]}, ("classification",)),
}
CASES = [(name, task) for name, (_, tasks) in ZOO.items() for task in tasks]
CLASSIFICATION_ONLY = ["efficientnet", "resnet", "mobileone", "layer_spec"]


@pytest.fixture(scope="module")
def windows(cinc_dir):
    """Eight standardized 512-sample windows (300 Hz, 1 lead), two per class, and labels."""
    labels = dict(line.strip().split(",") for line in (cinc_dir / "REFERENCE.csv").read_text().splitlines())
    by_class = {cls: sorted(name for name, label in labels.items() if label == cls)[:2] for cls in CLASSES}
    picked = [by_class[cls][index] for index in range(2) for cls in CLASSES]
    signals = []
    for name in picked:
        signal = wfdb.rdrecord(str(cinc_dir / name)).p_signal[1000:1000 + STEPS, :1].astype("float32")
        signals.append((signal - signal.mean()) / (signal.std() + 1e-6))
    x = np.stack(signals)
    y = np.eye(len(CLASSES), dtype="float32")[[CLASSES.index(labels[name]) for name in picked]]
    return x, y


def segmentation_targets(x):
    """Per-sample classes from the signal: below -0.5, between, above +0.5 (standardized)."""
    return np.eye(3, dtype="float32")[np.digitize(x[..., 0], [-0.5, 0.5])]


def train_losses(model, x, y, steps=8):
    """Compile with the settings KerasBaseModel uses and return the first and last batch loss."""
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    losses = [float(model.train_on_batch(x, y)) for _ in range(steps)]
    return losses[0], losses[-1]


@pytest.mark.parametrize("name,task", CASES)
def test_trains_saves_and_reloads(name, task, windows, tmp_path):
    keras.utils.set_random_seed(0)
    x, y = windows
    if task == "segmentation":
        y = segmentation_targets(x)
    params, _ = ZOO[name]
    model = build_network({"name": name, "params": params}, (STEPS, 1), y.shape[-1], task)
    assert model.output_shape == (None,) + y.shape[1:]
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)

    first, last = train_losses(model, x, y)
    assert last < first, f"{name} {task}: loss went from {first} to {last}"

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert loaded.count_params() == model.count_params()
    assert f"parameters: {model.count_params():,}" in describe(name, (STEPS, 1), y.shape[-1], params, task)


@pytest.mark.parametrize("name", CLASSIFICATION_ONLY)
def test_classification_only_architectures_refuse_segmentation(name):
    with pytest.raises(ConfigError, match=f"'{name}' cannot do task='segmentation'"):
        build_network({"name": name, "params": ZOO[name][0]}, (STEPS, 1), 3, "segmentation")


def test_cnn_segments_only_without_pooling():
    with pytest.raises(ConfigError, match="set pool_size=1"):
        build_network({"name": "cnn", "params": {"filters": [4]}}, (STEPS, 1), 3, "segmentation")
    params = {"filters": [4], "pool_size": 1}
    model = build_network({"name": "cnn", "params": params}, (STEPS, 1), 3, "segmentation")
    assert model.output_shape == (None, STEPS, 3)


def test_fc_parameter_count_formula():
    model = build_network({"name": "fc", "params": {"units": [8, 6]}}, (STEPS, 2), 4)
    inputs = STEPS * 2
    assert model.count_params() == inputs * 8 + 8 + 8 * 6 + 6 + 6 * 4 + 4


def test_cnn_parameter_count_and_macs_formula():
    model = build_network({"name": "cnn", "params": {"filters": [4, 8], "kernel_size": 5}}, (STEPS, 1), 4)
    # conv (no bias) + batch norm (4 values per channel) per stage, then the dense head
    assert model.count_params() == (5 * 1 * 4 + 4 * 4) + (5 * 4 * 8 + 4 * 8) + 8 * 4 + 4
    # each stage halves the length (max-pool 2) after its convolution
    assert count_macs(model) == STEPS * 5 * 1 * 4 + STEPS // 2 * 5 * 4 * 8 + 8 * 4


def test_layer_spec_parameter_count_formula():
    model = build_network({"name": "layer_spec", "params": ZOO["layer_spec"][0]}, (STEPS, 1), 4)
    conv = 5 * 1 * 4 + 4 * 4
    depthwise = 3 * 4 + 4 * 4
    pointwise = 4 * 8 + 4 * 8
    assert model.count_params() == conv + depthwise + pointwise + 8 * 4 + 4


# Parameters of ZOO networks counted by hand (4 classes, 3 for segmentation), so that a wrong
# count_params() or describe() fails. Convolutions k * c_in * c_out (no bias before a batch norm),
# depthwise k * c, dense c_in * c_out + c_out, batch norm 4 * c (scale, offset, moving mean, variance).
TCN_BODY = ((7 * 1 * 4 + 4 * 4)                                  # input convolution 1 -> 4
            + 2 * (3 * 4 * 4 + 4 * 4)                            # block 1: two 4 -> 4 convolutions
            + (4 * 8 + 4 * 8)                                    # block 2: 1x1 shortcut 4 -> 8,
            + (3 * 4 + 4 * 8 + 4 * 8) + (3 * 8 + 8 * 8 + 4 * 8)  # two separable convolutions,
            + (8 * 4 + 4) + (4 * 8 + 8))                         # squeeze-excite 8 -> 4 -> 8
RESNET = ((7 * 1 * 4 + 4 * 4)                                    # stem 1 -> 4
          # bottleneck blocks 4 -> 8, then 8 -> 8 with stride 2: shortcut, 1x1 to 4, 3x3, 1x1 to 8
          + (4 * 8 + 4 * 8) + (4 * 4 + 4 * 4) + (3 * 4 * 4 + 4 * 4) + (4 * 8 + 4 * 8)
          + (8 * 8 + 4 * 8) + (8 * 4 + 4 * 4) + (3 * 4 * 4 + 4 * 4) + (4 * 8 + 4 * 8)
          + 8 * 4 + 4)                                           # head
EFFICIENTNET = ((5 * 1 * 4 + 4 * 4)                              # stem 1 -> 4
                + (3 * 4 * 4 + 4 * 4)                            # fused MBConv 4 -> 4
                + (4 * 8 + 4 * 8) + (3 * 8 + 4 * 8)              # MBConv: expansion 4 -> 8, depthwise,
                + (8 * 2 + 2) + (2 * 8 + 8)                      # squeeze-excite 8 -> 2 -> 8,
                + (8 * 8 + 4 * 8)                                # projection 8 -> 8
                + (8 * 8 + 4 * 8)                                # head convolution 8 -> 8
                + 8 * 4 + 4)                                     # head
HAND_COUNTS = {("tcn", "classification"): TCN_BODY + 8 * 4 + 4, ("tcn", "segmentation"): TCN_BODY + 8 * 3 + 3,
               ("resnet", "classification"): RESNET, ("efficientnet", "classification"): EFFICIENTNET}


@pytest.mark.parametrize("name,task", sorted(HAND_COUNTS))
def test_parameter_counts_match_hand_counts(name, task):
    num_classes = 3 if task == "segmentation" else len(CLASSES)
    model = build_network({"name": name, "params": ZOO[name][0]}, (STEPS, 1), num_classes, task)
    assert model.count_params() == HAND_COUNTS[name, task]
    summary = describe(name, (STEPS, 1), num_classes, ZOO[name][0], task)
    assert f"parameters: {HAND_COUNTS[name, task]:,}" in summary


def test_layer_spec_reads_ti_style_yaml(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "layers:\n"
        "  - {type: ConvBNReLULayer, in_channels: 1, out_channels: 8, kernel_size: [5, 1], padding: [2, 0]}\n"
        "  - {type: MaxPoolLayer, kernel_size: [2, 1], stride: [2, 1]}\n"
        "  - {type: ReshapeLayer, ndim: 2}\n"
        "  - {type: DropoutLayer, p: 0.1}\n"
        "  - {type: LinearLayer, in_features: 128, out_features: 3}\n"
        "npu_check: true\n"
    )
    model = build_network({"name": "layer_spec", "params": read_layer_spec(spec)}, (32, 1), 3)
    assert model.output_shape == (None, 3)
    assert model.count_params() == 5 * 8 + 4 * 8 + 128 * 3 + 3


def test_layer_spec_checks_declared_sizes():
    spec = {"layers": [{"type": "ConvBNReLU", "out_channels": 4, "in_channels": 2}, {"type": "GlobalAvgPool"}]}
    with pytest.raises(ConfigError, match=r"layer 0 \(ConvBNReLU\): in_channels=2"):
        build_network({"name": "layer_spec", "params": spec}, (64, 1), 2)


NPU_OK = [{"type": "ConvBNReLU", "out_channels": 8, "kernel_size": 5},
          {"type": "MaxPool", "kernel_size": 2},
          {"type": "ConvBNReLU", "out_channels": 16, "kernel_size": 3},
          {"type": "GlobalAvgPool"},
          {"type": "Linear"}]


def npu_build(changes):
    """Build the compliant spec above with ``changes`` {index: layer dict} and the NPU check on."""
    layers = [changes.get(index, layer) for index, layer in enumerate(NPU_OK)]
    return build_network({"name": "layer_spec", "params": {"layers": layers, "npu_check": True}}, (256, 1), 4)


def test_npu_compliant_spec_builds():
    assert npu_build({}).output_shape == (None, 4)


def test_npu_rule_channels_multiple_of_four():
    with pytest.raises(ConfigError, match=r"layer 2 \(ConvBNReLU\): out_channels=18 .*\[NPU rule: channels\]"):
        npu_build({2: {"type": "ConvBNReLU", "out_channels": 18}})


def test_npu_rule_kernel_height():
    with pytest.raises(ConfigError, match=r"layer 0 \(ConvBNReLU\): kernel height 9 exceeds 7 \[NPU rule: kernel\]"):
        npu_build({0: {"type": "ConvBNReLU", "out_channels": 8, "kernel_size": [9, 1]}})


def test_npu_rule_pool_size():
    with pytest.raises(ConfigError, match=r"layer 1 \(MaxPool\): pool kernel 5 exceeds 4 \[NPU rule: pool\]"):
        npu_build({1: {"type": "MaxPool", "kernel_size": 5}})


def test_npu_rule_groups():
    with pytest.raises(ConfigError, match=r"layer 2 \(ConvBNReLU\): groups=2 .*\[NPU rule: groups\]"):
        npu_build({2: {"type": "ConvBNReLU", "out_channels": 16, "groups": 2}})


def test_npu_rule_final_dense_inputs():
    with pytest.raises(ConfigError, match=r"layer 4 \(Linear\): .* fed by 8 values, fewer than 16"):
        npu_build({2: {"type": "ConvBNReLU", "out_channels": 8}})


def test_npu_rules_off_by_default():
    layers = [{"type": "ConvBNReLU", "out_channels": 6, "kernel_size": 9}, {"type": "GlobalAvgPool"}]
    assert build_network({"name": "layer_spec", "params": {"layers": layers}}, (64, 1), 2).output_shape == (None, 2)


def test_mobileone_reparameterize_folds_branches(windows, tmp_path):
    keras.utils.set_random_seed(0)
    x, y = windows
    params = {**ZOO["mobileone"][0], "num_branches": 3}
    model = build_network({"name": "mobileone", "params": params}, (STEPS, 1), 4)
    train_losses(model, x, y, steps=4)  # moves batch-norm statistics away from their initial values
    fused = reparameterize(model)
    np.testing.assert_allclose(fused.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    blocks = [layer for layer in fused.layers if isinstance(layer, MobileOneBlock)]
    assert blocks and all(block.inference_mode and block.branches is None for block in blocks)
    assert fused.count_params() < model.count_params()
    assert count_macs(fused) < count_macs(model)
    fused.save(tmp_path / "fused.keras")
    loaded = keras.saving.load_model(tmp_path / "fused.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), fused.predict(x, verbose=0), atol=1e-6)


def test_tcn_causal_output_ignores_future_samples(windows):
    x = windows[0][:2]
    blocks = [{"filters": 4, "dilation": 1}, {"filters": 8, "dilation": 4, "separable": True}]
    params = {"input_filters": 4, "blocks": blocks, "causal": True}
    model = build_network({"name": "tcn", "params": params}, (None, 1), 3, "segmentation")
    changed = x.copy()
    changed[:, 300:] += 5.0
    before, after = model.predict(x, verbose=0), model.predict(changed, verbose=0)
    np.testing.assert_allclose(after[:, :300], before[:, :300], atol=1e-6)
    assert not np.allclose(after[:, 300:], before[:, 300:])


def test_causal_tcn_refuses_squeeze_excite():
    with pytest.raises(ConfigError, match="set se_ratio=0"):
        build_network({"name": "tcn", "params": {**ZOO["tcn"][0], "causal": True}}, (None, 1), 3)


def test_unet_2d_over_leads(fixture_dir):
    signal = wfdb.rdrecord(str(fixture_dir / "ludb" / "1")).p_signal[:256].astype("float32")
    params = {"dims": 2, "filters": [4, 8], "down_depth": 1, "up_depth": 1}
    model = build_network({"name": "unet", "params": params}, (256, 12), 4, "segmentation")
    assert model.predict(signal[None], verbose=0).shape == (1, 256, 4)


def test_unet_needs_length_multiple_of_pooling():
    with pytest.raises(ConfigError, match="multiple of 4 samples"):
        build_network({"name": "unet", "params": {"filters": [4, 8, 8]}}, (510, 1), 2, "segmentation")


def test_fully_convolutional_nets_take_any_length(windows):
    model = build_network({"name": "tcn", "params": ZOO["tcn"][0]}, (None, 1), 4)
    assert model.predict(windows[0][:, :300], verbose=0).shape == (8, 4)


def test_output_activation_sigmoid_and_linear(windows):
    x = windows[0]
    sigmoid = build_network({"name": "cnn", "params": {"filters": [4], "output_activation": "sigmoid"}},
                            (STEPS, 1), 4)
    assert not np.allclose(sigmoid.predict(x, verbose=0).sum(axis=-1), 1.0)
    linear = build_network({"name": "cnn", "params": {"filters": [4], "output_activation": "linear"}},
                           (STEPS, 1), 4)
    assert linear.get_layer("probabilities").get_config()["activation"] == "linear"


def test_backend_matches_environment():
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


@pytest.mark.parametrize("module", [*ZOO, "describe"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"ecg.models.{module}"), optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed


def test_layer_spec_module_documents_every_npu_rule():
    for rule in ("channels", "kernel", "pool", "groups", "dense input"):
        assert f"*{rule}*" in layer_spec_module.__doc__
