"""Training input from the sharded cache against the per-record npz cache.

Usage::

    flock /tmp/cpu.lock nice -n 5 python benchmarks/cache_read.py [--epochs 20] [--rounds 3]

The 40 CinC 2017 fixture records are prepared once with the CinC 2017 task's recipe
(``pipelines/cinc2017.yaml``) into both caches: one ``.npz`` file per record
(``ecg.tasks.rhythm.cache_records``, what ``ecg train`` uses), read from disk (``npz``)
or with its decoded records kept in memory (``npz-memory``: ``load(memory=True)``, as
the task's training reads it), and a sharded cache of 8-record shards
(``ecg.data.cluster.preprocess``), streamed from disk. The training input of the task then
runs from each: ``load`` (signal, meta, features, label) -> wrap-pad to 30 s ->
random 30 s crop -> one-hot labels, in batches of 8, through ``ecg.training.run_epoch``
with ``prefetch`` 0 and 1:

* ``input``: the pipeline alone (records per second it can feed);
* ``train``: the same with the task's network taking one ``train_on_batch`` step per
  batch (steps per second; Keras on its default backend).

Each measurement is repeated ``--rounds`` times in rotating order and the best round
kept, so that load from other jobs penalises no variant in particular. Writes
``benchmarks/results/cache_read.json``.
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("ECG_SHARED_DATA", REPO.parent / "shared" / "data"))
BATCH = 8
KINDS = ("npz", "npz-memory", "shards")


def pipelines(cfg, fixture, caches, model_cfg):
    """``{(cache, with model): pipeline}`` of the task's training input from each cache."""
    from batchflow import V

    from ecg import KerasBaseModel
    from ecg.data.shards import ShardedCache
    from ecg.tasks.rhythm import window_samples

    length, _ = window_samples(cfg)
    shards = ShardedCache(caches["shards"])
    dataset = shards.dataset()
    out = {}
    for kind in KINDS:
        for train in (False, True):
            pipeline = dataset.p
            if train:
                pipeline = (pipeline.init_model("net", KerasBaseModel, mode="dynamic", config=model_cfg)
                            .init_variable("loss", []))
            if kind.startswith("npz"):
                pipeline = (pipeline.load(src=str(caches["npz"]), fmt="npz", components=["signal", "meta", "features"],
                                          memory=kind == "npz-memory")
                            .load(src=str(fixture / "REFERENCE.csv"), fmt="csv", components="target",
                                  classes=cfg.classes))
            else:
                pipeline = pipeline.load(src=shards, fmt="shards", components=["signal", "meta", "features", "target"])
            pipeline = (pipeline.pad_signals(length, mode="wrap").random_crop_signals(length)
                        .one_hot_labels(cfg.classes))
            if train:
                pipeline = pipeline.train_on_batch("net", save_to=V("loss", mode="a"))
            out[kind, train] = pipeline
    return out, len(dataset)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20, help="passes over the 40 records per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results" / "cache_read.json"))
    args = parser.parse_args()

    from ecg.data.cluster import preprocess
    from ecg.data.dataset import EcgDataset
    from ecg.data.datasets.cinc2017 import read_reference
    from ecg.tasks.base import read_config
    from ecg.tasks.rhythm import cache_records, feature_statistics, model_config, prepare_recipe
    from ecg.training import run_epoch

    fixture = SHARED / "fixture" / "cinc2017"
    _, cfg = read_config(REPO / "pipelines" / "cinc2017.yaml", [f"data.path={fixture}"])
    recipe = prepare_recipe(cfg)
    records = EcgDataset(path=str(fixture / "*.hea"))
    with tempfile.TemporaryDirectory() as scratch:
        caches = {"npz": Path(scratch) / "npz", "shards": Path(scratch) / "shards"}
        cache_records(records, recipe, caches["npz"], log=lambda text: None)
        preprocess(records, recipe, caches["shards"], labels=read_reference(fixture / "REFERENCE.csv"),
                   partition_size=8, n_workers=0, progress=False, log=lambda text: None)
        model_cfg = model_config(cfg, 1000, feature_statistics(records, caches["npz"]), None)
        runs, n_records = pipelines(cfg, fixture, caches, model_cfg)
        for pipeline in runs.values():                       # warm-up: build the network, trace its step
            run_epoch(pipeline, BATCH, 0)
        best = {}
        keys = [(kind, train, prefetch) for kind in KINDS for train in (False, True) for prefetch in (0, 1)]
        for round_ in range(args.rounds):
            for key in keys[round_ % len(keys):] + keys[:round_ % len(keys)]:
                kind, train, prefetch = key
                began = time.perf_counter()
                for epoch in range(args.epochs):
                    run_epoch(runs[kind, train], BATCH, 1 + epoch, prefetch=prefetch)
                seconds = time.perf_counter() - began
                best[key] = min(best.get(key, seconds), seconds)
    rows = []
    for kind, train, prefetch in keys:
        seconds = best[kind, train, prefetch]
        batches = args.epochs * -(-n_records // BATCH)
        rows.append({"cache": kind, "mode": "train" if train else "input", "prefetch": prefetch,
                     "seconds": round(seconds, 3), "records_per_s": round(args.epochs * n_records / seconds, 1),
                     "steps_per_s": round(batches / seconds, 2)})
    print(f"{'cache':<11} {'mode':<6} {'prefetch':>8} {'records/s':>10} {'steps/s':>8}")
    for row in rows:
        print(f"{row['cache']:<11} {row['mode']:<6} {row['prefetch']:>8} {row['records_per_s']:>10.1f} "
              f"{row['steps_per_s']:>8.2f}")
    ratios = {f"{n['cache']}_{r['mode']}_prefetch{r['prefetch']}": round(r["records_per_s"] / n["records_per_s"], 3)
              for r in rows if r["cache"] == "shards" for n in rows
              if n["cache"] != "shards" and n["mode"] == r["mode"] and n["prefetch"] == r["prefetch"]}
    print("shards / npz throughput:", ratios)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "shards_over_npz": ratios, "epochs": args.epochs,
                                          "rounds": args.rounds, "records": n_records, "batch_size": BATCH},
                                         indent=1) + "\n")


if __name__ == "__main__":
    main()
