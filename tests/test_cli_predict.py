"""``ecg predict`` on a folder of records the model has never seen."""
import csv
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ecg import EcgDataset, KerasBaseModel
from ecg.cli import main

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


def test_predict_writes_one_row_per_unseen_record(model_dir, split_records, tmp_path):
    _, unseen = split_records
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(model_dir), "--records", str(unseen), "--out", str(out)]) == 0
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


def test_console_entry_point(model_dir, split_records, tmp_path):
    _, unseen = split_records
    out = tmp_path / "p.csv"
    result = subprocess.run([sys.executable, "-m", "ecg.cli", "predict", "--model", str(model_dir),
                             "--records", str(unseen), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wrote 10 predictions" in result.stdout and len(_read(out)) == 10
