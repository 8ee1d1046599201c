"""Training throughput: the pipeline against ``model.fit``, and the fast path against ``train_on_batch``.

Usage::

    python benchmarks/training_throughput.py [--models tcn resnet] [--steps 12]
    KERAS_BACKEND=jax python benchmarks/training_throughput.py --paths [--quick] [--records FILE]

Default: for each model, in one run and from the same seed:

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

``--paths``: steps per second of :class:`ecg.models.keras_fast.TrainStep` (what
``KerasBaseModel.train_on_batch`` runs) on its fast path against the public
``keras.Model.train_on_batch``, on one network per model (the two paths share its
compiled step), alternating ``--rounds`` times, best round of each kept. The fast
path's time includes reading every loss back as a float and writing the weights back
into the Keras variables at the end, as ``KerasBaseModel.hist`` and ``.model`` do.
Windows come from ``--records``, an npz of the band-passed, z-scored CinC 2017 fixture
records, written from the fixture when missing; reading it needs neither wfdb nor
batchflow, so a machine with only Keras, JAX and pydantic runs this mode. With
``KERAS_BACKEND=jax`` TensorFlow is made unimportable first, as it is on a GPU machine
without it. Writes ``benchmarks/results/training_paths.json``. ``--quick`` is a CPU
smoke run (short windows, small batches, a few steps).
"""
import argparse
import json
import os
import platform
import sys
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


def pipeline_benchmark(args):
    """fit, the train_on_batch loop and the ecg pipeline; see the module docstring."""
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


# --- fast path against train_on_batch --------------------------------------------------------
PATHS_QUICK = {"window": 1000, "records": 4, "segments": 4, "steps": 3, "rounds": 1, "warmup": 1}
PATHS_FULL = {"window": WINDOW, "steps": 100, "rounds": 3, "warmup": 3}


def prepare_records(path):
    """Band-pass (0.5-40 Hz) and z-score the CinC 2017 fixture records into one npz at ``path``."""
    from ecg import EcgDataset

    folder = SHARED / "fixture" / "cinc2017"
    dataset = EcgDataset(path=str(folder / "*.hea"))
    pipeline = (dataset.p.load(fmt="wfdb", components=["signal", "meta"])
                .load(src=str(folder / "REFERENCE.csv"), fmt="csv", components="target")
                .band_pass_signals(0.5, 40).normalize_signals("zscore"))
    batch = next(pipeline.gen_batch(len(dataset), n_epochs=1, shuffle=False))
    signals = {f"signal_{i}": np.asarray(signal, dtype=np.float32) for i, signal in enumerate(batch.signal)}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez(path, labels=np.asarray(batch.target, dtype=str), **signals)


def read_records(path):
    """``(signals, labels)`` from an npz of :func:`prepare_records`: ``(n_leads, n_samples)`` arrays, class names."""
    with np.load(path, allow_pickle=False) as saved:
        labels = saved["labels"]
        return [saved[f"signal_{i}"] for i in range(len(labels))], labels


def window_batches(signals, labels, records, segments, window, n_batches, seed):
    """``n_batches`` batches of ``records * segments`` random windows ``(batch, window, 1)``, one-hot targets."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(n_batches):
        picked = rng.choice(len(signals), size=records, replace=False)
        xs, ys = [], []
        for index in picked:
            starts = rng.integers(0, signals[index].shape[-1] - window + 1, size=segments)
            xs.extend(signals[index][:, start:start + window].T for start in starts)
            ys.extend([CLASSES.index(labels[index])] * segments)
        batches.append((np.stack(xs).astype(np.float32), np.eye(len(CLASSES), dtype=np.float32)[ys]))
    return batches


def timed_steps(step, batches, steps, fast, offset):
    """Seconds for ``steps`` training steps on one path, reading every log back as a float."""
    start = time.perf_counter()
    logs = [step(*batches[(offset + i) % len(batches)], fast=fast) for i in range(steps)]
    _ = [float(value) for entry in logs for value in entry.values()]
    step.sync()
    return time.perf_counter() - start


def paths_benchmark(args):
    """Steps per second of the fast path and of the public ``train_on_batch``; see the module docstring."""
    settings = dict(PATHS_QUICK if args.quick else PATHS_FULL)
    for key in ("steps", "rounds", "warmup"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if os.environ.get("KERAS_BACKEND") == "jax":
        # as on the GPU machine, which has no TensorFlow: any import of it fails here too
        # (keras.utils.set_random_seed would otherwise import it to seed it)
        sys.modules.setdefault("tensorflow", None)
    if not os.path.exists(args.records):
        prepare_records(args.records)
    signals, labels = read_records(args.records)

    import keras

    from ecg.models.factory import build_network
    from ecg.models.keras_fast import TrainStep, fast_path_switched_off, untested_reason

    window = settings["window"]
    results = {"backend": keras.backend.backend(), "keras": keras.__version__, "machine": platform.node(),
               "devices": _devices(), "cpus": os.cpu_count(), "window": window, "quick": args.quick,
               "fast_path_switched_off": fast_path_switched_off(), "models": {}}
    for name in args.models:
        spec = MODELS[name]
        records = settings.get("records", spec["records"])
        segments = settings.get("segments", spec["segments"])
        batches = window_batches(signals, labels, records, segments, window, 4, args.seed)
        keras.utils.set_random_seed(args.seed)
        network = build_network(spec["config"], (window, 1), len(CLASSES))
        network.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                        metrics=["accuracy"])
        step = TrainStep(network)
        began = time.perf_counter()
        timed_steps(step, batches, 1 + settings["warmup"], True, 0)     # build, compile, warm up
        timed_steps(step, batches, settings["warmup"], False, 0)
        row = {"params": network.count_params(), "batch": records * segments, "steps": settings["steps"],
               "rounds": settings["rounds"], "warmup_seconds": time.perf_counter() - began,
               "untested_reason": untested_reason(network)}
        best = {"fast": float("inf"), "public": float("inf")}
        before = dict(step.counts)
        for r in range(settings["rounds"]):
            for variant in (("fast", "public") if r % 2 == 0 else ("public", "fast")):
                seconds = timed_steps(step, batches, settings["steps"], variant == "fast", r * settings["steps"])
                best[variant] = min(best[variant], seconds)
        taken = {path: step.counts[path] - before[path] for path in before}
        expected = settings["steps"] * settings["rounds"]
        row["fast_steps_taken"] = taken["fast"]      # 0 when switched off or refused: public against public
        if sum(taken.values()) != 2 * expected or taken["fast"] not in (0, expected):
            raise RuntimeError(f"{name}: expected {expected} steps on each path, took {taken}")
        for variant, seconds in best.items():
            row[f"{variant} steps/s"] = settings["steps"] / seconds
            row[f"{variant} samples/s"] = row["batch"] * settings["steps"] / seconds
        row["fast/public"] = row["fast steps/s"] / row["public steps/s"]
        results["models"][name] = row
        print(f"{name}: {row}", flush=True)

    results["tensorflow_imported"] = sys.modules.get("tensorflow") is not None
    print(f"\nbackend {results['backend']} (Keras {results['keras']}) on {', '.join(results['devices'])}, "
          f"windows {window} x 1, best of {settings['rounds']} rounds of {settings['steps']} steps")
    print(f"{'model':8} {'params':>10} {'batch':>6} {'fast steps':>11} {'fast/s':>8} {'public/s':>9} "
          f"{'fast/public':>12} {'warm-up s':>10}")
    for name, r in results["models"].items():
        print(f"{name:8} {r['params']:10,d} {r['batch']:6d} {r['fast_steps_taken']:11d} {r['fast steps/s']:8.2f} "
              f"{r['public steps/s']:9.2f} {r['fast/public']:12.3f} {r['warmup_seconds']:10.1f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as file:
        json.dump(results, file, indent=2)
    return results


def _devices():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [f"{device.platform}:{device.device_kind}" for device in jax.devices()]
    return [keras.backend.backend()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paths", action="store_true",
                        help="compare the fast path with keras.Model.train_on_batch (steps/s)")
    parser.add_argument("--quick", action="store_true", help="with --paths: a CPU smoke run, under a minute")
    parser.add_argument("--records", default=str(HERE / "results" / "cinc2017_signals.npz"),
                        help="with --paths: npz of preprocessed records, written from the fixture if missing")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per variant (default 12; --paths: 100, --quick: 3)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2; --paths: 3)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 2; --paths: 3)")
    parser.add_argument("--prefetch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON output (default benchmarks/results/training.json, "
                                                    "--paths: benchmarks/results/training_paths.json)")
    args = parser.parse_args(argv)
    if args.paths:
        args.out = args.out or str(HERE / "results" / "training_paths.json")
        return paths_benchmark(args)
    for key, default in (("steps", 12), ("warmup", 2), ("rounds", 2)):
        if getattr(args, key) is None:
            setattr(args, key, default)
    args.out = args.out or str(HERE / "results" / "training.json")
    return pipeline_benchmark(args)


if __name__ == "__main__":
    main()
