"""``ecg preprocess`` on Dask: 1 against 2 local workers, and Dask's overhead against one process.

Usage::

    flock /tmp/cpu.lock nice -n 5 python benchmarks/dask_preprocess.py --mirror ../shared/data/mirror
    python benchmarks/dask_preprocess.py --limit 400           # a quick look on 400 records

The pipeline is the CinC 2017 task's (``pipelines/cinc2017.yaml``): load the record,
band-pass 0.5-40 Hz, R peaks and RR/HRV features, resample to 100 Hz, robust
normalisation, into a sharded cache of 256-record partitions, over all 7,528 records of
the mirror's CinC 2017 training set. It runs three ways, each into an empty folder:

* ``single process``: ``preprocess(..., n_workers=0)``, the partitions one after the
  other in this process, no Dask (the reference);
* ``Dask, 1 worker`` and ``Dask, 2 workers``: a ``LocalCluster`` of worker processes
  (one thread each, Dask's profiler off: ``ecg.data.cluster.local_cluster``).

For the Dask runs, ``seconds`` is the ``preprocess`` call on a cluster already started
with ecg imported in its workers (what a long-lived cluster costs per run);
``cold seconds`` adds starting the cluster and the workers' first import of ecg.
``CPU seconds`` is the processor time of this process (client and scheduler) and of
the workers during the run: Dask's overhead in work done, whatever the other jobs on
the machine do to the wall times. The
caches of the three runs are compared byte for byte. The 1-minute load average before
and after each run is recorded: the machine is shared, so the speed-up means something
only when the load from other jobs is low. Writes ``benchmarks/results/dask_preprocess.json``.
"""
import argparse
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def digest(folder):
    """SHA-256 over the relative paths and bytes of every file of ``folder``."""
    sha = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            sha.update(str(path.relative_to(folder)).encode())
            sha.update(path.read_bytes())
    return sha.hexdigest()


def warm(client):
    """Import what a partition needs in every worker (so the timed run excludes it)."""
    def imports():
        from importlib import import_module

        for name in ("ecg.batch", "ecg.data.cluster", "ecg.recipes"):
            import_module(name)
        return os.getpid()

    return client.run(imports)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "pipelines" / "cinc2017.yaml"))
    parser.add_argument("--mirror", default=str(REPO.parent / "shared" / "data" / "mirror"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N records")
    parser.add_argument("--partition-size", type=int, default=256)
    parser.add_argument("--out", default=str(HERE / "results" / "dask_preprocess.json"))
    args = parser.parse_args()

    from dask.distributed import Client

    from ecg.commands.preprocess import read_definition
    from ecg.data.cluster import local_cluster, preprocess

    records, recipe, load, labels = read_definition(args.config, mirror=args.mirror)
    if args.limit:
        records = dict(list(records.items())[:args.limit])
    scratch = HERE / "results" / "cache" / "dask_preprocess"
    shutil.rmtree(scratch, ignore_errors=True)
    rows, digests = [], {}
    quiet = dict(progress=False, log=lambda text: None, load=load, labels=labels, partition_size=args.partition_size)

    def timed(name, workers, run):
        """Run ``run(out)`` -> ``(result, startup seconds, CPU seconds)``; ``seconds`` leaves the cluster's
        start-up out."""
        out = scratch / name.replace(" ", "-").replace(",", "")
        load_before = os.getloadavg()[0]
        began = time.perf_counter()
        result, startup, cpu = run(out)
        total = time.perf_counter() - began
        digests[name] = digest(out)
        seconds = total - startup
        row = {"run": name, "workers": workers, "records": result.records, "skipped": len(result.skipped),
               "failed": len(result.failed), "seconds": round(seconds, 2), "cold_seconds": round(total, 2),
               "startup_seconds": round(startup, 2), "records_per_s": round(result.records / seconds, 1),
               "cpu_seconds": round(cpu, 2),
               "load_1min_before": round(load_before, 2), "load_1min_after": round(os.getloadavg()[0], 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        shutil.rmtree(out, ignore_errors=True)

    def on_cluster(out, workers):
        began = time.perf_counter()
        cluster = local_cluster(workers, dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
        warm(client)
        startup = time.perf_counter() - began
        try:
            workers_before, main_before = client.run(time.process_time), time.process_time()
            result = preprocess(records, recipe, out, scheduler=client, **quiet)
            workers_after, main_after = client.run(time.process_time), time.process_time()
            cpu = main_after - main_before + sum(workers_after[w] - workers_before[w] for w in workers_after)
            return result, startup, cpu
        finally:
            client.close()
            cluster.close()

    def in_process(out):
        before = time.process_time()
        result = preprocess(records, recipe, out, n_workers=0, **quiet)
        return result, 0.0, time.process_time() - before

    timed("single process", 0, in_process)
    timed("Dask, 1 worker", 1, lambda out: on_cluster(out, 1))
    timed("Dask, 2 workers", 2, lambda out: on_cluster(out, 2))

    single, one, two = rows
    summary = {"records": single["records"], "partition_size": args.partition_size,
               "overhead_1_worker": round(one["seconds"] / single["seconds"] - 1, 4),
               "overhead_1_worker_cold": round(one["cold_seconds"] / single["seconds"] - 1, 4),
               "cpu_overhead_1_worker": round(one["cpu_seconds"] / single["cpu_seconds"] - 1, 4),
               "speedup_2_vs_1_workers": round(one["seconds"] / two["seconds"], 3),
               "speedup_2_vs_1_workers_cold": round(one["cold_seconds"] / two["cold_seconds"], 3),
               "same_cache_bytes": len(set(digests.values())) == 1, "cpu_count": os.cpu_count()}
    print(f"\n{'run':<18} {'records':>7} {'seconds':>8} {'cold s':>7} {'rec/s':>7} {'CPU s':>7} {'load before/after':>18}")
    for row in rows:
        cold = f"{row['cold_seconds']:.1f}" if row["workers"] else "-"
        print(f"{row['run']:<18} {row['records']:>7} {row['seconds']:>8.1f} {cold:>7} {row['records_per_s']:>7.1f} "
              f"{row['cpu_seconds']:>7.1f} "
              f"{row['load_1min_before']:>8.2f} / {row['load_1min_after']:<6.2f}")
    print(f"\n2 workers vs 1: {summary['speedup_2_vs_1_workers']:.2f}x (cold {summary['speedup_2_vs_1_workers_cold']:.2f}x); "
          f"Dask 1 worker vs one process: {100 * summary['overhead_1_worker']:+.1f} % "
          f"(cold {100 * summary['overhead_1_worker_cold']:+.1f} %, CPU time {100 * summary['cpu_overhead_1_worker']:+.1f} %); "
          f"same cache bytes: {summary['same_cache_bytes']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
