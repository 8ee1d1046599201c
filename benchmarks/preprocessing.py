"""Throughput of a typical preprocessing chain on PTB-XL 500 Hz records.

Usage::

    python benchmarks/preprocessing.py [--data ../shared/data/fixture/ptbxl/records500/00000]
                                       [--repeat 10] [--batch-size 10]

The chain: load (WFDB) -> band-pass 0.5-40 Hz -> resample 500 -> 250 Hz -> z-score per
lead -> 10 s windows. It is timed three ways in the same run:

* ``kernels``: the same wfdb/scipy/numpy calls made directly on the records of a batch
  (stacked), no batch or pipeline: the ceiling;
* ``pipeline prefetch=0``: ``EcgDataset`` + batchflow ``Pipeline`` of ``EcgBatch`` actions;
* ``pipeline prefetch=N``: the same with batchflow prefetching ``N`` batches in threads;
* ``kernels, preloaded`` / ``actions, preloaded``: the chain without reading files, as
  scipy calls and as EcgBatch actions: the overhead of the actions alone.

Reports windows per second (one 10 s window per PTB-XL record) and per core used,
and the ratio of the pipeline to the kernels ceiling. Writes
``benchmarks/results/preprocessing.json``.
"""
import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import wfdb
from batchflow import B, DatasetIndex, Pipeline
from scipy import signal

from ecg.batch import EcgBatch
from ecg.data.dataset import EcgDataset

HERE = Path(__file__).resolve().parent
FS, NEW_FS, WINDOW_S = 500, 250, 10


def read(folder, names):
    """Records stacked as float32 ``(n, 12, 5000)``, read with wfdb directly."""
    return np.stack([wfdb.rdrecord(str(folder / name)).p_signal.T.astype("float32") for name in names])


def kernel_chain(x):
    """Band-pass, resample, z-score and 10 s windows with scipy/numpy alone; returns windows."""
    sos = signal.butter(4, [0.5, 40], btype="bandpass", fs=FS, output="sos")
    x = signal.sosfiltfilt(sos, x, axis=-1).astype("float32")
    x = signal.resample_poly(x, 1, 2, axis=-1).astype("float32")
    x = (x - x.mean(-1, keepdims=True)) / (x.std(-1, keepdims=True) + 1e-6)
    length = WINDOW_S * NEW_FS
    windows = x[..., :x.shape[-1] // length * length].reshape(*x.shape[:2], -1, length).swapaxes(1, 2)
    return windows.shape[0] * windows.shape[1]


def action_chain(batch):
    """The same steps as EcgBatch actions; returns windows."""
    batch = (batch.band_pass_signals(0.5, 40).resample_signals(NEW_FS)
             .normalize_signals("zscore", axis="lead").split_signals(WINDOW_S * NEW_FS))
    return sum(len(s) for s in batch.signal)


def batches_of(names, batch_size):
    return [names[k:k + batch_size] for k in range(0, len(names), batch_size)]


def kernels(folder, names, batch_size, repeat):
    """Read with wfdb and run :func:`kernel_chain`, batch by batch: the ceiling."""
    return sum(kernel_chain(read(folder, part)) for _ in range(repeat) for part in batches_of(names, batch_size))


def kernels_preloaded(arrays, repeat):
    return sum(kernel_chain(x) for _ in range(repeat) for x in arrays)


def actions_preloaded(folder, parts, arrays, repeat):
    """:func:`action_chain` on batches filled from the preloaded arrays (no file reading)."""
    metas = [[{"record": n, "fs": FS, "n_samples": 5000} for n in part] for part in parts]
    total = 0
    for _ in range(repeat):
        for part, x, meta in zip(parts, arrays, metas):
            batch = EcgBatch(DatasetIndex(part))
            batch.set_component("signal", list(x))
            batch.set_component("meta", [dict(m) for m in meta])
            total += action_chain(batch)
    return total


def pipeline(folder, names, batch_size, repeat, prefetch):
    """Load and :func:`action_chain` as a batchflow Pipeline over an EcgDataset; returns windows."""
    counts = []
    chain = (Pipeline()
             .load(src=str(folder), fmt="wfdb")
             .band_pass_signals(0.5, 40)
             .resample_signals(NEW_FS)
             .normalize_signals("zscore", axis="lead")
             .split_signals(WINDOW_S * NEW_FS)
             .call(lambda batch: counts.append(sum(len(s) for s in batch.signal)), B()))
    (chain << EcgDataset(index=DatasetIndex(names))).run(batch_size, n_epochs=repeat, shuffle=False,
                                                          drop_last=False, prefetch=prefetch)
    return sum(counts)


def timed(func, *args):
    started = time.perf_counter()
    n = func(*args)
    return n, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=HERE.parent.parent / "shared" / "data" / "fixture" / "ptbxl" / "records500" / "00000")
    parser.add_argument("--repeat", type=int, default=10, help="passes (epochs) over the records")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "preprocessing.json")
    args = parser.parse_args(argv)

    names = sorted(p.stem for p in args.data.glob("*_hr.hea"))
    parts = batches_of(names, args.batch_size)
    arrays = [read(args.data, part) for part in parts]        # also warms the file cache
    runs = [("kernels (read+scipy)", 1, lambda: kernels(args.data, names, args.batch_size, args.repeat))]
    runs += [(f"pipeline prefetch={n}", max(n, 1),
              lambda n=n: pipeline(args.data, names, args.batch_size, args.repeat, n)) for n in (0, 1, 2)]
    runs += [("kernels, preloaded", 1, lambda: kernels_preloaded(arrays, args.repeat)),
             ("actions, preloaded", 1, lambda: actions_preloaded(args.data, parts, arrays, args.repeat))]
    rows = []
    for name, cores, run in runs:
        n, seconds = timed(run)
        rows.append({"chain": name, "cores": cores, "windows": n, "seconds": seconds,
                     "windows_per_s": n / seconds, "windows_per_s_per_core": n / seconds / cores})
    ceilings = {row["chain"]: row["windows_per_s"] for row in rows if row["chain"].startswith("kernels")}
    print(f"{len(names)} PTB-XL records x {args.repeat} passes at {FS} Hz, batch size {args.batch_size}, "
          f"{os.cpu_count()} CPUs visible")
    print(f"{'chain':<22} {'windows':>8} {'s':>7} {'win/s':>8} {'win/s/core':>11} {'vs kernels':>11}")
    for row in rows:
        ceiling = ceilings["kernels, preloaded" if "preloaded" in row["chain"] else "kernels (read+scipy)"]
        row["ratio_to_kernels"] = row["windows_per_s"] / ceiling
        print(f"{row['chain']:<22} {row['windows']:>8} {row['seconds']:7.2f} {row['windows_per_s']:8.1f} "
              f"{row['windows_per_s_per_core']:11.1f} {row['ratio_to_kernels']:11.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"records": len(names), "batch_size": args.batch_size, "fs": FS,
                                    "new_fs": NEW_FS, "window_s": WINDOW_S, "runs": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
