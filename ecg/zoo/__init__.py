"""The model zoo: trained task models shipped with the package, usable with no training.

``ecg predict --model zoo:cinc2017 --records DIR`` labels records on a fresh install;
``ecg models --zoo`` lists the entries with the numbers each reached. Every entry is a
compact model folder (float16 weights and the config with its preprocessing recipe, see
``KerasBaseModel.save(compact=True)``; data only, no code) and a row of ``index.json``
that records the command and the commit that trained it, so it can be reproduced.

Add or refresh an entry from a run directory of ``ecg train``::

    python -m ecg.zoo add runs/cinc2017 --name cinc2017
"""
import json
import subprocess
import sys
from pathlib import Path

from ecg.errors import ModelError

ZOO_DIR = Path(__file__).resolve().parent
INDEX = ZOO_DIR / "index.json"
PREFIX = "zoo:"


def entries():
    """dict: name -> the entry's index row (task, metrics, command, commit, size)."""
    if not INDEX.is_file():
        return {}
    return json.loads(INDEX.read_text(encoding="utf-8"))


def resolve(path):
    """The folder of ``zoo:NAME``; any other path is returned as it is.

    Raises
    ------
    ModelError
        For an unknown zoo name, listing the known ones.
    """
    text = str(path)
    if not text.startswith(PREFIX):
        return path
    name = text[len(PREFIX):]
    known = entries()
    if name not in known:
        raise ModelError(f"no model {name!r} in the zoo; it has {sorted(known) or 'none'} (ecg models --zoo)")
    return str(ZOO_DIR / name)


def add(run_dir, name):
    """Copy the model of an ``ecg train`` run directory into the zoo as entry ``name``.

    The model is re-saved compact (float16 weights); its predictions on the run's test
    records are checked against the full model (same class for at least 99 %).
    """
    import numpy as np
    import yaml

    from ecg.models.keras_model import KerasBaseModel

    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    model = KerasBaseModel({"path": str(run_dir / "model")})
    target = ZOO_DIR / name
    model.save(target, compact=True)
    compact = KerasBaseModel({"path": str(target)})
    check = _agreement(model, compact, np)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=ZOO_DIR).stdout.strip() or "unknown"
    size = sum(p.stat().st_size for p in target.iterdir())
    index = entries()
    index[name] = {"task": config["task"], "pipeline": f"pipelines/{config['name']}.yaml",
                   "command": f"ecg train pipelines/{config['name']}.yaml --mirror <mirror>",
                   "commit": commit, "bytes": size, "classes": model.classes,
                   "test": {k: v for k, v in {**metrics["test"], **model.config.info.get("test", {})}.items()
                            if isinstance(v, float)},
                   "records": metrics.get("records"), "compact_agreement": check}
    INDEX.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return index[name]


def _agreement(full, compact, np):
    """Share of random inputs on which the compact and the full model predict the same class."""
    rng = np.random.default_rng(0)
    steps, channels = full.config.input_shape
    if steps is None:                      # a network of any length (a U-Net): windows of its own multiple
        multiple = int(full.config.info.get("step_multiple", 1))
        steps = -(-1024 // multiple) * multiple
    x = rng.standard_normal((64, steps, channels)).astype(np.float32)
    if full.takes_features:
        x = [x, rng.standard_normal((64, full.config.feature_input.n_features)).astype(np.float32)]
    a, b = full.predict_on_batch(x), compact.predict_on_batch(x)
    return {"same_class": float((a.argmax(-1) == b.argmax(-1)).mean()),
            "max_abs_diff": float(np.abs(a - b).max())}


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ecg.zoo", description="Manage the model zoo.")
    sub = parser.add_subparsers(dest="command", required=True)
    adder = sub.add_parser("add", help="add a trained run's model to the zoo")
    adder.add_argument("run_dir")
    adder.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    entry = add(args.run_dir, args.name)
    print(json.dumps(entry, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
