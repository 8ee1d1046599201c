"""``ecg predict`` on a folder of records the model has never seen."""
import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from batchflow import action

from ecg import EcgDataset, KerasBaseModel
from ecg.batch import EcgBatch
from ecg.cli import main
from ecg.commands.predict import EXIT_MISSING
from ecg.errors import ConfigError
from ecg.io import read_header_meta
from ecg.models.keras_model import CONFIG_FILE
from ecg.recipes import predict_dataset

RECIPE = [{"band_pass_signals": {"low": 0.5, "high": 40}}, {"normalize_signals": {"method": "zscore"}},
          {"split_signals": {"length": 3000, "step": 1500}}]


@pytest.fixture(scope="module")
def split_records(cinc_dir, tmp_path_factory):
    """Train records (first 30) and a folder holding copies of the other 10 only."""
    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))
    unseen = tmp_path_factory.mktemp("unseen")
    for name in names[30:]:
        for ext in ("hea", "mat"):
            shutil.copy(cinc_dir / f"{name}.{ext}", unseen)
    return names[:30], unseen


@pytest.fixture(scope="module")
def model_dir(cinc_dir, split_records, tmp_path_factory):
    train_names, _ = split_records
    dataset = EcgDataset(path=[str(cinc_dir / f"{n}.hea") for n in train_names])
    config = {"model": {"name": "cnn", "params": {"filters": [8, 8], "norm": "layer"}}, "seed": 3,
              "preprocess": RECIPE}
    pipeline = (dataset.p.init_model("m", KerasBaseModel, config=config)
                .load(fmt="wfdb", components=["signal", "meta"])
                .load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv", components="target")
                .band_pass_signals(0.5, 40).normalize_signals("zscore")
                .random_split_signals(3000, 2).one_hot_labels(["N", "A", "O", "~"])
                .train_on_batch("m"))
    pipeline.run(batch_size=15, n_epochs=2, shuffle=True)
    path = tmp_path_factory.mktemp("model") / "cnn"
    pipeline.m("m").save(path)
    return path


def _read(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _with_recipe(model_dir, folder, recipe):
    """A copy of the saved model in ``folder`` whose ecg_model.json holds ``recipe``, edited on disk."""
    copy = folder / "model"
    shutil.copytree(model_dir, copy)
    meta = json.loads((copy / CONFIG_FILE).read_text(encoding="utf-8"))
    meta["config"]["preprocess"] = recipe
    (copy / CONFIG_FILE).write_text(json.dumps(meta), encoding="utf-8")
    return copy


def _predict(model, records, out, *extra):
    return main(["predict", "--model", str(model), "--records", str(records), "--out", str(out), *extra])


def _lengths(folder):
    return {p.stem: read_header_meta(str(p))["n_samples"] for p in sorted(folder.glob("*.hea"))}


def test_predict_writes_one_row_per_unseen_record(model_dir, split_records, tmp_path):
    _, unseen = split_records
    out = tmp_path / "pred.csv"
    assert _predict(model_dir, unseen, out) == 0
    assert _read(tmp_path / "pred.errors.csv") == []        # header only: no record is missing
    rows = _read(out)
    assert [r["record"] for r in rows] == sorted(p.stem for p in unseen.glob("*.hea"))
    assert list(rows[0]) == ["record", "label", "p_N", "p_A", "p_O", "p_~"]
    probs = np.array([[float(r[f"p_{c}"]) for c in "NAO~"] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)
    assert [r["label"] for r in rows] == ["NAO~"[i] for i in probs.argmax(axis=1)]

    # the whole-record decision is the mean of the model's window probabilities
    model = KerasBaseModel({"path": str(model_dir)})
    pipeline = (EcgDataset(path=str(unseen / "*.hea")).p.load(fmt="wfdb", components=["signal", "meta"])
                .band_pass_signals(0.5, 40).normalize_signals("zscore").split_signals(3000, 1500))
    batch = pipeline.next_batch(10, shuffle=False)
    windows = model.predict_on_batch(batch.model_inputs())
    per_record = np.split(windows, np.cumsum(batch.segment_counts())[:-1])
    np.testing.assert_allclose([w.mean(axis=0) for w in per_record], probs, atol=1e-5)


def test_predict_errors_are_clear(model_dir, split_records, tmp_path, capsys):
    assert main(["predict", "--model", str(model_dir), "--records", str(tmp_path), "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert "no records" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path), "--records", str(split_records[1]), "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert "not a saved ecg model" in capsys.readouterr().err
    assert _predict(model_dir, split_records[1], tmp_path / "x.csv", "--batch-size", "0") == 2
    assert "Expected batch_size >= 1. Received: batch_size=0." in capsys.readouterr().err


def test_console_entry_point(model_dir, split_records, tmp_path):
    _, unseen = split_records
    out = tmp_path / "p.csv"
    result = subprocess.run([sys.executable, "-m", "ecg.cli", "predict", "--model", str(model_dir),
                             "--records", str(unseen), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wrote 10 predictions" in result.stdout and len(_read(out)) == 10


def _spy_on_files(monkeypatch):
    """Record every call of ``EcgBatch.load`` and ``dump`` (which still run); return the list of calls."""
    calls = []
    for name in ("load", "dump"):
        def spy(self, *args, _original=getattr(EcgBatch, name), _name=name, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(EcgBatch, name, action(spy))
    return calls


TAMPERED = [[{"load": {"src": "EVIL", "fmt": "blosc", "components": "signal"}}],
            [*RECIPE, {"dump": {"dst": "EVIL", "fmt": "npz", "components": ["signal"]}}],
            [{"band_pass_signals": {"low": "EVIL"}}, *RECIPE[1:]],
            [{"band_pass_signals": {"low": 0.5, "high": 40, "src": "EVIL"}}, *RECIPE[1:]],
            [{"__class__": {}}, *RECIPE],
            [*RECIPE, {"init_model": {"name": "m"}}]]


def _tampered(recipe, model_dir, folder):
    """``(model folder, index of the bad step, its action, the path it names)`` of a TAMPERED recipe."""
    evil = folder / "evil"
    recipe = json.loads(json.dumps(recipe).replace("EVIL", str(evil)))
    bad = next(i for i, step in enumerate(recipe) if step not in RECIPE)
    return _with_recipe(model_dir, folder, recipe), bad, next(iter(recipe[bad])), evil


TAMPERED_IDS = [f"{i}-" + next(iter(next(s for s in r if s not in RECIPE))) for i, r in enumerate(TAMPERED)]


@pytest.mark.parametrize("recipe", TAMPERED, ids=TAMPERED_IDS)
def test_loading_a_saved_model_with_a_tampered_recipe_is_refused(recipe, model_dir, tmp_path):
    tampered, bad, action, _ = _tampered(recipe, model_dir, tmp_path)
    with pytest.raises(ConfigError, match=rf"preprocess step {bad} \({action!r}\)"):
        KerasBaseModel({"path": str(tampered)})


@pytest.mark.parametrize("recipe", TAMPERED, ids=TAMPERED_IDS)
def test_predict_refuses_a_tampered_recipe_and_runs_nothing(recipe, model_dir, split_records, tmp_path,
                                                            monkeypatch, capsys):
    tampered, bad, action, evil = _tampered(recipe, model_dir, tmp_path)
    calls = _spy_on_files(monkeypatch)
    out = tmp_path / "pred.csv"
    assert _predict(tampered, split_records[1], out) == 2
    err = capsys.readouterr().err
    assert f"preprocess step {bad} ({action!r})" in err, err
    assert calls == [] and not evil.exists()                # no record read, nothing written
    assert not out.exists() and not (tmp_path / "pred.errors.csv").exists()


def test_records_dropped_by_the_recipe_are_reported(model_dir, split_records, tmp_path, capsys):
    _, unseen = split_records
    lengths = _lengths(unseen)
    threshold = 6000
    short = sorted(name for name, n in lengths.items() if n < threshold)
    assert 0 < len(short) < len(lengths)                     # the threshold drops some records, not all
    model = _with_recipe(model_dir, tmp_path, [{"drop_short_signals": {"length": threshold}}, *RECIPE])
    out = tmp_path / "pred.csv"
    assert _predict(model, unseen, out) == EXIT_MISSING
    assert [r["record"] for r in _read(out)] == sorted(set(lengths) - set(short))
    errors = _read(tmp_path / "pred.errors.csv")
    assert [r["record"] for r in errors] == short
    assert {r["reason"] for r in errors} == {f"dropped by the recipe: drop_short_signals(length={threshold})"}
    captured = capsys.readouterr()
    assert f"{len(short)} of {len(lengths)} records got no prediction" in captured.err
    assert all(f"  {name}: dropped by the recipe" in captured.err for name in short)
    assert f"wrote {len(lengths) - len(short)} predictions" in captured.out

    # one record a batch: a batch left empty by the recipe is still reported, not fatal
    assert _predict(model, unseen, tmp_path / "one.csv", "--batch-size", "1") == EXIT_MISSING
    assert [r["record"] for r in _read(tmp_path / "one.errors.csv")] == short
    assert [r["record"] for r in _read(tmp_path / "one.csv")] == [r["record"] for r in _read(out)]


def test_a_record_the_recipe_fails_on_costs_only_its_own_prediction(model_dir, split_records, tmp_path):
    _, unseen = split_records
    lengths = _lengths(unseen)
    crop = 4000
    short = sorted(name for name, n in lengths.items() if n < crop)
    assert 0 < len(short) < len(lengths)
    model = _with_recipe(model_dir, tmp_path, [{"crop_signals": {"length": crop}}, *RECIPE])
    result = predict_dataset(model, EcgDataset(path=str(unseen / "*.hea")), batch_size=64)
    assert sorted(result.missing) == short
    assert all(reason.startswith(f"cannot crop {lengths[name]} samples to length={crop}")
               for name, reason in result.missing.items())
    # the records of the failed batch, predicted again one by one, get what a clean run gives them
    good = EcgDataset(path=[str(unseen / f"{name}.hea") for name in result.records])
    clean = predict_dataset(model, good, batch_size=64)
    assert clean.missing == {} and clean.records == result.records
    np.testing.assert_allclose(result.probabilities, clean.probabilities, rtol=0, atol=1e-6)


def test_an_unreadable_record_is_reported_and_the_others_predicted(model_dir, split_records, tmp_path, capsys):
    _, unseen = split_records
    folder = tmp_path / "records"
    shutil.copytree(unseen, folder)
    names = sorted(p.stem for p in folder.glob("*.hea"))
    mat = folder / f"{names[3]}.mat"
    mat.write_bytes(mat.read_bytes()[:1000])
    out = tmp_path / "pred.csv"
    assert _predict(model_dir, folder, out) == EXIT_MISSING
    assert [r["record"] for r in _read(out)] == names[:3] + names[4:]
    (error,) = _read(tmp_path / "pred.errors.csv")
    assert error["record"] == names[3] and "is truncated" in error["reason"]
    assert f"{names[3]}: signal file" in capsys.readouterr().err


def test_help_documents_the_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = capsys.readouterr().out
    assert "exit status:" in text and "<OUT stem>.errors.csv" in text
    assert f"  {EXIT_MISSING}  some records got no prediction" in text and "  2  error, nothing written" in text
