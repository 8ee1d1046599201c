"""Preprocess a dataset on a Dask cluster into a sharded cache, each record exactly once.

The same pipeline definition (the ``load`` options and a recipe, :mod:`ecg.recipes`)
runs over the dataset's records split into fixed partitions, in this process or as one
``dask.distributed`` task per partition on a ``LocalCluster`` or an existing scheduler.
Each partition is one shard of :mod:`ecg.data.shards`.

Exactly-once output:

1. The plan is fixed before anything runs: the records in order, cut into partitions
   of ``partition_size`` whatever the number of workers; ``cache.json`` holds it (and
   its hash). A cache folder holding another plan is refused, never mixed.
2. A partition writes its shard whole or not at all (a temporary file renamed into
   place, :func:`ecg.io.shards.write_shard`), with a manifest naming the plan, its
   records and those it left out. A shard's bytes depend on its records only, so a
   partition that runs twice (Dask runs a killed worker's tasks again elsewhere) writes
   the same file twice.
3. Partitions whose shard exists with this plan's hash are skipped, so a run that
   stopped (killed, Ctrl-C) is finished by running it again.
4. ``index.csv`` (record, segment, label, shard, row) is written last, from the shards'
   manifests: the cache is complete once it exists. Temporary files left by killed
   workers are removed then.

A bad record is left out of its partition as ``load(on_error="skip")`` leaves it out
(missing or damaged file: *skipped*), or when a recipe step fails on it (too short to
crop...: *failed*), and the reason is kept in the shard's manifest and
``summary.json``; the other records are written.
"""
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ecg.data.shards import (INDEX_COLUMNS, INDEX_FILE, PLAN_FILE, PLAN_FORMAT, PLAN_FORMAT_VERSION, SHARDS_DIR,
                             SUMMARY_FILE, read_text, shard_name)
from ecg.errors import ConfigError, EcgError
from ecg.io import shards as shard_io

PARTITION_SIZE = 256
"""Records per partition (and shard) by default."""
STORED = ("signal", "meta", "features", "annotation", "target")
logger = logging.getLogger("ecg")


@dataclass(frozen=True)
class Job:
    """What every partition task gets: the pipeline definition and where its output goes.

    Attributes
    ----------
    out : str
        The cache folder (local path or fsspec URL).
    plan : str
        Hash of the plan; every shard's manifest carries it.
    load : dict
        Keyword arguments of ``EcgBatch.load`` (``fmt``, ``components``...).
    recipe : list of dict
        The validated recipe run after ``load``.
    components : tuple of str, optional
        The components stored; by default each one of :data:`STORED` that the
        pipeline fills.
    batch_size : int
        Records per batch inside a partition (does not change the output).
    """

    out: str
    plan: str
    load: dict
    recipe: list
    components: tuple = None
    batch_size: int = 64


@dataclass
class PreprocessResult:
    """What :func:`preprocess` did.

    Attributes
    ----------
    cache : str
        The cache folder.
    records : int
        Records written.
    segments : int
        Rows of the index table (records times segments).
    skipped, failed : dict
        Record -> reason, for records left out when loading (``on_error="skip"``) and
        those a recipe step failed on.
    partitions_run, partitions_done_before : int
        Partitions written by this run, and those a previous run had written.
    seconds : float
        Wall time of the run.
    dashboard : str or None
        The Dask dashboard's address.
    """

    cache: str
    records: int = 0
    segments: int = 0
    skipped: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    partitions_run: int = 0
    partitions_done_before: int = 0
    seconds: float = 0.0
    dashboard: str = None

    def summary(self, limit=20):
        """A readable summary: records done, skipped and failed, and each left-out record with its reason.

        Parameters
        ----------
        limit : int
            Most left-out records listed one per line; the others are counted by reason.
        """
        from collections import Counter

        lines = [f"{self.records} records done ({self.segments} index rows), {len(self.skipped)} skipped, "
                 f"{len(self.failed)} failed; {self.partitions_run} partitions written, "
                 f"{self.partitions_done_before} done before; {self.seconds:.1f} s; cache {self.cache}"]
        left_out = [("skipped", r, why) for r, why in self.skipped.items()] + \
                   [("failed", r, why) for r, why in self.failed.items()]
        lines += [f"  {kind} {record}: {reason}" for kind, record, reason in left_out[:limit]]
        if len(left_out) > limit:
            rest = Counter(f"{kind}: {reason}" for kind, _, reason in left_out[limit:])
            lines.append(f"  ... and {len(left_out) - limit} more: " +
                         "; ".join(f"{n} x {reason}" for reason, n in rest.most_common(5)))
        return "\n".join(lines)


# --- the plan -----------------------------------------------------------------------------------------
def record_paths(dataset):
    """Record name -> path of an ``EcgDataset`` of files, a dict, or a glob of ``.hea`` files, in order."""
    if isinstance(dataset, dict):
        return {str(k): os.fspath(v) for k, v in dataset.items()}
    if isinstance(dataset, (str, os.PathLike)):
        from ecg.data.dataset import EcgDataset

        dataset = EcgDataset(path=dataset)
    index = getattr(dataset, "index", None)
    if not hasattr(index, "get_fullpath"):
        raise ConfigError("preprocess needs records on disk: an EcgDataset(path='dir/*.hea'), a glob, or a "
                          "dict of record name -> path")
    return {str(ix): os.fspath(index.get_fullpath(ix)) for ix in dataset.indices}


def make_plan(records, recipe, load=None, labels=None, components=None, partition_size=PARTITION_SIZE):
    """The plan of a cache: what ``cache.json`` holds, with its hash.

    Parameters
    ----------
    records : list of str
        Record names, in the cache's order.
    recipe : list of dict
        Validated with :func:`ecg.recipes.validate_recipe`.
    load : dict, optional
        ``EcgBatch.load`` options (default ``fmt="wfdb"``, ``components=["signal", "meta"]``).
    labels : dict, optional
        Record -> label, for the index table.
    components : sequence of str, optional
        Components to store (default: those of :data:`STORED` the pipeline fills).
    partition_size : int
        Records per partition.

    Returns
    -------
    dict
        JSON-ready; ``plan["hash"]`` is the SHA-256 of the rest.

    Raises
    ------
    ConfigError
        A bad recipe, ``load`` option, component or partition size.
    """
    from ecg.recipes import validate_recipe

    if isinstance(partition_size, bool) or not isinstance(partition_size, int) or partition_size < 1:
        raise ConfigError(f"Expected partition_size >= 1 records. Received: partition_size={partition_size!r}.")
    load = {"fmt": "wfdb", "components": ["signal", "meta"], **(load or {})}
    for key in ("src", "on_error", "report", "dst"):
        if key in load:
            raise ConfigError(f"preprocess sets load's {key!r} itself (records are read from their paths, bad "
                              f"ones skipped and reported); remove it from the load options")
    if components is not None:
        unknown = sorted(set(components) - set(STORED))
        if unknown:
            raise ConfigError(f"components {unknown} cannot be cached; choose among {', '.join(STORED)}")
        components = list(components)
    records = [str(r) for r in records]
    if not records:
        raise ConfigError("preprocess got no record")
    if len(set(records)) != len(records):
        raise ConfigError("preprocess got a record twice: record names must be unique")
    labels = {r: str(labels[r]) for r in records if r in labels} if labels is not None else {}
    plan = {"format": PLAN_FORMAT, "format_version": PLAN_FORMAT_VERSION, "load": load,
            "recipe": validate_recipe(recipe), "components": components, "partition_size": partition_size,
            "labels": labels,
            "partitions": [records[i:i + partition_size] for i in range(0, len(records), partition_size)]}
    plan["hash"] = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()
    return plan


def _write_text(path, text):
    """Write a text file whole or not at all (local: temp file and rename; URL: one upload)."""
    if shard_io.is_url(path):
        with shard_io.open_file(path, "wb") as file:
            file.write(text.encode("utf-8"))
        return
    import tempfile

    path = shard_io.local_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _plan_text(plan):
    return json.dumps(plan, sort_keys=True, indent=1) + "\n"


def claim(out, plan):
    """Write ``cache.json`` into ``out``, or check that the one there holds the same plan.

    Raises
    ------
    ConfigError
        ``out`` holds the cache of another plan (another recipe, records, labels or
        partition size): it names what differs.
    """
    path = shard_io.join(out, PLAN_FILE)
    if shard_io.exists(path):
        old = json.loads(read_text(path))
        if old.get("hash") != plan["hash"]:
            differs = [key for key in ("load", "recipe", "components", "partition_size", "labels", "partitions")
                       if old.get(key) != plan[key]] or ["format"]
            raise ConfigError(f"{out} holds a cache of another plan ({', '.join(differs)} differ): write this one "
                              "to another --out folder, or remove that one first")
        return
    _write_text(path, _plan_text(plan))


# --- one partition, on a worker ------------------------------------------------------------------------
def _run_batches(pipeline, dataset, names, failed):
    """Batches of ``names`` through ``pipeline``; a record a step fails on goes to ``failed``.

    A failing batch is run again one record at a time, so one bad record costs only itself.
    """
    from batchflow import SkipBatchException

    try:
        return [pipeline.execute_for(dataset.create_batch(np.asarray(names)))]
    except SkipBatchException:
        return []
    except EcgError as exc:
        if len(names) == 1:
            failed[str(names[0])] = getattr(exc, "problem", str(exc))
            return []
        return [batch for name in names for batch in _run_batches(pipeline, dataset, [name], failed)]


def _stored(batch, components):
    """The components of ``batch`` to store: those asked for, or each of :data:`STORED` that is filled."""
    if components is not None:
        return list(components)
    names = []
    for name in STORED:
        values = getattr(batch, name, None) if name in batch.components else None
        if values is None or all(v is None or (name == "annotation" and not v) for v in values):
            continue
        names.append(name)
    return names


def run_partition(job, number, paths):
    """Preprocess partition ``number`` (``paths``: record -> path, in order) into its shard.

    The Dask task of one partition; also run in-process by :func:`preprocess` with
    ``n_workers=0``. A shard already written with ``job.plan`` is not written again.

    Returns
    -------
    dict
        ``number``, ``records`` (``[record, n_segments]`` per row), ``skipped`` and
        ``failed`` (record -> reason), ``ran`` (False when the shard was there).
    """
    from batchflow import DatasetIndex

    from ecg.data.dataset import EcgDataset
    from ecg.recipes import apply_recipe
    from ecg.report import ErrorReport

    shard = shard_io.join(job.out, shard_name(number))
    if shard_io.exists(shard):
        try:
            manifest = shard_io.read_manifest(shard)
        except EcgError:
            manifest = {}
        if manifest.get("plan") == job.plan:
            return {**_outcome(manifest), "ran": False}
    names = list(paths)
    dataset = EcgDataset(index=DatasetIndex(np.array(names)))
    report = ErrorReport()
    pipeline = dataset.p.load(src=dict(paths), on_error="skip", report=report, **job.load)
    pipeline = apply_recipe(pipeline, job.recipe)
    pipeline.reset("iter", "vars")
    failed, rows = {}, []
    for start in range(0, len(names), job.batch_size):
        for batch in _run_batches(pipeline, dataset, names[start:start + job.batch_size], failed):
            components = _stored(batch, job.components)
            for i, ix in enumerate(batch.indices):
                rows.append((str(ix), {name: getattr(batch, name)[i] for name in components}))
    skipped = {record: reason for record, reason in report}
    done = {record for record, _ in rows}
    dropped = [r for r in names if r not in done and r not in skipped and r not in failed]
    failed.update({r: "left out by a recipe step (drop_short_signals, signal_quality(drop=True)...)"
                   for r in dropped})
    manifest = {"plan": job.plan, "partition": number,
                "records": [{"record": record, "segments": _segments(components)} for record, components in rows],
                "skipped": {r: skipped[r] for r in names if r in skipped},
                "failed": {r: failed[r] for r in names if r in failed}}
    shard_io.write_shard(shard, [components for _, components in rows], manifest)
    return {**_outcome(manifest), "ran": True}


def _segments(components):
    meta = components.get("meta") or {}
    if "n_segments" in meta:
        return int(meta["n_segments"])
    return 1


def _outcome(manifest):
    return {"number": manifest["partition"], "records": [[r["record"], r["segments"]] for r in manifest["records"]],
            "skipped": dict(manifest["skipped"]), "failed": dict(manifest["failed"])}


# --- the run --------------------------------------------------------------------------------------------
SCHEDULER_TIMEOUT = "20s"
"""How long :func:`preprocess` tries to reach a scheduler given by address."""
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}
"""Dask settings of the workers :func:`local_cluster` starts: no statistical profiler (it samples the
task's Python stack every 10 ms, which costs a CPU-bound partition a noticeable share of its time)."""


def _distributed():
    try:
        import dask
        from dask import distributed
    except ImportError as exc:
        raise ConfigError("preprocessing on Dask needs dask.distributed: pip install 'dask[distributed]' (or "
                          "'ecg[dask]'), or run it in this process with n_workers=0") from exc
    return dask, distributed


def local_cluster(n_workers=None, **kwargs):
    """A ``LocalCluster`` of ``n_workers`` one-thread worker processes (default one per core).

    The workers run with :data:`WORKER_CONFIG`; ``kwargs`` go to ``LocalCluster``
    (``dashboard_address``, ``memory_limit``...).
    """
    dask, distributed = _distributed()
    kwargs = {"n_workers": n_workers or os.cpu_count() or 1, "threads_per_worker": 1, "processes": True,
              "silence_logs": logging.WARNING, **kwargs}
    with dask.config.set(WORKER_CONFIG):            # the nannies hand it to the worker processes they start
        return distributed.LocalCluster(**kwargs)


def _client(scheduler, n_workers, cluster_kwargs):
    """``(client, cluster)``: a client of ``scheduler`` (an address or a Client), or of a new LocalCluster."""
    _, distributed = _distributed()
    if scheduler is not None:
        if isinstance(scheduler, distributed.Client):
            return scheduler, None
        if n_workers is not None:
            raise ConfigError("give a scheduler address or a number of local workers, not both")
        try:
            return distributed.Client(scheduler, timeout=SCHEDULER_TIMEOUT), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise EcgError(f"cannot reach the Dask scheduler at {scheduler!r} within {SCHEDULER_TIMEOUT} "
                           f"({type(exc).__name__}: {exc}): is it running, and is the address "
                           "tcp://HOST:PORT?") from exc
    cluster = local_cluster(n_workers, **(cluster_kwargs or {}))
    return distributed.Client(cluster), cluster


def _progress(total, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="partition", desc="preprocess", disable=None if enabled is None else not enabled)


def preprocess(dataset, recipe, out, *, load=None, labels=None, components=None, partition_size=PARTITION_SIZE,
               scheduler=None, n_workers=None, batch_size=64, progress=None, cluster_kwargs=None, log=print):
    """Run ``load`` and ``recipe`` over every record into the sharded cache ``out``, locally or on Dask.

    Parameters
    ----------
    dataset : EcgDataset, dict or str
        The records: an ``EcgDataset`` of files (``EcgDataset(path="dir/*.hea")``), a
        glob of headers, or record name -> path. Their order is the cache's order.
    recipe : list of dict
        The preprocessing recipe (:mod:`ecg.recipes`), run after ``load``.
    out : str or Path
        The cache folder, local or an fsspec URL (shared by every worker: on a cluster
        of several machines, a shared file system or object storage).
    load : dict, optional
        ``EcgBatch.load`` options (default ``fmt="wfdb"``, ``components=["signal",
        "meta"]``); bad records are always skipped and reported.
    labels : dict or pandas.Series, optional
        Record -> label, written to the index table (``load(fmt="shards",
        components="target")`` reads it back).
    components : sequence of str, optional
        Components to store; by default each of ``signal``, ``meta``, ``features``,
        ``annotation``, ``target`` that the pipeline fills.
    partition_size : int
        Records per partition and shard; the plan, hence the cache, depends on it and
        not on the number of workers.
    scheduler : str or distributed.Client, optional
        Address of a running Dask scheduler (``tcp://10.0.0.5:8786``) or a client;
        by default a new ``LocalCluster`` of ``n_workers`` processes (closed after).
    n_workers : int, optional
        Workers of the ``LocalCluster`` (default: one per CPU core). ``0`` runs the
        partitions one after the other in this process, without Dask.
    batch_size : int
        Records per batch inside a partition.
    progress : bool, optional
        Show a progress bar (tqdm, on stderr); by default only on a terminal.
    cluster_kwargs : dict, optional
        More ``LocalCluster`` arguments (``dashboard_address``, ``memory_limit``...).
    log : callable
        Gets the dashboard address and the summary (``print`` by default).

    Returns
    -------
    PreprocessResult

    Raises
    ------
    ConfigError
        A bad recipe or option, or ``out`` holding the cache of another plan.
    EcgError
        A partition failed for another reason than a bad record (the partition and
        its first record are named).

    Examples
    --------
    >>> from ecg.data.dataset import EcgDataset
    >>> records = EcgDataset(path="../shared/data/fixture/cinc2017/*.hea")              # doctest: +SKIP
    >>> result = preprocess(records, [{"band_pass_signals": {"low": 0.5, "high": 40}}],  # doctest: +SKIP
    ...                     "runs/cache", n_workers=2)
    >>> print(result.summary())                                                          # doctest: +SKIP
    40 records done (40 index rows), 0 skipped, 0 failed; 1 partitions written, 0 done before; ...
    """
    began = time.perf_counter()
    out = os.fspath(out)
    paths = record_paths(dataset)
    if labels is not None:
        labels = dict(labels.items())
    plan = make_plan(list(paths), recipe, load, labels, components, partition_size)
    job = Job(out=out, plan=plan["hash"], load=plan["load"], recipe=plan["recipe"],
              components=None if plan["components"] is None else tuple(plan["components"]), batch_size=batch_size)
    claim(out, plan)
    parts = [{r: paths[r] for r in records} for records in plan["partitions"]]
    outcomes = {}
    result = PreprocessResult(cache=out)
    if n_workers == 0 and scheduler is None:
        with _progress(len(parts), progress) as bar:
            for number, part in enumerate(parts):
                outcomes[number] = run_partition(job, number, part)
                bar.update()
    else:
        client, cluster = _client(scheduler, n_workers, cluster_kwargs)
        try:
            result.dashboard = client.dashboard_link
            log(f"Dask dashboard: {result.dashboard}")
            outcomes = _run_on(client, job, parts, progress)
        finally:
            if cluster is not None:
                client.close()
                cluster.close()
    result.partitions_run = sum(o["ran"] for o in outcomes.values())
    result.partitions_done_before = len(outcomes) - result.partitions_run
    finish(out, plan, [outcomes[n] for n in range(len(parts))], result)
    result.seconds = time.perf_counter() - began
    log(result.summary())
    return result


def _run_on(client, job, parts, progress):
    """Run the partitions as Dask tasks; return ``{number: outcome}``."""
    from dask.distributed import as_completed

    futures = {client.submit(run_partition, job, number, part, key=f"ecg-preprocess-{job.plan[:16]}-{number:05d}",
                             pure=False): number for number, part in enumerate(parts)}
    outcomes = {}
    with _progress(len(parts), progress) as bar:
        for future in as_completed(futures):
            number = futures[future]
            try:
                outcomes[number] = future.result()
            except EcgError:
                raise
            except Exception as exc:
                first = next(iter(parts[number]))
                raise EcgError(f"partition {number} (records from {first!r}) failed with "
                               f"{type(exc).__name__}: {exc}") from exc
            bar.update()
    return outcomes


def finish(out, plan, outcomes, result):
    """Write ``summary.json`` and then ``index.csv`` (the commit point) from the partitions' outcomes;
    remove the temporary files of killed writers."""
    labels = plan["labels"]
    rows = []
    for outcome in outcomes:
        for row, (record, segments) in enumerate(outcome["records"]):
            rows.extend((record, segment, labels.get(record, ""), shard_name(outcome["number"]), row)
                        for segment in range(segments))
        result.skipped.update(outcome["skipped"])
        result.failed.update(outcome["failed"])
    result.records = sum(len(o["records"]) for o in outcomes)
    result.segments = len(rows)
    summary = {"plan": plan["hash"], "records": result.records, "segments": result.segments,
               "skipped": result.skipped, "failed": result.failed}
    _write_text(shard_io.join(out, SUMMARY_FILE), json.dumps(summary, indent=1) + "\n")
    lines = [",".join(INDEX_COLUMNS)] + [",".join(_csv_field(v) for v in row) for row in rows]
    _write_text(shard_io.join(out, INDEX_FILE), "\n".join(lines) + "\n")
    if not shard_io.is_url(out):
        folder = os.path.join(shard_io.local_path(out), SHARDS_DIR)
        for name in os.listdir(folder) if os.path.isdir(folder) else ():
            if name.startswith(".tmp-"):
                os.unlink(os.path.join(folder, name))


def _csv_field(value):
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text
