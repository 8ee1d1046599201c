"""Models written the way CardIO's model guide shows them: a KerasBaseModel subclass with its own
``build(self, input_shape)``, and a function of the first batch named in ``init_model``; trained
in pipelines on real CinC 2017 records, saved, and loaded back by path without their code."""
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from batchflow import B, V

from ecg import EcgDataset, KerasBaseModel
from ecg.errors import ModelError


class SimpleFCModel(KerasBaseModel):
    """The guide's SimpleFCModel in Keras 3 form."""

    def build(self, input_shape):
        """Build and compile a small FC network for ``input_shape`` ``(steps, channels)``."""
        inputs = keras.Input(input_shape)
        x = keras.layers.Dense(16, activation="relu")(inputs)
        x = keras.layers.GlobalAveragePooling1D()(x)
        self.model = keras.Model(inputs=inputs, outputs=keras.layers.Dense(2, activation="softmax")(x))
        self.model.compile(loss="categorical_crossentropy", optimizer="adam")
        return self


def fc_model(config=None):
    """The guide's dynamic-model function: batchflow puts the first batch in ``config["batch"]``."""
    batch = config["batch"]
    return SimpleFCModel({"seed": 0}).build(batch.model_inputs().shape[1:])


@pytest.fixture(scope="module")
def dataset(cinc_dir):
    return EcgDataset(path=str(cinc_dir / "*.hea"))


def _prepared(pipeline, cinc_dir):
    return (pipeline.load(fmt="wfdb", components=["signal", "meta"])
            .load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv", components="target")
            .crop_signals(3000).binarize_labels(["A"]))


def _train(dataset, cinc_dir, model_class, mode="dynamic", config=None):
    pipeline = _prepared(dataset.p.init_model("fc_model", model_class, mode=mode, config=config), cinc_dir)
    pipeline = pipeline.train_on_batch("fc_model")
    pipeline.run(batch_size=8, shuffle=3, drop_last=True, n_epochs=2)
    return pipeline.m("fc_model")


def _predict(dataset, cinc_dir, path):
    """The guide's predict pipeline: the saved model named by path in the model's config."""
    pipeline = (_prepared(dataset.p.init_model("fc_model", KerasBaseModel, config={"path": str(path)})
                          .init_variable("prediction", []), cinc_dir)
                .predict_on_batch("fc_model", save_to=V("prediction", mode="e")))
    pipeline.run(batch_size=10, shuffle=False, drop_last=False, n_epochs=1)
    return np.stack(pipeline.v("prediction"))


@pytest.mark.parametrize("how", ["dynamic", "static", "function"])
def test_a_model_of_the_guide_trains_saves_and_reloads_without_its_code(dataset, cinc_dir, tmp_path, how):
    if how == "function":
        model = _train(dataset, cinc_dir, fc_model, config={"batch": B()})
    elif how == "static":
        model = _train(dataset, cinc_dir, SimpleFCModel, "static", {"input_shape": (3000, 1), "seed": 0})
    else:
        model = _train(dataset, cinc_dir, SimpleFCModel, config={"seed": 0})
    assert type(model) is SimpleFCModel and model.builds_own_network
    assert len(model.hist) == 10                          # 40 records / 8, two epochs
    assert model.config.input_shape == (3000, 1) and model.config.num_classes == 2
    assert model.classes == ["other", "A"]
    assert model.config.model.name == "own" and model.config.model.params["class"].endswith("SimpleFCModel")
    model.save(tmp_path / "fc")

    reference = _prepared(dataset.p, cinc_dir).next_batch(40, shuffle=False, n_epochs=1)
    expected = model.predict_on_batch(reference.model_inputs())
    # batches of 10 against one of 40: float32 kernels may round differently with the batch size
    np.testing.assert_allclose(_predict(dataset, cinc_dir, tmp_path / "fc"), expected, rtol=0, atol=1e-6)
    for cls in (KerasBaseModel, SimpleFCModel):            # safe mode: a plain functional network
        loaded = cls({"path": str(tmp_path / "fc")})
        assert loaded.classes == ["other", "A"]
        np.testing.assert_array_equal(loaded.predict_on_batch(reference.model_inputs()), expected)
    with pytest.raises(ModelError, match="compact=False"):
        model.save(tmp_path / "compact", compact=True)


def test_same_seed_same_network_and_reset_builds_afresh(dataset, cinc_dir):
    a = _train(dataset, cinc_dir, SimpleFCModel, config={"seed": 0})
    b = _train(dataset, cinc_dir, SimpleFCModel, config={"seed": 0})
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    a.reset()
    assert not a.is_built
    a.train_on_batch(np.zeros((2, 3000, 1), np.float32), np.eye(2, dtype=np.float32))
    assert a.is_built and len(a.hist) == 1


def test_the_framework_build_is_kept_for_other_signatures():
    assert not KerasBaseModel().builds_own_network

    class Wrapped(KerasBaseModel):
        def build(self, *args, **kwargs):
            return super().build(*args, **kwargs)

    model = Wrapped({"model": {"name": "fc"}, "seed": 0})
    assert not model.builds_own_network
    model.train_on_batch(np.zeros((3, 300, 1), np.float32), np.eye(3, dtype=np.float32))
    assert model.model.output_shape == (None, 3) and model.config.model.name == "fc"


def test_a_build_that_sets_no_network_or_is_given_metrics_is_refused():
    class NoNetwork(KerasBaseModel):
        def build(self, input_shape):
            return self

    x, y = np.zeros((2, 300, 1), np.float32), np.eye(2, dtype=np.float32)
    with pytest.raises(ModelError, match=r"NoNetwork\.build\(input_shape\) returned without a network"):
        NoNetwork().train_on_batch(x, y)
    with pytest.raises(ModelError, match="compiles its network in its own build"):
        SimpleFCModel().train_on_batch(x, y, metrics=["accuracy"])
    with pytest.raises(ModelError, match="must be a keras.Model. Received: str"):
        SimpleFCModel().model = "network"
    with pytest.raises(ModelError, match="not built"):
        SimpleFCModel().model_summary()


JAX_CHECK = r'''
import sys, tempfile
import keras
import numpy as np
from batchflow import B
assert keras.backend.backend() == "jax"
sys.path.insert(0, sys.argv[2])
import test_authoring as t
from ecg import EcgDataset, KerasBaseModel
from pathlib import Path
cinc = Path(sys.argv[1])
ds = EcgDataset(path=str(cinc / "*.hea"))
for how in ("dynamic", "static", "function"):
    if how == "function":
        model = t._train(ds, cinc, t.fc_model, config={"batch": B()})
    elif how == "static":
        model = t._train(ds, cinc, t.SimpleFCModel, "static", {"input_shape": (3000, 1), "seed": 0})
    else:
        model = t._train(ds, cinc, t.SimpleFCModel, config={"seed": 0})
    assert len(model.hist) == 10 and model.classes == ["other", "A"], (model.hist, model.classes)
    path = tempfile.mkdtemp() + "/fc"
    model.save(path)
    x = t._prepared(ds.p, cinc).next_batch(40, shuffle=False, n_epochs=1).model_inputs()
    expected = model.predict_on_batch(x)
    np.testing.assert_allclose(t._predict(ds, cinc, path), expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(KerasBaseModel({"path": path}).predict_on_batch(x), expected)
print("ok")
'''


def test_the_guide_models_on_jax(cinc_dir):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", JAX_CHECK, str(cinc_dir), os.path.dirname(__file__)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_the_readme_example_runs(monkeypatch, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Bring your own model", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip().endswith("40 ['other', 'A']")
