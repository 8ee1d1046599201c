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
tracing and the first batch excluded) on windows of 2,500 samples x 1 lead. The timed
part is repeated ``--rounds`` times with the variants in rotating order and the best
round of each is kept, so that load from other processes on a shared machine penalises
no variant in particular. Reports samples per second, the ratios to ``fit``, and for the
pipeline the share of wall time the training step spent waiting for input. Writes
``benchmarks/results/training.json``.
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
    # ~10M parameters: a 1-D ResNet (basic blocks)
    "resnet": {"config": {"name": "resnet", "params": {
        "stem_filters": 64, "stem_strides": 2, "stages": [
            {"filters": 64, "depth": 2, "strides": 1}, {"filters": 128, "depth": 2, "strides": 2},
            {"filters": 256, "depth": 2, "strides": 2}, {"filters": 512, "depth": 2, "strides": 2},
            {"filters": 1152, "depth": 1, "strides": 2}]}},
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


def fit_variant(model, x, y, batch):
    """``model.fit`` over the arrays; returns a function timing one pass of ``steps`` steps."""
    def run(steps, offset=0):
        sl = slice(offset * batch, (offset + steps) * batch)
        start = time.perf_counter()
        model.fit(x[sl], y[sl], batch_size=batch, epochs=1, verbose=0, shuffle=False)
        return time.perf_counter() - start
    return run


def loop_variant(model, x, y, batch):
    """A Python loop of ``model.train_on_batch``."""
    def run(steps, offset=0):
        start = time.perf_counter()
        for i in range(offset, offset + steps):
            model.train_on_batch(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
        return time.perf_counter() - start
    return run


def pipeline_variant(dataset, cache_dir, spec, config, prefetch, seed):
    """The ecg pipeline, reading the npz cache, windowing with prefetch and training."""
    from ecg import KerasBaseModel

    pipeline = (dataset.p.init_model("m", KerasBaseModel, config=config)
                .load(src=cache_dir, fmt="npz", components=["signal", "meta", "target"])
                .random_split_signals(WINDOW, spec["segments"]).one_hot_labels(CLASSES)
                .train_on_batch("m"))
    waits = []

    def run(steps, offset=0):
        model = pipeline.m("m") if offset else None
        if model is not None:
            model.reset_timing()
        start = time.perf_counter()
        pipeline.run(batch_size=spec["records"], n_iters=steps, shuffle=seed + offset, drop_last=True,
                     prefetch=prefetch if offset else 0)
        pipeline.m("m").sync()       # the fast path dispatches asynchronously: wait for the last step
        elapsed = time.perf_counter() - start
        if offset:
            waits.append(pipeline.m("m").timing(elapsed)["input_wait"])
        return elapsed
    run.waits = waits
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=12, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
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
            x, y = arrays(dataset, cache_dir, spec, args.warmup + args.steps * args.rounds, args.seed)
            row = {"batch": batch, "steps": args.steps, "rounds": args.rounds}
            variants = {}
            for variant in ("fit", "loop"):
                keras.utils.set_random_seed(args.seed)
                model = build_network(spec["config"], (WINDOW, 1), len(CLASSES))
                model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
                row["params"] = model.count_params()
                make = fit_variant if variant == "fit" else loop_variant
                variants[variant] = make(model, x, y, batch)
            variants["pipeline"] = pipeline_variant(dataset, cache_dir, spec,
                                                    keras_config(spec["config"], args.seed),
                                                    args.prefetch, args.seed)
            for run in variants.values():
                run(args.warmup)                       # tracing, first batches: not timed
            best = {variant: float("inf") for variant in variants}
            order = list(variants)
            for r in range(args.rounds):
                for variant in order[r % 3:] + order[:r % 3]:
                    seconds = variants[variant](args.steps, offset=args.warmup + r * args.steps)
                    best[variant] = min(best[variant], seconds)
            for variant, seconds in best.items():
                row[variant] = batch * args.steps / seconds
            row["input_wait"] = min(variants["pipeline"].waits)
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
