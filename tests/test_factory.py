"""Tests of the model factory, bring-your-own models and the ``ecg models`` command."""
import doctest
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ConfigDict, PositiveInt

from ecg.cli import main
from ecg.errors import ConfigError, ModelError
from ecg.models import factory as factory_module
from ecg.models.factory import ModelFactory, build_network, model_factory
from ecg.models.params import CnnParams

BUILTINS = ["autoencoder", "cnn", "conformer", "efficientnet", "fc", "layer_spec", "metaformer", "mobileone", "resnet",
            "tcn", "tsmixer", "unet", "unext"]


class MlpParams(BaseModel):
    """A user's own architecture: a dense layer per sample, then the output layer."""

    model_config = ConfigDict(extra="forbid")
    units: PositiveInt = 8


def per_sample_mlp(inputs, params, num_classes, task="classification"):
    """A bring-your-own model: uses only Keras, nothing from ecg."""
    import keras

    x = keras.layers.Dense(params.units, activation="relu")(inputs)
    if task == "classification":
        x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def classification_only(inputs, params, num_classes):
    import keras

    x = keras.layers.GlobalAveragePooling1D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


@pytest.fixture
def user_model():
    """Register ``per_sample_mlp`` in the default factory for one test."""
    model_factory.register("user_mlp", per_sample_mlp, MlpParams)
    yield "user_mlp"
    model_factory.unregister("user_mlp")


def test_default_factory_lists_builtins():
    assert model_factory.list() == BUILTINS
    assert all(model_factory.has(name) for name in BUILTINS)


def test_register_unregister_has_get_list():
    factory = ModelFactory()
    factory.register("mlp", per_sample_mlp, MlpParams)
    assert factory.has("mlp") and factory.list() == ["mlp"]
    assert factory.get("mlp") is per_sample_mlp
    assert factory.params_model("mlp") is MlpParams
    factory.unregister("mlp")
    assert not factory.has("mlp") and factory.list() == []


def test_register_taken_name_needs_replace():
    factory = ModelFactory()
    factory.register("mlp", per_sample_mlp, MlpParams)
    with pytest.raises(ConfigError, match="'mlp' is already registered; pass replace=True"):
        factory.register("mlp", classification_only, MlpParams)
    factory.register("mlp", classification_only, MlpParams, replace=True)
    assert factory.get("mlp") is classification_only


def test_unknown_name_lists_registered():
    with pytest.raises(ConfigError, match="unknown architecture 'tcnn'; registered: autoencoder, cnn, conformer"):
        model_factory.get("tcnn")
    with pytest.raises(ConfigError, match="unknown architecture"):
        ModelFactory().unregister("nothing")


def test_lazy_registration_by_module_path():
    factory = ModelFactory()
    factory.register("dense", "ecg.models.fc:fc", "ecg.models.params:FcParams")
    from ecg.models.params import FcParams

    assert factory.params_model("dense") is FcParams
    from ecg.models.fc import fc

    assert factory.get("dense") is fc


def test_importing_factory_and_listing_do_not_import_keras():
    code = ("import sys; from ecg.models.factory import model_factory; from ecg.cli import main; "
            "main(['models']); model_factory.validate_params('tcn', {}); "
            "assert 'keras' not in sys.modules, 'keras imported'")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert "tcn" in completed.stdout


def test_unknown_key_names_the_valid_keys():
    with pytest.raises(ConfigError) as error:
        build_network({"name": "cnn", "params": {"filter": [4]}}, (256, 1), 2)
    message = str(error.value)
    assert "filter: Extra inputs are not permitted" in message
    assert f"Valid keys: {', '.join(CnnParams.model_fields)}." in message


def test_unknown_nested_key_names_the_nested_valid_keys():
    params = {"blocks": [{"filters": 4, "dilations": 2}]}
    with pytest.raises(ConfigError, match=r"blocks\.0\.dilations: .*valid keys here: filters, kernel_size, dilation"):
        model_factory.validate_params("tcn", params)


def test_wrong_value_is_reported_with_its_key():
    with pytest.raises(ConfigError, match=r"architecture 'cnn': invalid params: kernel_size: .*received 0"):
        model_factory.validate_params("cnn", {"kernel_size": 0})


def test_defaults_are_valid_for_every_builtin():
    for name in BUILTINS:
        if name != "layer_spec":
            assert model_factory.validate_params(name, None) == model_factory.params_model(name)()
    with pytest.raises(ConfigError, match="layers: Field required"):
        model_factory.validate_params("layer_spec", {})


def test_build_network_accepts_object_and_params_instance():
    arch = SimpleNamespace(name="cnn", params=CnnParams(filters=[4]))
    assert build_network(arch, (128, 2), 3).output_shape == (None, 3)


def test_build_network_checks_its_arguments():
    with pytest.raises(ConfigError, match="task must be one of"):
        build_network({"name": "cnn"}, (128, 1), 3, task="regression")
    with pytest.raises(ConfigError, match="input_shape must be"):
        build_network({"name": "cnn"}, (128,), 3)
    with pytest.raises(ConfigError, match="num_classes must be a positive integer"):
        build_network({"name": "cnn"}, (128, 1), 0)
    with pytest.raises(ConfigError, match="architecture must be"):
        build_network({"name": "cnn", "param": {}}, (128, 1), 3)


def test_bring_your_own_model_works_like_a_builtin(user_model, cinc_dir, tmp_path):
    import keras
    import numpy as np
    import wfdb

    x = wfdb.rdrecord(str(cinc_dir / "A00001")).p_signal[:256, :1].astype("float32")[None]
    model = build_network({"name": user_model, "params": {"units": 4}}, (256, 1), 3)
    assert model.count_params() == 1 * 4 + 4 + 4 * 3 + 3
    segmenter = build_network({"name": user_model, "params": {"units": 4}}, (256, 1), 3, "segmentation")
    assert segmenter.predict(x, verbose=0).shape == (1, 256, 3)
    model.save(tmp_path / "user.keras")
    loaded = keras.saving.load_model(tmp_path / "user.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(ConfigError, match="Valid keys: units."):
        build_network({"name": user_model, "params": {"width": 4}}, (256, 1), 3)


def test_model_without_task_argument_is_classification_only():
    factory = ModelFactory()
    factory.register("pooled", classification_only, MlpParams)
    assert factory.build({"name": "pooled"}, (64, 1), 2).output_shape == (None, 2)
    with pytest.raises(ConfigError, match="'pooled' cannot do task='segmentation'"):
        factory.build({"name": "pooled"}, (64, 1), 2, "segmentation")


def test_model_with_wrong_output_shape_is_rejected():
    factory = ModelFactory()
    factory.register("wrong", lambda inputs, params, num_classes: classification_only(inputs, params, 5),
                     MlpParams)
    with pytest.raises(ModelError, match=r"output shape \(None, 5\).*expected \(None, 2\)"):
        factory.build({"name": "wrong"}, (64, 1), 2)


def test_cli_lists_builtins_and_user_models(user_model, capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split()[0] for line in lines[:lines.index("")]]      # then the front-ends
    assert listed == sorted(BUILTINS + [user_model])
    assert lines[lines.index("") + 1].startswith("front-ends")
    assert main(["models", "list"]) == 0


def test_cli_describe_prints_schema_size_and_compute(capsys):
    params = json.dumps({"filters": [4, 8], "kernel_size": 5})
    assert main(["models", "describe", "cnn", "--input-shape", "500,1", "--num-classes", "4",
                 "--params", params]) == 0
    out = capsys.readouterr().out
    assert "filters: list[int] = [16, 32, 64]" in out
    assert "kernel_size: int = 7" in out and "Convolution kernel length, in samples." in out
    assert f"parameters: {(5 * 4 + 4 * 4) + (5 * 4 * 8 + 4 * 8) + 8 * 4 + 4:,}" in out
    macs = 500 * 5 * 4 + 250 * 5 * 4 * 8 + 8 * 4
    assert f"MACs per example: {macs:,}" in out and f"FLOPs per example: {2 * macs:,}" in out
    assert "Total params" in out


def test_cli_describe_schema_only_and_nested(capsys):
    assert main(["models", "describe", "tcn"]) == 0
    out = capsys.readouterr().out
    assert "blocks: list[TcnBlock]" in out and "TcnBlock: One residual TCN block" in out


def test_cli_describe_reads_params_file(tmp_path, capsys):
    spec = tmp_path / "arch.yaml"
    spec.write_text("name: fc\nparams:\n  units: [4]\n")
    assert main(["models", "describe", "fc", "--input-shape", "100,2", "--num-classes", "3",
                 "--params", str(spec)]) == 0
    assert f"parameters: {200 * 4 + 4 + 4 * 3 + 3:,}" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["models", "describe", "nope"], "unknown architecture 'nope'"),
    (["models", "describe", "cnn", "--input-shape", "2500x1"], "--input-shape must be STEPS,CHANNELS"),
    (["models", "describe", "cnn", "--input-shape", "100,1", "--params", '{"bad": 1}'], "Valid keys:"),
])
def test_cli_errors_exit_2_with_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_factory_docstring_examples():
    result = doctest.testmod(factory_module)
    assert result.attempted and not result.failed
