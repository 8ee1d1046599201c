"""KerasBaseModel: config validation, build from the first batch, save/load, batchflow protocol."""
import json

import numpy as np
import pytest
import wfdb
from batchflow import B, V

from ecg import EcgDataset, KerasBaseModel
from ecg.errors import ConfigError, ModelError

CFG = {"model": {"name": "cnn", "params": {"filters": [4, 8], "norm": "layer"}}, "seed": 0}


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


def test_fast_path_gives_the_same_weights_and_logs(windows):
    x, y = windows
    runs = {}
    for fast in (True, False):
        model = KerasBaseModel({**CFG, "fast_path": fast, "metrics": ["accuracy"]})
        for _ in range(4):
            model.train_on_batch(x, y)
        runs[fast] = model
    for wa, wb in zip(runs[True].model.get_weights(), runs[False].model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert runs[True].hist == runs[False].hist
    assert all(type(v) is float for logs in runs[True].hist for v in logs.values())


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
assert runs[True]._fast_state is not None            # the fast path held the weights
p_fast, p_slow = runs[True].predict_on_batch(x), runs[False].predict_on_batch(x)
for a, b in zip(runs[True].model.get_weights(), runs[False].model.get_weights()):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
np.testing.assert_allclose(p_fast, p_slow, rtol=1e-5, atol=1e-6)
np.testing.assert_allclose([h["loss"] for h in runs[True].hist], [h["loss"] for h in runs[False].hist],
                           rtol=1e-5)
runs[True].train_on_batch(x, y)                       # training resumes after the sync
path = tempfile.mkdtemp() + "/m"
runs[True].save(path)
np.testing.assert_array_equal(KerasBaseModel({"path": path}).predict_on_batch(x),
                              runs[True].predict_on_batch(x))
print("ok")
'''


def test_jax_fast_path_keeps_state_on_device_and_matches_keras(cinc_dir):
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", JAX_CHECK, str(cinc_dir)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
