"""Preprocessing on Dask into a sharded cache (ecg.data.cluster, ecg.data.shards, ecg.io.shards).

The cluster tests share one ``LocalCluster`` of 2 worker processes (starting workers and
importing ecg in them is most of their time); the test that kills one of them runs last. The reference of every byte-for-byte
comparison is the same pipeline run in this process, without Dask.
"""
import csv
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ecg.data.cluster import local_cluster, preprocess
from ecg.data.dataset import EcgDataset
from ecg.data.shards import ShardedCache
from ecg.errors import ConfigError, EcgError
from ecg.io.shards import ShardFile

distributed = pytest.importorskip("distributed")

RECIPE = [{"band_pass_signals": {"low": 0.5, "high": 40.0}}, {"find_r_peaks": {"lead": 0}},
          {"rr_features": {"ext": "rpeaks"}}, {"resample_signals": {"fs": 100.0}},
          {"normalize_signals": {"method": "robust"}}]
PARTITION = 2                                   # 20 partitions of the 40 fixture records


def reference_labels(cinc_dir):
    """REFERENCE.csv read with the csv module (not ecg's reader)."""
    with open(cinc_dir / "REFERENCE.csv", newline="") as file:
        return {row[0]: row[1].strip() for row in csv.reader(file)}


def tree(folder):
    """Relative path -> bytes of every file under ``folder``."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def client():
    cluster = local_cluster(2, dashboard_address=":0", silence_logs=logging.ERROR)
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


@pytest.fixture(scope="module")
def single(cinc_dir, tmp_path_factory):
    """The cache written in this process, without Dask (the reference)."""
    out = tmp_path_factory.mktemp("single") / "cache"
    result = preprocess(EcgDataset(path=str(cinc_dir / "*.hea")), RECIPE, out,
                        labels=reference_labels(cinc_dir), partition_size=PARTITION, n_workers=0,
                        progress=False, log=lambda text: None)
    return out, result


def test_two_workers_write_the_single_process_cache_byte_for_byte(client, single, cinc_dir, tmp_path):
    reference, first = single
    out = tmp_path / "cache"
    result = preprocess(EcgDataset(path=str(cinc_dir / "*.hea")), RECIPE, out, labels=reference_labels(cinc_dir),
                        partition_size=PARTITION, scheduler=client, progress=False, log=lambda text: None)
    assert result.partitions_run == 20 and first.partitions_run == 20
    written, expected = tree(out), tree(reference)
    assert sorted(written) == sorted(expected)
    assert len([name for name in written if name.startswith("shards/part-")]) == 20
    assert all(written[name] == expected[name] for name in expected)
    assert result.dashboard and result.dashboard.startswith("http")
    # two worker processes of one thread each, without Dask's sampling profiler
    assert sorted(client.nthreads().values()) == [1, 1]
    assert set(client.run(lambda: __import__("dask").config.get("distributed.worker.profile.enabled")).values()) == {False}


def test_shards_hold_every_record_once_with_its_label(single, cinc_dir):
    out, result = single
    labels = reference_labels(cinc_dir)
    with open(out / "index.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["record"] for row in rows] == sorted(labels)          # every record once, in order
    assert all(row["label"] == labels[row["record"]] and row["segment"] == "0" for row in rows)
    assert result.records == 40 and not result.skipped and not result.failed
    # every member of a shard has the fixed ZIP-epoch date; numpy reads the shard as an .npz
    shard = out / rows[3]["shard"]
    with zipfile.ZipFile(shard) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    with np.load(shard) as data:
        signal_np = data[f"{rows[3]['row']}/signal"]
    with ShardFile(shard) as opened:
        assert opened.records[int(rows[3]["row"])] == rows[3]["record"]
        everything = opened.read(int(rows[3]["row"]))
        np.testing.assert_array_equal(everything["signal"], signal_np)
        assert set(everything) == {"signal", "meta", "features", "annotation"} and "rpeaks" in everything["annotation"]
        only = opened.read(int(rows[3]["row"]), ["signal", "features"])     # the other members are not read
        assert set(only) == {"signal", "features", "annotation"} and only["annotation"] == {}
    assert signal_np.shape[-1] == 100 * 30                          # A00004: 30 s at 100 Hz


def test_process_killed_while_writing_leaves_no_shard(cinc_dir, single, tmp_path):
    """SIGKILL during the write of a shard: only a temporary file remains; the re-run finishes the cache."""
    reference, _ = single
    out = tmp_path / "cache"
    shutil.copytree(reference, out)
    (out / "index.csv").unlink()
    (out / "summary.json").unlink()
    (out / "shards" / "part-00007.npz").unlink()
    script = f"""
import os, tempfile, time
import ecg.io.shards as shards
def write_slowly(path, records, manifest):          # write_shard, 1 KiB every 50 ms
    data = shards.shard_bytes(records, manifest)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".npz")
    with os.fdopen(fd, "wb") as file:
        for start in range(0, len(data), 1024):
            file.write(data[start:start + 1024]); file.flush(); time.sleep(0.05)
    os.replace(tmp, path)
shards.write_shard = write_slowly
from ecg.data.cluster import local_cluster, preprocess
from ecg.data.dataset import EcgDataset
preprocess(EcgDataset(path={str(cinc_dir / '*.hea')!r}), {RECIPE!r}, {str(out)!r},
           labels={reference_labels(cinc_dir)!r}, partition_size={PARTITION}, n_workers=0, progress=False)
"""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if [p for p in (out / "shards").iterdir() if p.name.startswith(".tmp-") and p.stat().st_size > 0]:
            break
        time.sleep(0.01)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "shards" / "part-00007.npz").exists()        # no partial shard
    assert not (out / "index.csv").exists()
    with pytest.raises(EcgError, match="unfinished"):
        ShardedCache(out)
    result = preprocess(EcgDataset(path=str(cinc_dir / "*.hea")), RECIPE, out, labels=reference_labels(cinc_dir),
                        partition_size=PARTITION, n_workers=0, progress=False, log=lambda text: None)
    assert (result.partitions_run, result.partitions_done_before) == (1, 19)
    assert tree(out) == tree(reference)                              # the temporary file is gone too


def test_rerun_skips_finished_partitions(single, cinc_dir, tmp_path):
    reference, _ = single
    out = tmp_path / "cache"
    shutil.copytree(reference, out)
    (out / "shards" / "part-00003.npz").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    result = preprocess(EcgDataset(path=str(cinc_dir / "*.hea")), RECIPE, out, labels=reference_labels(cinc_dir),
                        partition_size=PARTITION, n_workers=0, progress=False, log=lambda text: None)
    assert (result.partitions_run, result.partitions_done_before) == (1, 19)
    assert all((out / "shards" / name).stat().st_mtime_ns == mtime for name, mtime in before.items())
    assert tree(out) == tree(reference)


def test_another_plan_in_the_same_folder_is_refused(single, cinc_dir):
    out, _ = single
    with pytest.raises(ConfigError, match="another plan.*recipe"):
        preprocess(EcgDataset(path=str(cinc_dir / "*.hea")), RECIPE[:1], out, labels=reference_labels(cinc_dir),
                   partition_size=PARTITION, n_workers=0, progress=False, log=lambda text: None)


def test_bad_records_are_skipped_or_failed_with_reasons(client, cinc_dir, tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    for name in ("A00001", "A00002", "A00004", "A00139", "A00445"):       # A00139, A00445: under 15 s
        for ext in (".hea", ".mat"):
            shutil.copy(cinc_dir / f"{name}{ext}", records / f"{name}{ext}")
    mat = records / "A00002.mat"
    mat.write_bytes(mat.read_bytes()[:200])                              # truncated
    recipe = [{"crop_signals": {"length": 15 * 300}}]
    result = preprocess(EcgDataset(path=str(records / "*.hea")), recipe, tmp_path / "cache", partition_size=2,
                        scheduler=client, progress=False, log=lambda text: None)
    assert list(result.skipped) == ["A00002"] and "truncated" in result.skipped["A00002"]
    assert sorted(result.failed) == ["A00139", "A00445"]
    assert all("cannot crop" in reason for reason in result.failed.values())
    cache = ShardedCache(tmp_path / "cache")
    assert cache.records == ["A00001", "A00004"]
    assert "2 failed" in result.summary() and "skipped A00002" in result.summary()
    short = result.summary(limit=1).splitlines()
    assert short[1].startswith("  skipped A00002") and short[2].startswith("  ... and 2 more: 1 x failed: cannot crop")


def test_training_pipeline_reads_the_shards_as_the_npz_cache(single, cinc_dir, tmp_path):
    """load(fmt="shards") gives the components the per-record npz cache (ecg.tasks.rhythm) gives."""
    from ecg.tasks.rhythm import cache_records

    out, _ = single
    dataset = EcgDataset(path=str(cinc_dir / "*.hea"))
    cache_records(dataset, RECIPE, tmp_path / "npz", log=lambda text: None)
    cache = ShardedCache(out)
    names = cache.records[:12]
    from_shards = cache.dataset(names).p.load(src=str(out), fmt="shards",
                                              components=["signal", "meta", "features", "target"])
    batch = from_shards.next_batch(12, shuffle=False)
    npz = cache.dataset(names).p.load(src=str(tmp_path / "npz"), fmt="npz", components=["signal", "meta", "features"])
    other = npz.next_batch(12, shuffle=False)
    labels = reference_labels(cinc_dir)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(batch.signal[i], other.signal[i])
        np.testing.assert_array_equal(batch.features[i], other.features[i])
        assert batch.meta[i] == other.meta[i]
        assert batch.target[i] == labels[name]


def test_a_cache_written_again_is_read_again(cinc_dir, tmp_path):
    out = tmp_path / "cache"
    dataset = {name: str(cinc_dir / f"{name}.hea") for name in ("A00001", "A00002")}
    quiet = dict(partition_size=PARTITION, n_workers=0, progress=False, log=lambda text: None)
    preprocess(dataset, RECIPE[:1], out, **quiet)
    assert ShardedCache.open(out).records == ["A00001", "A00002"]
    shutil.rmtree(out)
    time.sleep(0.01)
    preprocess({"A00004": str(cinc_dir / "A00004.hea")}, RECIPE[:1], out, **quiet)
    assert ShardedCache.open(out).records == ["A00004"]


def test_cache_on_object_storage_through_fsspec(single):
    fsspec = pytest.importorskip("fsspec")
    out, _ = single
    memory = fsspec.filesystem("memory")
    for path in out.rglob("*"):
        if path.is_file():
            memory.pipe(f"/h16cache/{path.relative_to(out)}", path.read_bytes())
    remote, local = ShardedCache("memory://h16cache"), ShardedCache(out)
    assert remote.records == local.records
    for name in (remote.records[0], remote.records[-1]):
        a, b = remote.read(name), local.read(name)
        np.testing.assert_array_equal(a["signal"], b["signal"])
        assert a["meta"] == b["meta"]


def test_a_cache_written_to_object_storage(single, cinc_dir):
    """Shards, plan and index uploaded through fsspec (an in-memory store here): the same bytes as on disk."""
    fsspec = pytest.importorskip("fsspec")
    reference, _ = single
    result = preprocess(EcgDataset(path=str(cinc_dir / "*.hea")), RECIPE, "memory://h16written",
                        labels=reference_labels(cinc_dir), partition_size=PARTITION, n_workers=0, progress=False,
                        log=lambda text: None)
    assert result.partitions_run == 20
    memory = fsspec.filesystem("memory")
    for name, data in tree(reference).items():
        assert memory.cat(f"/h16written/{name}") == data, name
    assert ShardedCache("memory://h16written").records == ShardedCache(reference).records


def test_ecg_preprocess_command(cinc_dir, single, tmp_path):
    from ecg.cli import main

    reference, _ = single
    recipe = tmp_path / "recipe.yaml"
    import yaml

    recipe.write_text(yaml.safe_dump(RECIPE))
    out = tmp_path / "cache"
    code = main(["preprocess", str(recipe), "--records", str(cinc_dir / "*.hea"), "--labels",
                 str(cinc_dir / "REFERENCE.csv"), "--out", str(out), "--workers", "0", "--partition-size",
                 str(PARTITION), "--quiet"])
    assert code == 0
    assert tree(out) == tree(reference)
    # a task config: its dataset, splits and prepare recipe (the rhythm task's own)
    config_out = tmp_path / "from-config"
    code = main(["preprocess", "pipelines/cinc2017.yaml", "--set", f"data.path={cinc_dir}", "--set", "data.limit=2",
                 "--out", str(config_out), "--workers", "0", "--quiet"])
    assert code == 0
    cache = ShardedCache(config_out)
    assert len(cache) == 6                                   # 2 records of each of the 3 splits
    assert cache.plan["recipe"][0] == {"band_pass_signals": {"low": 0.5, "high": 40.0}}
    labels = reference_labels(cinc_dir)
    assert all(cache.label(name) == labels[name] for name in cache.records)


def test_bad_inputs_are_clear_errors(cinc_dir, tmp_path):
    from ecg.cli import main

    with pytest.raises(ConfigError, match="partition_size"):
        preprocess(EcgDataset(path=str(cinc_dir / "*.hea")), RECIPE, tmp_path / "c", partition_size=0, n_workers=0)
    with pytest.raises(ConfigError, match="not a recipe action"):
        preprocess(EcgDataset(path=str(cinc_dir / "*.hea")), [{"dump": {}}], tmp_path / "c", n_workers=0)
    with pytest.raises(EcgError, match="no sharded cache"):
        ShardedCache(tmp_path / "nothing")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("- band_pass_signals: {low: 0.5}\n")
    assert main(["preprocess", str(recipe), "--out", str(tmp_path / "c")]) == 2      # no --records


def test_killed_worker_leaves_no_partial_shard_and_no_duplicate(client, single, cinc_dir, tmp_path):
    reference, _ = single
    out = tmp_path / "cache"
    pids = client.run(os.getpid)
    outcome = {}

    def run():
        try:
            outcome["result"] = preprocess(EcgDataset(path=str(cinc_dir / "*.hea")), RECIPE, out,
                                           labels=reference_labels(cinc_dir), partition_size=PARTITION,
                                           scheduler=client, progress=False, log=lambda text: None)
        except Exception as exc:          # noqa: BLE001 -- re-raised by the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    shards = out / "shards"
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        done = len(list(shards.glob("part-*.npz"))) if shards.is_dir() else 0
        if done >= 1:
            busy = [address for address, keys in client.processing().items() if keys and address in pids]
            if busy:
                victim = busy[0]
                shards_at_kill = done
                os.kill(pids[victim], signal.SIGKILL)
        time.sleep(0.005)
    thread.join(timeout=300)
    assert victim is not None, "the run ended before a worker could be killed"
    assert "error" not in outcome, outcome.get("error")
    assert shards_at_kill < 20                                       # killed mid-run
    assert pids[victim] not in client.run(os.getpid).values()        # that worker is gone
    assert tree(out) == tree(reference)                              # no duplicate, no missing record
    assert not [p for p in shards.iterdir() if p.name.startswith(".tmp-")]
