"""train_epochs: atomic checkpoints; a run killed with SIGKILL resumes to the same result."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecg.errors import ConfigError, ModelError
from ecg.training import read_state, seed_states, train_epochs

REPO = Path(__file__).resolve().parents[1]
JOB = REPO / "tests" / "resume_job.py"


def _job(*args, **popen):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, str(JOB), *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def _finish(process, timeout=300):
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    return out


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    checkpoint = tmp_path / "checkpoints"
    killed = _job("--out", tmp_path / "killed", "--checkpoint", checkpoint, "--epochs", 4, "--slow", 4)
    uninterrupted = _job("--out", tmp_path / "full", "--epochs", 4)
    deadline = time.time() + 240
    while read_state(checkpoint) is None:                  # the first checkpoint is committed
        assert killed.poll() is None and time.time() < deadline, killed.stdout.read()
        time.sleep(0.2)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    done = read_state(checkpoint)["epoch"]
    assert 1 <= done < 4
    out = _finish(_job("--out", tmp_path / "resumed", "--checkpoint", checkpoint, "--epochs", 4, "--resume"))
    assert f"epoch {done}:" not in out and "epoch 4:" in out       # went on after the checkpoint
    _finish(uninterrupted)
    resumed = json.loads((tmp_path / "resumed" / "result.json").read_text())
    full = json.loads((tmp_path / "full" / "result.json").read_text())
    assert resumed["history"] == full["history"]                  # exactly equal metrics, per epoch
    assert resumed["batch_losses"] == full["batch_losses"] and len(full["batch_losses"]) == 20
    assert resumed["weights_sha256"] == full["weights_sha256"]    # bit-identical weights
    assert read_state(checkpoint)["epoch"] == 4
    assert sorted(p.name for p in checkpoint.iterdir()) == ["epoch-0004", "state.json"]


def test_uncommitted_checkpoint_is_ignored_and_settings_must_match(tmp_path, cinc_dir):
    from ecg import EcgDataset, KerasBaseModel

    def pipeline():
        ds = EcgDataset(path=str(cinc_dir / "*.hea"))
        return (ds.p.init_model("m", KerasBaseModel, config={"model": {"name": "fc"}, "seed": 0})
                .load(fmt="wfdb").load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv")
                .crop_signals(600).one_hot_labels(["N", "A", "O", "~"]).train_on_batch("m"))

    history = train_epochs(pipeline(), "m", n_epochs=1, batch_size=20, checkpoint_dir=tmp_path, seed=3)
    assert [h["epoch"] for h in history] == [1] and history[0]["batches"] == 2
    (tmp_path / "epoch-0002").mkdir()                 # what a run killed while saving leaves
    resumed = pipeline()
    history = train_epochs(resumed, "m", n_epochs=2, batch_size=20, checkpoint_dir=tmp_path, seed=3,
                           resume=True)
    assert [h["epoch"] for h in history] == [1, 2] and len(resumed.m("m").hist) == 4
    with pytest.raises(ConfigError, match="seed=3, not 4"):
        train_epochs(pipeline(), "m", n_epochs=3, batch_size=20, checkpoint_dir=tmp_path, seed=4, resume=True)
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        train_epochs(pipeline(), "m", n_epochs=3, batch_size=20, checkpoint_dir=tmp_path, seed=3, resume=True)
    with pytest.raises(ConfigError, match="checkpoint_dir"):
        train_epochs(pipeline(), "m", n_epochs=1, batch_size=20, resume=True)


def test_seed_states_are_the_layers_seed_generators_in_layer_order():
    from ecg.models.factory import build_network

    params = {"dim": 8, "depth": 2, "num_heads": 2, "ff_ratio": 2, "conv_kernel": 7, "patch_size": 8,
              "dropout": 0.1}                          # dropout layers, some nested in attention layers
    network = build_network({"name": "conformer", "params": params}, (512, 1), 4)
    generators = []                                    # where Keras keeps them (private), as the reference
    for layer in network._flatten_layers(include_self=True):
        generators.extend(gen for gen in layer._seed_generators if gen not in generators)
    assert len(generators) > 4
    assert [id(state) for state in seed_states(network)] == [id(gen.state) for gen in generators]
