"""KerasBaseModel: config validation, build from the first batch, save/load, batchflow protocol;
the fast training path of ecg.models.keras_fast against Keras' public train_on_batch."""
import ast
import json
import os
import subprocess
import sys
import threading
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import wfdb
from batchflow import B, V

from ecg import EcgDataset, KerasBaseModel
from ecg.errors import ConfigError, ModelError
from ecg.models import keras_fast

CFG = {"model": {"name": "cnn", "params": {"filters": [4, 8], "norm": "layer"}}, "seed": 0}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def windows(cinc_dir):
    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))[:16]
    x = np.stack([wfdb.rdrecord(str(cinc_dir / n)).p_signal[:1500].astype(np.float32) for n in names])
    y = np.eye(2, dtype=np.float32)[np.arange(16) % 2]
    return x, y


def test_unknown_config_key_names_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown key 'optimiser'.*valid keys:.*optimizer"):
        KerasBaseModel({"optimiser": "adam"})
    with pytest.raises(ConfigError, match="task"):
        KerasBaseModel({"task": "regression"})


def test_built_from_first_batch_and_saved_identically(windows, tmp_path, capsys):
    x, y = windows
    model = KerasBaseModel(CFG)
    assert not model.is_built
    with pytest.raises(ModelError, match="not built"):
        model.predict_on_batch(x)
    logs = model.train_on_batch(x, y, classes=["no", "yes"])
    assert set(logs) == {"loss"} and model.model.input_shape == (None, 1500, 1)
    model.model_summary()
    assert "Total params" in capsys.readouterr().out
    model.save(tmp_path / "m")
    model.train_on_batch(x, y)
    model.save(tmp_path / "m")                     # replaces the older save atomically
    loaded = KerasBaseModel({"path": str(tmp_path / "m")})
    np.testing.assert_array_equal(loaded.predict_on_batch(x), model.predict_on_batch(x))
    assert loaded.classes == ["no", "yes"] and loaded.config.seed == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_load_refuses_other_versions_and_non_models(windows, tmp_path):
    x, y = windows
    model = KerasBaseModel(CFG)
    model.train_on_batch(x, y)
    model.save(tmp_path / "m")
    meta_path = tmp_path / "m" / "ecg_model.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="format version 99"):
        KerasBaseModel({"path": str(tmp_path / "m")})
    with pytest.raises(ModelError, match="not a saved ecg model"):
        KerasBaseModel({"path": str(tmp_path)})


def test_same_seed_same_weights(windows):
    x, y = windows
    a, b = KerasBaseModel(CFG), KerasBaseModel(CFG)
    for model in (a, b):
        for _ in range(3):
            model.train_on_batch(x, y)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_batchflow_train_model_and_prefetch_lose_no_update(cinc_dir):
    ds = EcgDataset(path=str(cinc_dir / "*.hea"))
    common = (lambda p: p.load(fmt="wfdb", components=["signal", "meta"])
              .load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv", components="target")
              .crop_signals(3000).binarize_labels(["A"]))
    pipe = common(ds.p.init_model("m", KerasBaseModel, config=CFG).init_variable("loss", []))
    pipe = pipe.train_model("m", B("model_windows"), B("model_labels"), save_to=V("loss", mode="a"))
    pipe.run(batch_size=8, n_epochs=1, shuffle=False)              # batchflow's own verb
    assert len(pipe.m("m").hist) == 5
    assert pipe.v("loss") == [h["loss"] for h in pipe.m("m").hist]

    pipe2 = common(ds.p.init_model("m", KerasBaseModel, config=CFG)).train_on_batch("m")
    pipe2.run(batch_size=4, n_epochs=2, shuffle=True, prefetch=3)
    assert len(pipe2.m("m").hist) == 20          # every batch trained once, none lost or doubled


# --- the fast path (ecg.models.keras_fast) ----------------------------------------------------
def _train(config, x, y, steps=4):
    model = KerasBaseModel(config)
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model


def test_fast_path_gives_the_same_weights_and_logs(windows):
    x, y = windows
    runs = {fast: _train({**CFG, "fast_path": fast, "metrics": ["accuracy"]}, x, y) for fast in (True, False)}
    assert runs[True].step_counts == {"fast": 3, "public": 1}         # the first step builds the optimizer
    assert runs[False].step_counts == {"fast": 0, "public": 4}
    for wa, wb in zip(runs[True].model.get_weights(), runs[False].model.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-6)
    assert runs[True].hist == runs[False].hist
    assert all(type(v) is float for logs in runs[True].hist for v in logs.values())


def test_untested_keras_version_falls_back_to_train_on_batch_with_one_warning(windows, monkeypatch):
    import keras

    x, y = windows
    monkeypatch.setattr(keras_fast, "_warned", set())
    monkeypatch.setattr(keras, "__version__", "3.16.0")
    expected = r"tested with Keras 3\.15\.x, and Keras 3\.16\.0 is installed"
    with pytest.warns(RuntimeWarning, match=expected) as caught:
        runs = [_train(CFG, x, y, steps=3) for _ in range(2)]
    assert len([w for w in caught if "fast path" in str(w.message)]) == 1             # once per process
    assert [run.step_counts for run in runs] == [{"fast": 0, "public": 3}] * 2
    monkeypatch.undo()
    reference = _train(CFG, x, y, steps=3)
    assert reference.step_counts == {"fast": 2, "public": 1}
    for wa, wb in zip(runs[0].model.get_weights(), reference.model.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-6)


def test_the_guard_passes_on_this_keras_and_names_what_is_missing():
    network = KerasBaseModel(dict(CFG, input_shape=(300, 1), num_classes=2)).build((300, 1), 2).model
    assert keras_fast.untested_reason(network) is None
    reason = keras_fast.untested_reason(types.SimpleNamespace(reset_metrics=None, optimizer=None))
    assert "has no make_train_function, train_function, trainable_variables" in reason


def test_ecg_keras_fast_0_forces_the_public_path_silently(windows, monkeypatch):
    x, y = windows
    monkeypatch.setattr(keras_fast, "_warned", set())
    monkeypatch.setenv("ECG_KERAS_FAST", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = _train(CFG, x, y, steps=3)
    assert model.step_counts == {"fast": 0, "public": 3}


# Keras internals: attributes of keras.Model that are undocumented or backend-specific, and any
# private (underscore) attribute of Keras objects. ecg touches them in keras_fast.py only.
KERAS_INTERNALS = {"make_train_function", "train_function", "make_test_function", "test_function",
                   "make_predict_function", "predict_function", "jax_state_sync", "_jax_state",
                   "_jax_state_synced", "_get_jax_state", "_purge_model_variables", "_seed_generators",
                   "_flatten_layers"}
# Known uses outside keras_fast.py in code this change does not own, to move behind a public
# API or into keras_fast.py; an entry that no longer matches fails the test so it is dropped.
KNOWN_ELSEWHERE = {("ecg/models/describe.py", "_inbound_nodes")}


def _keras_private_names():
    import keras

    inputs = keras.Input((16, 1))
    network = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dropout(0.1)(inputs)))
    network.compile(optimizer="adam", loss="mse")
    objects = [network, *network.layers, network.optimizer, network.layers[-1].kernel,
               keras.random.SeedGenerator(1)]
    names = {name for obj in objects for name in dir(obj) if name.startswith("_") and not name.startswith("__")}
    return names | KERAS_INTERNALS


def test_no_keras_internals_outside_keras_fast():
    names = _keras_private_names()
    assert {"_seed_generators", "_tracker", "_inbound_nodes"} <= names
    found = set()
    for path in sorted((REPO / "ecg").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative == "ecg/models/keras_fast.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr in names
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                found.add((relative, node.attr, node.lineno))
    unexpected = sorted(hit for hit in found if hit[:2] not in KNOWN_ELSEWHERE)
    assert not unexpected, f"Keras internals outside ecg/models/keras_fast.py: {unexpected}"
    assert KNOWN_ELSEWHERE <= {hit[:2] for hit in found}, "drop the entries of KNOWN_ELSEWHERE that are gone"


class SerialCheckModel(KerasBaseModel):
    """Fails if two Keras training steps ever run at once, or one runs without the model lock.

    It wraps ``keras.Model.train_function``, the compiled step that both the fast path
    and ``keras.Model.train_on_batch`` call, and counts the calls.
    """

    def build(self, *args, **kwargs):
        super().build(*args, **kwargs)
        network, active, guard = self._network, [], threading.Lock()
        self.calls, self.errors = 0, []
        network.make_train_function()
        step = network.train_function

        def checked(*a, **kw):
            with guard:
                if not self.lock._is_owned():
                    self.errors.append("a training step outside the model lock")
                active.append(1)
                if len(active) > 1:
                    self.errors.append("two training steps at once")
            time.sleep(0.01)                             # widen the window for a racing step
            try:
                return step(*a, **kw)
            finally:
                with guard:
                    active.pop()
                    self.calls += 1

        network.train_function = checked
        return self


@pytest.mark.parametrize("fast", [True, False])
def test_prefetch_trains_every_batch_once_under_the_lock(cinc_dir, fast):
    ds = EcgDataset(path=str(cinc_dir / "*.hea"))
    model = SerialCheckModel({**CFG, "fast_path": fast})
    pipeline = (ds.p.import_model("m", model)
                .load(fmt="wfdb").load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv")
                .crop_signals(1500).one_hot_labels(["N", "A", "O", "~"]).train_on_batch("m"))
    pipeline.run(batch_size=4, n_epochs=2, shuffle=3, prefetch=3)
    assert model.errors == []
    assert len(model.hist) == model.calls == 20          # 40 records / 4, twice: none lost or doubled
    assert model.step_counts == ({"fast": 19, "public": 1} if fast else {"fast": 0, "public": 20})


JAX_CHECK = r'''
import numpy as np, wfdb, glob, sys, tempfile
import keras
assert keras.backend.backend() == "jax"
from ecg import KerasBaseModel
names = sorted(glob.glob(sys.argv[1] + "/*.hea"))[:16]
x = np.stack([wfdb.rdrecord(n[:-4]).p_signal[:1500].astype(np.float32) for n in names])
y = np.eye(2, dtype=np.float32)[np.arange(16) % 2]
cfg = {"model": {"name": "cnn", "params": {"filters": [4, 8], "norm": "batch"}}, "seed": 0,
       "metrics": ["accuracy"]}
runs = {}
for fast in (True, False):
    m = KerasBaseModel({**cfg, "fast_path": fast})
    for _ in range(4):
        m.train_on_batch(x, y)
    runs[fast] = m
assert runs[True].step_counts == {"fast": 3, "public": 1}, runs[True].step_counts
assert runs[False].step_counts == {"fast": 0, "public": 4}, runs[False].step_counts
assert runs[True]._train_step.holds_state            # the weights are in the jitted step's state
p_fast, p_slow = runs[True].predict_on_batch(x), runs[False].predict_on_batch(x)
for a, b in zip(runs[True].model.get_weights(), runs[False].model.get_weights()):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
np.testing.assert_allclose(p_fast, p_slow, rtol=1e-5, atol=1e-6)
np.testing.assert_allclose([h["loss"] for h in runs[True].hist], [h["loss"] for h in runs[False].hist],
                           rtol=1e-5)
for m in runs.values():                               # fast steps, then a public one (class_weight)
    m.train_on_batch(x, y)
    m.train_on_batch(x, y, class_weight={0: 1.0, 1: 2.0})
assert runs[True].step_counts == {"fast": 4, "public": 2}, runs[True].step_counts
for a, b in zip(runs[True].model.get_weights(), runs[False].model.get_weights()):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
path = tempfile.mkdtemp() + "/m"
runs[True].save(path)
np.testing.assert_array_equal(KerasBaseModel({"path": path}).predict_on_batch(x),
                              runs[True].predict_on_batch(x))
print("ok")
'''


def test_jax_fast_path_keeps_state_on_device_and_matches_keras(cinc_dir):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", JAX_CHECK, str(cinc_dir)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_a_network_set_as_the_model_trains_saves_and_reloads(windows, tmp_path):
    import keras

    x, y = windows
    inputs = keras.Input((1500, 1))
    network = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(
        keras.layers.GlobalAveragePooling1D()(inputs)))
    network.compile(optimizer="adam", loss="categorical_crossentropy")
    model = KerasBaseModel(CFG)
    model.model = network
    assert model.is_built and model.config.input_shape == (1500, 1) and model.config.num_classes == 2
    assert model.config.model.name == "own"
    model.train_on_batch(x, y, classes=["no", "yes"])
    assert model.classes == ["no", "yes"] and model.step_counts == {"fast": 0, "public": 1}
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(KerasBaseModel({"path": str(tmp_path / "m")}).predict_on_batch(x),
                                  model.predict_on_batch(x))
    with pytest.raises(ModelError, match="compact=False"):
        model.save(tmp_path / "c", compact=True)
    model.model = None
    assert not model.is_built


@pytest.mark.parametrize("features", [False, True])
def test_ensemble_averages_its_members_and_reloads(windows, tmp_path, features):
    """KerasBaseModel.ensemble: the mean of the members' probabilities, saved and reloaded alike."""
    x, y = windows
    f = np.stack([x[:, :, 0].std(axis=1), np.abs(x[:, :, 0]).max(axis=1), x[:, :, 0].mean(axis=1)], 1)
    extra = {"feature_input": {"units": 4, "hidden": 4}} if features else {}
    inputs = [x, f] if features else x
    members = []
    for seed in (0, 1):
        model = KerasBaseModel({**CFG, "seed": seed, "classes": ["N", "A"], **extra})
        model.build(x.shape[1:], 2, n_features=3 if features else None)
        model.train_on_batch(inputs, y)
        members.append(model)
    expected = np.mean([m.predict_on_batch(inputs) for m in members], axis=0)
    assert np.abs(members[0].predict_on_batch(inputs) - members[1].predict_on_batch(inputs)).max() > 1e-4
    both = KerasBaseModel.ensemble(members, info={"seeds": [0, 1]})
    assert both.config.members == 2 and both.config.info == {"seeds": [0, 1]}
    np.testing.assert_allclose(both.predict_on_batch(inputs), expected, atol=1e-6)
    both.save(tmp_path / "full")
    both.save(tmp_path / "compact", compact=True)
    np.testing.assert_allclose(KerasBaseModel({"path": str(tmp_path / "full")}).predict_on_batch(inputs),
                               expected, atol=1e-6)
    np.testing.assert_allclose(KerasBaseModel({"path": str(tmp_path / "compact")}).predict_on_batch(inputs),
                               expected, atol=2e-2)
    other = KerasBaseModel({**CFG, "model": {"name": "cnn", "params": {"filters": [4]}}, **extra})
    other.build(x.shape[1:], 2, n_features=3 if features else None)
    with pytest.raises(ModelError, match="member 1 differs from member 0 in .*model"):
        KerasBaseModel.ensemble([members[0], other])
