"""Reliability, round 2 (issue 19): predictions, downloads, checkpoints, prefetch and two
processes at once must end in a correct result, a reported skip or one clear error, never a
silent wrong result, a raw traceback, a hang or a trusted half-written state."""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from batchflow import B, SkipBatchException

from ecg import EcgDataset, KerasBaseModel, training
from ecg.cli import main
from ecg.data.download import MARKER_NAME, download
from ecg.errors import EcgError, ModelError
from ecg.models.keras_model import CONFIG_FILE
from ecg.recipes import predict_dataset
from ecg.report import ErrorReport
from ecg.training import SEEDS_FILE, STATE_FILE, read_state, train_epochs
from test_download import QT_PATH, QT_ROOT, MirrorServer, _Handler, build_zip, write_sums

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["N", "A", "O", "~"]
RECIPE = [{"band_pass_signals": {"low": 0.5, "high": 40}}, {"normalize_signals": {"method": "zscore"}},
          {"split_signals": {"length": 3000, "step": 1500}}]
SMALL = {"model": {"name": "cnn", "params": {"filters": [4, 8], "norm": "layer"}}, "seed": 0}


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")


def _script(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# --- ecg predict ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(cinc_dir, tmp_path_factory):
    """A small CNN trained on 300 Hz CinC records, saved with RECIPE (which does not resample)."""
    dataset = EcgDataset(path=str(cinc_dir / "*.hea"))
    config = dict(SMALL, preprocess=RECIPE)
    pipeline = (dataset.p.init_model("m", KerasBaseModel, config=config)
                .load(fmt="wfdb", components=["signal", "meta"])
                .load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv", components="target")
                .band_pass_signals(0.5, 40).normalize_signals("zscore")
                .random_split_signals(3000, 1).one_hot_labels(CLASSES).train_on_batch("m"))
    pipeline.run(batch_size=20, n_epochs=1, shuffle=0)
    path = tmp_path_factory.mktemp("model") / "cnn"
    pipeline.m("m").save(path)
    return path


def _edited(model_dir, folder, edit):
    """A copy of the saved model in ``folder`` whose ecg_model.json went through ``edit(meta)``."""
    copy = folder / f"model-{len(list(folder.glob('model-*')))}"
    shutil.copytree(model_dir, copy)
    meta = json.loads((copy / CONFIG_FILE).read_text())
    meta = edit(meta)
    (copy / CONFIG_FILE).write_text(json.dumps(meta))
    return copy


def _with_config(**updates):
    def edit(meta):
        meta["config"].update(updates)
        return meta
    return edit


@pytest.fixture(scope="module")
def records_360(fixture_dir, tmp_path_factory):
    """Three single-lead 30 s records at 360 Hz: MIT-BIH 100, lead MLII, cut in three."""
    import wfdb

    folder = tmp_path_factory.mktemp("at360")
    signal = wfdb.rdrecord(str(fixture_dir / "mitdb" / "100"), channels=[0], sampto=3 * 10800).p_signal
    for i in range(3):
        wfdb.wrsamp(f"r360{i}", fs=360, units=["mV"], sig_name=["MLII"], p_signal=signal[i * 10800:(i + 1) * 10800],
                    fmt=["16"], write_dir=str(folder))
    return folder


def _predict(model, records, out, *extra):
    return main(["predict", "--model", str(model), "--records", str(records), "--out", str(out), *extra])


def _rows(path):
    import csv

    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_records_at_another_rate_are_resampled_to_the_model_rate(model_dir, records_360, tmp_path, capsys):
    model = _edited(model_dir, tmp_path, _with_config(info={"fs": 300.0}))
    out = tmp_path / "pred.csv"
    assert _predict(model, records_360, out) == 0
    err = capsys.readouterr().err
    assert "360 Hz" in err and "300 Hz" in err and "resampl" in err
    reference = _edited(model_dir, tmp_path, _with_config(preprocess=[{"resample_signals": {"fs": 300.0}}, *RECIPE]))
    expected = predict_dataset(reference, EcgDataset(path=str(records_360 / "*.hea")))
    rows = _rows(out)
    assert [r["record"] for r in rows] == expected.records
    np.testing.assert_allclose([[float(r[f"p_{c}"]) for c in CLASSES] for r in rows], expected.probabilities,
                               atol=1e-5)


def test_records_at_several_rates_are_refused_when_the_model_rate_is_unknown(model_dir, records_360, cinc_dir,
                                                                            tmp_path, capsys):
    folder = tmp_path / "mixed"
    shutil.copytree(records_360, folder)
    for ext in ("hea", "mat"):
        shutil.copy(cinc_dir / f"A00001.{ext}", folder)
    out = tmp_path / "pred.csv"
    assert _predict(model_dir, folder, out) == 2
    err = capsys.readouterr().err
    assert "300 Hz" in err and "360 Hz" in err and "A00001" in err and "r3600" in err
    assert not out.exists()


def test_a_class_list_that_does_not_match_the_outputs_is_an_error(model_dir, cinc_dir, tmp_path, capsys):
    model = _edited(model_dir, tmp_path, _with_config(classes=["N", "A", "O"]))
    with pytest.raises(ModelError, match=r"3 class names \['N', 'A', 'O'\].*4 outputs"):
        KerasBaseModel({"path": str(model)})
    out = tmp_path / "pred.csv"
    assert _predict(model, cinc_dir, out) == 2
    assert "3 class names" in capsys.readouterr().err and not out.exists()
    model = _edited(model_dir, tmp_path, _with_config(num_classes=3))
    with pytest.raises(ModelError, match=r"num_classes=3.*4 outputs"):
        KerasBaseModel({"path": str(model)})


@pytest.mark.parametrize("meta", [[], 5, None, "text", {"format": "ecg-keras-model", "format_version": 1},
                                  {"format": "ecg-keras-model", "format_version": 1, "config": [1]}],
                         ids=["list", "number", "null", "string", "no-config", "config-list"])
def test_a_malformed_model_json_is_one_clear_error(meta, model_dir, cinc_dir, tmp_path, capsys):
    model = _edited(model_dir, tmp_path, lambda _: meta)
    with pytest.raises(EcgError, match=CONFIG_FILE):
        KerasBaseModel({"path": str(model)})
    assert _predict(model, cinc_dir, tmp_path / "pred.csv") == 2
    err = capsys.readouterr().err
    assert CONFIG_FILE in err and "Traceback" not in err


def test_the_summary_line_names_the_records_the_recipe_dropped(model_dir, cinc_dir, tmp_path, capsys):
    from ecg.io import read_header_meta

    lengths = {p.stem: read_header_meta(str(p))["n_samples"] for p in sorted(cinc_dir.glob("*.hea"))}
    short = sorted(name for name, n in lengths.items() if n < 9000)
    assert 0 < len(short) < len(lengths)
    model = _edited(model_dir, tmp_path, _with_config(preprocess=[{"drop_short_signals": {"length": 9000}}, *RECIPE]))
    assert _predict(model, cinc_dir, tmp_path / "pred.csv") == 3
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("wrote"))
    assert f"{len(lengths) - len(short)} of {len(lengths)} records" in line
    assert all(name in out for name in short) and "drop_short_signals" in out


def test_folder_names_with_glob_characters_are_taken_literally(model_dir, cinc_dir, tmp_path):
    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))
    for folder, chosen in (("site[1]", names[:2]), ("site1", names[2:5])):
        (tmp_path / folder).mkdir()
        for name in chosen:
            for ext in ("hea", "mat"):
                shutil.copy(cinc_dir / f"{name}.{ext}", tmp_path / folder)
    assert _predict(model_dir, tmp_path / "site[1]", tmp_path / "pred.csv") == 0
    assert [r["record"] for r in _rows(tmp_path / "pred.csv")] == names[:2]
    (tmp_path / "site1").rename(tmp_path / "other")
    assert _predict(model_dir, tmp_path / "site[1]", tmp_path / "pred2.csv") == 0
    assert [r["record"] for r in _rows(tmp_path / "pred2.csv")] == names[:2]


# --- downloads ------------------------------------------------------------------------------
@pytest.fixture
def qt_mirror(tmp_path, fixture_dir):
    mirror = tmp_path / "mirror"
    build_zip(mirror / QT_PATH, QT_ROOT, sorted((fixture_dir / "qtdb").glob("sel100.*")))
    write_sums(mirror)
    return mirror


KILLED_DOWNLOAD = """
    import os, shutil, signal, sys, zipfile
    from ecg.data import download as module

    point, mirror, dest = sys.argv[1:4]
    if point == "extracting":
        extract, calls = zipfile.ZipFile.extract, []

        def killing_extract(self, member, path=None, pwd=None):
            calls.append(member)
            if len(calls) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return extract(self, member, path, pwd)
        zipfile.ZipFile.extract = killing_extract
    else:
        rmtree = shutil.rmtree

        def killing_rmtree(path, *args, **kwargs):
            if os.path.isfile(os.path.join(path, "sel100.hea")):     # a whole tree of the database
                for name in sorted(os.listdir(path))[::2]:
                    os.unlink(os.path.join(path, name))
                os.kill(os.getpid(), signal.SIGKILL)
            return rmtree(path, *args, **kwargs)
        module.shutil.rmtree = killing_rmtree
    module.download("qtdb", dest=dest, mirror=mirror, progress=False, force=True)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("point", ["extracting", "replacing"])
def test_a_forced_download_killed_midway_is_not_trusted(point, qt_mirror, fixture_dir, tmp_path):
    dest = tmp_path / "dl"
    root = download("qtdb", dest=dest, mirror=qt_mirror, progress=False)
    expected = sorted(p.name for p in (fixture_dir / "qtdb").glob("sel100.*"))
    script = _script(tmp_path, "killed.py", KILLED_DOWNLOAD)
    run = subprocess.run([sys.executable, str(script), point, str(qt_mirror), str(dest)], env=_env(),
                         capture_output=True, text=True, timeout=100)
    assert run.returncode == -signal.SIGKILL, run.stderr
    again = download("qtdb", dest=dest, mirror=qt_mirror, progress=False)
    assert again == root and sorted(p.name for p in root.iterdir()) == expected
    leftovers = [p.name for p in (dest / "qtdb").iterdir() if p.name.startswith((".extract-", ".old-"))]
    assert leftovers == []
    assert json.loads((dest / "qtdb" / MARKER_NAME).read_text())["root"] == QT_ROOT


class _SlowHandler(_Handler):
    """Sends bodies in 16 KiB pieces with a pause, so that two transfers overlap."""

    def setup(self):
        super().setup()
        raw = self.wfile

        class Slow:
            def write(self, data):
                for start in range(0, len(data), 1 << 14):
                    raw.write(data[start:start + (1 << 14)])
                    time.sleep(0.01)
                return len(data)

            def flush(self):
                raw.flush()
        self.wfile = Slow()


@pytest.mark.timeout(240)
def test_two_downloads_into_one_folder_at_once(qt_mirror, fixture_dir, tmp_path):
    dest = tmp_path / "dl"
    with MirrorServer(qt_mirror) as server:
        server.httpd.RequestHandlerClass = _SlowHandler
        command = [sys.executable, "-m", "ecg.cli", "download", "qtdb", "--dest", str(dest), "--mirror",
                   server.url, "-q"]
        runs = [subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        results = [run.communicate(timeout=200) for run in runs]
    for run, (out, err) in zip(runs, results):
        assert run.returncode == 0, err
        assert "Traceback" not in err and "mismatch" not in err
    root = dest / "qtdb" / QT_ROOT
    for original in (fixture_dir / "qtdb").glob("sel100.*"):
        assert (root / original.name).read_bytes() == original.read_bytes()
    assert not list((dest / "qtdb").glob("*.corrupt")) and not list((dest / "qtdb").glob("*.part"))


# --- two processes saving one model -----------------------------------------------------------
SAVER = """
    import os, sys, time
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from ecg import KerasBaseModel

    replace = os.replace

    def slow_replace(*args, **kwargs):     # a slow file system: the window between two renames widens
        replace(*args, **kwargs)
        time.sleep(0.05)
    os.replace = slow_replace
    source, target, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = KerasBaseModel({"path": source})
    open(target + ".ready-" + str(os.getpid()), "w").close()
    while len([f for f in os.listdir(os.path.dirname(target)) if ".ready-" in f]) < 2:
        time.sleep(0.01)
    for _ in range(n):
        model.save(target)
"""


@pytest.mark.timeout(300)
def test_two_processes_saving_one_model_path(model_dir, tmp_path):
    script = _script(tmp_path, "saver.py", SAVER)
    target = tmp_path / "shared" / "m"
    target.parent.mkdir()
    runs = [subprocess.Popen([sys.executable, str(script), str(model_dir), str(target), "6"], env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [run.communicate(timeout=280) for run in runs]
    for run, (_, err) in zip(runs, results):
        assert run.returncode == 0, err[-3000:]
    left = sorted(p.name for p in target.parent.iterdir() if ".ready-" not in p.name and not p.name.endswith(".lock"))
    assert left == ["m"]
    assert KerasBaseModel({"path": str(target)}).is_built


# --- checkpoints ------------------------------------------------------------------------------
def _training(cinc_dir, extra=lambda p: p, on_error="raise", report=None, config=None):
    dataset = EcgDataset(path=str(cinc_dir / "*.hea"))
    kwargs = {"on_error": on_error, "report": report} if report is not None else {"on_error": on_error}
    pipeline = (dataset.p.init_model("m", KerasBaseModel, config=config or {"model": {"name": "fc"}, "seed": 0})
                .load(fmt="wfdb", components=["signal", "meta"], **kwargs)
                .load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv", components="target", **kwargs))
    return extra(pipeline).crop_signals(600).one_hot_labels(CLASSES).train_on_batch("m")


def test_each_checkpoint_belongs_to_one_run(cinc_dir, tmp_path, monkeypatch):
    checkpoint = tmp_path / "ck"
    train_epochs(_training(cinc_dir), "m", n_epochs=1, batch_size=20, checkpoint_dir=checkpoint, seed=1)
    first = read_state(checkpoint)
    assert first["run_id"] and json.loads((checkpoint / "epoch-0001" / "run.json").read_text())["run_id"] == \
        first["run_id"]

    class Crash(Exception):
        pass

    def crash_before_commit(path, write):         # run B dies once its epoch folder is written
        if path.endswith(STATE_FILE):
            raise Crash()
        return write_atomic(path, write)
    write_atomic = training._write_atomic
    monkeypatch.setattr(training, "_write_atomic", crash_before_commit)
    with pytest.raises(Crash):
        train_epochs(_training(cinc_dir, config={"model": {"name": "fc"}, "seed": 5}), "m", n_epochs=2,
                     batch_size=20, checkpoint_dir=checkpoint, seed=1)
    monkeypatch.undo()
    state = read_state(checkpoint)
    assert state is None or state["run_id"] != first["run_id"]       # run A's state is gone, never mixed
    resumed = _training(cinc_dir)
    history = train_epochs(resumed, "m", n_epochs=1, batch_size=20, checkpoint_dir=checkpoint, seed=1, resume=True)
    assert [h["epoch"] for h in history] == [1]
    # an epoch folder of another run under a committed state is refused
    state = read_state(checkpoint)
    (checkpoint / state["checkpoint"] / "run.json").write_text(json.dumps({"run_id": "another", "epoch": 1}))
    with pytest.raises(ModelError, match="another run"):
        train_epochs(_training(cinc_dir), "m", n_epochs=2, batch_size=20, checkpoint_dir=checkpoint, seed=1,
                     resume=True)


def test_a_fresh_run_in_a_used_folder_starts_clean(cinc_dir, tmp_path, caplog):
    checkpoint = tmp_path / "ck"
    train_epochs(_training(cinc_dir), "m", n_epochs=2, batch_size=20, checkpoint_dir=checkpoint, seed=1, every=1)
    first = read_state(checkpoint)["run_id"]
    with caplog.at_level(logging.WARNING, logger="ecg"):
        history = train_epochs(_training(cinc_dir), "m", n_epochs=1, batch_size=20, checkpoint_dir=checkpoint,
                               seed=1)
    assert [h["epoch"] for h in history] == [1] and "fresh run" in caplog.text
    state = read_state(checkpoint)
    assert state["run_id"] != first and state["epoch"] == 1
    assert sorted(p.name for p in checkpoint.iterdir()) == ["epoch-0001", STATE_FILE]


def _damage(checkpoint, how):
    state_path = checkpoint / STATE_FILE
    state = json.loads(state_path.read_text())
    folder = checkpoint / state["checkpoint"]
    if how.startswith("no-key-"):
        del state[how[len("no-key-"):]]
        state_path.write_text(json.dumps(state))
    elif how == "bad-history":
        state["history"] = "nope"
        state_path.write_text(json.dumps(state))
    elif how == "no-seeds":
        (folder / SEEDS_FILE).unlink()
    elif how == "garbage-seeds":
        (folder / SEEDS_FILE).write_bytes(b"PK\x03\x04 garbage")
    elif how == "pickled-seeds":
        import pickle

        (folder / SEEDS_FILE).write_bytes(pickle.dumps({"g0": np.zeros(2)}))
    elif how == "object-seeds":
        np.savez(folder / SEEDS_FILE, g0=np.array([{"x": 1}], dtype=object))
    elif how == "wrong-seeds":
        np.savez(folder / SEEDS_FILE, x=np.zeros(3))
    elif how == "no-epoch-folder":
        shutil.rmtree(folder)
    elif how == "no-model":
        shutil.rmtree(folder / "model")
    elif how == "broken-model":
        (folder / "model" / "model.keras").write_bytes(b"not a zip")


DAMAGES = ["no-key-epoch", "no-key-checkpoint", "no-key-settings", "no-key-history", "no-key-batch_logs",
           "no-key-run_id", "bad-history", "no-seeds", "garbage-seeds", "pickled-seeds", "object-seeds",
           "wrong-seeds", "no-epoch-folder", "no-model", "broken-model"]


@pytest.fixture(scope="module")
def dropout_checkpoint(cinc_dir, tmp_path_factory):
    config = {"model": {"name": "cnn", "params": {"filters": [4], "norm": "layer", "dropout": 0.2}}, "seed": 0}
    checkpoint = tmp_path_factory.mktemp("ck") / "ck"
    train_epochs(_training(cinc_dir, config=config), "m", n_epochs=1, batch_size=20, checkpoint_dir=checkpoint,
                 seed=1)
    return checkpoint, config


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_checkpoint_is_one_clear_model_error(how, dropout_checkpoint, cinc_dir, tmp_path):
    source, config = dropout_checkpoint
    checkpoint = tmp_path / "ck"
    shutil.copytree(source, checkpoint)
    _damage(checkpoint, how)
    with pytest.raises(ModelError, match=str(checkpoint)):
        train_epochs(_training(cinc_dir, config=config), "m", n_epochs=2, batch_size=20,
                     checkpoint_dir=checkpoint, seed=1, resume=True)


# --- prefetch -----------------------------------------------------------------------------------
def _raise_on(record, error):
    def call(batch):
        if record in [str(ix) for ix in batch.indices]:
            raise error
    return lambda pipeline: pipeline.call(call, B())


@pytest.mark.timeout(120)
@pytest.mark.parametrize("prefetch", [1, 3])
def test_a_failing_batch_with_prefetch_is_a_model_error_not_a_hang(prefetch, cinc_dir):
    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))
    pipeline = _training(cinc_dir, _raise_on(names[25], RuntimeError("boom in batch")))
    with pytest.raises(ModelError, match=r"(?s)epoch 1.*boom in batch") as caught:
        train_epochs(pipeline, "m", n_epochs=2, batch_size=10, seed=0, prefetch=prefetch)
    assert names[25] in str(caught.value)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("prefetch", [0, 1, 2])
def test_a_skipped_first_batch_with_prefetch_does_not_hang(prefetch, cinc_dir):
    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))
    pipeline = _training(cinc_dir, _raise_on(names[0], SkipBatchException()))
    history = train_epochs(pipeline, "m", n_epochs=2, batch_size=10, seed=-1, prefetch=prefetch)
    assert [h["batches"] for h in history] == [3, 3]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("prefetch", [1, 2])
def test_a_filter_that_empties_batches_with_prefetch_does_not_hang(prefetch, cinc_dir):
    report = ErrorReport()
    pipeline = _training(cinc_dir, lambda p: p.keep_labels("A", report=report), on_error="skip", report=report)
    history = train_epochs(pipeline, "m", n_epochs=2, batch_size=4, seed=0, prefetch=prefetch)
    assert all(h["batches"] >= 1 for h in history)
    assert sum(h["batches"] for h in history) + report.skipped_batches == 20


@pytest.mark.timeout(120)
def test_the_readme_pattern_with_a_skipped_batch_trains_on(cinc_dir, tmp_path):
    folder = tmp_path / "records"
    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))[:16]
    folder.mkdir()
    for name in names:
        for ext in ("hea", "mat"):
            shutil.copy(cinc_dir / f"{name}.{ext}", folder)
    for name in names[:4]:                       # the first batch (no shuffle) has no readable record
        (folder / f"{name}.mat").unlink()
    (folder / f"{names[5]}.hea").unlink()        # labelled, but no header
    shutil.copy(cinc_dir / "REFERENCE.csv", folder)
    report = ErrorReport()
    dataset = EcgDataset(path=str(folder / "*.hea"))
    pipeline = (dataset.p.init_model("m", KerasBaseModel, config={"model": {"name": "fc"}, "seed": 0})
                .load(fmt="wfdb", components=["signal", "meta"], on_error="skip", report=report)
                .load(src=str(folder / "REFERENCE.csv"), fmt="csv", components="target", classes=CLASSES,
                      on_error="skip", report=report)
                .crop_signals(600).one_hot_labels(CLASSES).train_on_batch("m"))
    for prefetch in (0, 1):
        report.clear()
        history = train_epochs(pipeline, "m", n_epochs=1, batch_size=4, seed=-1, prefetch=prefetch)
        assert history[0]["batches"] == 3 and report.skipped_batches == 1
        reasons = dict(report.records)
        assert set(names[:4]) <= set(reasons) and names[5] in reasons
        assert "no header" in reasons[names[5]]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("prefetch", [1, 3])
def test_a_plain_prefetched_run_with_a_failing_batch_ends(prefetch, cinc_dir, capsys):
    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))
    dataset = EcgDataset(path=str(cinc_dir / "*.hea"))
    def slow_failure(batch):       # slow, so that the prefetching thread is waiting on a full queue
        if names[5] in [str(ix) for ix in batch.indices]:
            time.sleep(0.5)
            raise RuntimeError("boom in batch")
    pipeline = dataset.p.load(fmt="wfdb").call(slow_failure, B())
    pipeline.run(batch_size=4, n_epochs=1, shuffle=False, prefetch=prefetch)     # batchflow prints it and stops
    assert "boom in batch" in capsys.readouterr().out
