"""Data-parallel training (ecg.models.distribution) on two virtual CPU devices, JAX backend.

Keras fixes its backend at import and XLA its devices at start-up, so the run happens in
a subprocess with ``KERAS_BACKEND=jax`` and ``XLA_FLAGS=--xla_force_host_platform_device_count=2``.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecg.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SCRIPT = r"""
import json, sys
import numpy as np, wfdb
from pathlib import Path
import jax, keras
from ecg import KerasBaseModel
from ecg.models import distribution
from ecg.models.distribution import data_parallel, split_batch

split_inputs = []
def recording_split(data):                       # what the fast path hands the train step
    placed = split_batch(data)
    if keras.distribution.distribution() is not None:
        split_inputs.append([list(s.data.shape) for s in placed[0].addressable_shards])
    return placed
distribution.split_batch = recording_split

cinc = Path(sys.argv[1])
names = sorted(p.stem for p in cinc.glob("*.hea"))[:32]
x = np.stack([wfdb.rdrecord(str(cinc / n)).p_signal[:1500].astype(np.float32) for n in names])
y = np.eye(2, dtype=np.float32)[np.arange(32) % 2]

def curve(fast):
    model = KerasBaseModel({"model": {"name": "cnn", "params": {"filters": [4, 8], "norm": "batch"}}, "seed": 0,
                            "fast_path": fast})
    losses = [float(model.train_on_batch(x[i:i + 8], y[i:i + 8])["loss"]) for _ in range(3) for i in range(0, 32, 8)]
    return model, losses

out = {"devices": [str(d) for d in jax.devices()]}
_, out["one"] = curve(True)
data_parallel(2)
model, out["two"] = curve(True)
out["weights_devices"] = len(model.model.trainable_variables[0].value.sharding.device_set)
out["steps"] = model.step_counts
out["split_inputs"] = split_inputs[-11:]
shards = split_batch(x[:8])
out["batch_spec"] = str(shards.sharding.spec)
out["shard_shapes"] = [list(s.data.shape) for s in shards.addressable_shards]
print("RESULT" + json.dumps(out))
"""


def test_two_devices_follow_the_loss_curve_of_one_at_the_same_global_batch(cinc_dir):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    completed = subprocess.run([sys.executable, "-c", SCRIPT, str(cinc_dir)], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT"))
    out = json.loads(line[len("RESULT"):])
    assert len(out["devices"]) == 2
    # the batch of 8 is split 4 + 4 along its first axis
    assert out["batch_spec"].startswith(("P('batch'", "PartitionSpec('batch'")) and out["shard_shapes"] == [[4, 1500, 1]] * 2
    one, two = np.array(out["one"]), np.array(out["two"])
    assert out["weights_devices"] == 2                              # weights replicated on both devices
    assert one[0] > one[-1]                                         # it learns
    np.testing.assert_allclose(two, one, rtol=0, atol=1e-5)         # the same curve, to float rounding
    assert out["steps"] == {"fast": 11, "public": 1}                # ecg's fast path, after Keras' first step
    assert out["split_inputs"] == [[[4, 1500, 1]] * 2] * 11         # each of its batches split 4 + 4


def test_data_parallel_needs_jax():
    import keras

    from ecg.models.distribution import data_parallel

    if keras.backend.backend() == "jax":
        pytest.skip("this process runs Keras on JAX")
    with pytest.raises(ConfigError, match="JAX backend"):
        data_parallel()
