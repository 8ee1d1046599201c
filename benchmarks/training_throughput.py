"""Pipeline training throughput against ``model.fit`` on the same model and arrays.

Usage::

    python benchmarks/training_throughput.py [--models tcn resnet] [--steps 12]

For each model, in one run and from the same seed:

* ``fit``: ``keras.Model.fit`` on in-memory arrays (the ceiling);
* ``train_on_batch loop``: a plain Python loop of ``keras.Model.train_on_batch``;
* ``ecg pipeline``: ``EcgDataset`` -> ``load(fmt="npz")`` (a cache of band-passed,
  z-scored CinC 2017 records) -> ``random_split_signals`` -> ``one_hot_labels`` ->
  ``train_on_batch``, run with ``prefetch`` so loading and windowing overlap training.

Every variant trains ``--steps`` timed steps after ``--warmup`` untimed ones (graph
tracing and the first batch excluded) on windows of 2,500 samples x 1 lead. Reports
samples per second, the ratios to ``fit``, and for the pipeline the share of wall time
the training step spent waiting for input. Writes ``benchmarks/results/training.json``.
"""
import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("ECG_SHARED_DATA", HERE.parent.parent / "shared" / "data"))
WINDOW = 2500
CLASSES = ["N", "A", "O", "~"]

MODELS = {
    # ~8k parameters, as in the issue: a small TCN at full resolution
    "tcn": {"config": {"name": "tcn", "params": {
        "input_filters": 8, "blocks": [{"filters": 8, "dilation": 1}, {"filters": 16, "dilation": 2},
                                       {"filters": 16, "dilation": 4}, {"filters": 24, "dilation": 8}]}},
            "records": 32, "segments": 16},          # 512 windows per batch
    # ~10M parameters: a 1-D ResNet
    "resnet": {"config": {"name": "resnet", "params": {
        "stem_filters": 64, "stem_strides": 2, "stages": [
            {"filters": 64, "blocks": 2, "strides": 1}, {"filters": 128, "blocks": 2, "strides": 2},
            {"filters": 256, "blocks": 2, "strides": 2}, {"filters": 512, "blocks": 2, "strides": 2},
            {"filters": 768, "blocks": 1, "strides": 2}]}},
               "records": 8, "segments": 8},          # 64 windows per batch
}


def cache_records(cache_dir):
    """Band-pass and z-score the CinC 2017 fixture records once into an npz cache."""
    from ecg import EcgDataset

    dataset = EcgDataset(path=str(SHARED / "fixture" / "cinc2017" / "*.hea"))
    (dataset.p.load(fmt="wfdb", components=["signal", "meta"])
     .load(src=str(SHARED / "fixture" / "cinc2017" / "REFERENCE.csv"), fmt="csv", components="target")
     .band_pass_signals(0.5, 40).normalize_signals("zscore")
     .dump(dst=cache_dir, fmt="npz")).run(batch_size=len(dataset), n_epochs=1, shuffle=False)
    return dataset


def keras_config(arch, seed):
    return {"model": arch, "seed": seed, "optimizer": {"name": "adam", "learning_rate": 1e-3}}


def arrays(dataset, cache_dir, spec, n_batches, seed):
    """The windows the pipeline would draw, materialised once for fit and the plain loop."""
    pipeline = (dataset.p.load(src=cache_dir, fmt="npz", components=["signal", "meta", "target"])
                .random_split_signals(WINDOW, spec["segments"]).one_hot_labels(CLASSES))
    xs, ys = [], []
    for batch in pipeline.gen_batch(spec["records"], n_iters=n_batches, shuffle=seed, drop_last=True):
        xs.append(batch.model_inputs())
        ys.append(batch.model_targets())
    return np.concatenate(xs), np.concatenate(ys)


def time_fit(model, x, y, batch, warmup):
    model.fit(x[:batch * warmup], y[:batch * warmup], batch_size=batch, epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    model.fit(x[batch * warmup:], y[batch * warmup:], batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - start


def time_loop(model, x, y, batch, warmup):
    for i in range(warmup):
        model.train_on_batch(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
    start = time.perf_counter()
    for i in range(warmup, len(x) // batch):
        model.train_on_batch(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
    return time.perf_counter() - start


def time_pipeline(dataset, cache_dir, spec, config, steps, warmup, prefetch, seed):
    from ecg import KerasBaseModel

    pipeline = (dataset.p.init_model("m", KerasBaseModel, config=config)
                .load(src=cache_dir, fmt="npz", components=["signal", "meta", "target"])
                .random_split_signals(WINDOW, spec["segments"]).one_hot_labels(CLASSES)
                .train_on_batch("m"))
    pipeline.run(batch_size=spec["records"], n_iters=warmup, shuffle=seed, drop_last=True)
    model = pipeline.m("m")
    model.reset_timing()
    start = time.perf_counter()
    pipeline.run(batch_size=spec["records"], n_iters=steps, shuffle=seed + 1, drop_last=True,
                 prefetch=prefetch)
    model.sync()
    elapsed = time.perf_counter() - start
    return elapsed, model.timing(elapsed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=12, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "results" / "training.json"))
    args = parser.parse_args(argv)

    import keras

    from ecg.models.factory import build_network

    results = {"backend": keras.backend.backend(), "keras": keras.__version__, "machine": platform.node(),
               "cpus": os.cpu_count(), "window": WINDOW, "models": {}}
    with tempfile.TemporaryDirectory() as cache_dir:
        dataset = cache_records(cache_dir)
        for name in args.models:
            spec = MODELS[name]
            batch = spec["records"] * spec["segments"]
            x, y = arrays(dataset, cache_dir, spec, args.warmup + args.steps, args.seed)
            row = {"batch": batch, "steps": args.steps}
            for variant in ("fit", "loop"):
                keras.utils.set_random_seed(args.seed)
                model = build_network(spec["config"], (WINDOW, 1), len(CLASSES))
                model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
                timer = time_fit if variant == "fit" else time_loop
                row[variant] = batch * args.steps / timer(model, x, y, batch, args.warmup)
                row["params"] = model.count_params()
            elapsed, timing = time_pipeline(dataset, cache_dir, spec, keras_config(spec["config"], args.seed),
                                            args.steps, args.warmup, args.prefetch, args.seed)
            row["pipeline"] = batch * args.steps / elapsed
            row["input_wait"] = timing["input_wait"]
            row["loop/fit"] = row["loop"] / row["fit"]
            row["pipeline/fit"] = row["pipeline"] / row["fit"]
            results["models"][name] = row
            print(f"{name}: {row}", flush=True)

    print(f"\nbackend {results['backend']}, {results['cpus']} CPUs, windows {WINDOW} x 1, "
          f"{args.steps} timed steps after {args.warmup} warm-up")
    print(f"{'model':8} {'params':>10} {'batch':>6} {'fit/s':>8} {'loop/s':>8} {'pipe/s':>8} "
          f"{'loop/fit':>9} {'pipe/fit':>9} {'input wait':>11}")
    for name, r in results["models"].items():
        print(f"{name:8} {r['params']:10,d} {r['batch']:6d} {r['fit']:8.1f} {r['loop']:8.1f} "
              f"{r['pipeline']:8.1f} {r['loop/fit']:9.2f} {r['pipeline/fit']:9.2f} {r['input_wait']:11.1%}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as file:
        json.dump(results, file, indent=2)
    return results


if __name__ == "__main__":
    main()
