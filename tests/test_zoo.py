"""Compact model folders (float16 weights) and the model zoo shipped with the package."""
import csv
import json

import numpy as np
import pytest

from ecg import KerasBaseModel
from ecg.cli import main
from ecg.errors import ModelError
from ecg.zoo import ZOO_DIR, entries, resolve


@pytest.fixture(scope="module")
def trained(cinc_dir):
    import wfdb

    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))[:16]
    x = np.stack([wfdb.rdrecord(str(cinc_dir / n)).p_signal[:1500].astype(np.float32) for n in names])
    y = np.eye(2, dtype=np.float32)[np.arange(16) % 2]
    model = KerasBaseModel({"model": {"name": "cnn", "params": {"filters": [4, 8]}}, "seed": 0})
    for _ in range(3):
        model.train_on_batch(x, y, classes=["no", "yes"])
    return model, x


def test_compact_save_is_small_and_predicts_alike(trained, tmp_path):
    model, x = trained
    model.save(tmp_path / "full")
    model.save(tmp_path / "compact", compact=True)
    assert sorted(p.name for p in (tmp_path / "compact").iterdir()) == ["ecg_model.json", "weights.npz"]
    full_size = (tmp_path / "full" / "model.keras").stat().st_size
    assert (tmp_path / "compact" / "weights.npz").stat().st_size < full_size / 3
    loaded = KerasBaseModel({"path": str(tmp_path / "compact")})
    a, b = model.predict_on_batch(x), loaded.predict_on_batch(x)
    np.testing.assert_allclose(b, a, atol=2e-3)
    assert (a.argmax(1) == b.argmax(1)).all() and loaded.classes == ["no", "yes"]


def test_compact_weights_that_do_not_fit_are_refused(trained, tmp_path):
    model, _ = trained
    model.save(tmp_path / "m", compact=True)
    with np.load(tmp_path / "m" / "weights.npz") as data:
        weights = {k: data[k] for k in data.files}
    weights.pop(sorted(weights)[-1])
    np.savez(tmp_path / "m" / "weights.npz", **weights)
    with pytest.raises(ModelError, match="do not fit the network"):
        KerasBaseModel({"path": str(tmp_path / "m")})


def test_unknown_zoo_name_lists_the_known_ones():
    with pytest.raises(ModelError, match="no model 'nope' in the zoo"):
        resolve("zoo:nope")
    assert resolve("runs/x/model") == "runs/x/model"


@pytest.mark.skipif("cinc2017" not in entries(), reason="the zoo has no cinc2017 entry")
def test_zoo_cinc2017_labels_records_with_no_training(cinc_dir, tmp_path, capsys):
    entry = entries()["cinc2017"]
    folder = ZOO_DIR / "cinc2017"
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1024 * 1024
    assert entry["commit"] and entry["command"].startswith("ecg train pipelines/cinc2017.yaml")
    assert main(["models", "--zoo"]) == 0
    assert "zoo:cinc2017" in capsys.readouterr().out
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", "zoo:cinc2017", "--records", str(cinc_dir), "--out", str(out)]) == 0
    with open(out) as file:
        rows = list(csv.DictReader(file))
    labels = dict(line.strip().split(",") for line in open(cinc_dir / "REFERENCE.csv"))
    assert len(rows) == 40
    predicted = {r["record"]: r["label"] for r in rows}
    accuracy = np.mean([predicted[k] == labels[k] for k in predicted])
    assert accuracy > 0.6, accuracy            # 10 records of each class; chance is 0.25
    meta = json.loads((folder / "ecg_model.json").read_text())
    assert meta["config"]["info"]["task"] == "rhythm"


@pytest.mark.skipif("mitdb_beats" not in entries(), reason="the zoo has no mitdb_beats entry")
def test_zoo_mitdb_beats_labels_the_beats_of_a_record(fixture_dir, tmp_path):
    """zoo:mitdb_beats on MIT-BIH 208 (a DS1 record, so seen in training): beats on the .atr, V beats found."""
    import wfdb

    from ecg.ops.beats import aami_classes

    assert sum(p.stat().st_size for p in (ZOO_DIR / "mitdb_beats").iterdir()) < 1024 * 1024
    folder = tmp_path / "records"
    folder.mkdir()
    for file in (fixture_dir / "mitdb").glob("208.*"):
        (folder / file.name).symlink_to(file)
    out = tmp_path / "beats.csv"
    assert main(["predict", "--model", "zoo:mitdb_beats", "--records", str(folder), "--out", str(out)]) == 0
    with open(out) as file:
        rows = list(csv.DictReader(file))
    ann = wfdb.rdann(str(fixture_dir / "mitdb" / "208"), "atr")
    classes = aami_classes(ann.symbol)
    samples = np.array([int(r["sample"]) for r in rows])
    nearest = np.abs(samples[:, None] - ann.sample[None]).argmin(axis=1)
    close = np.abs(samples - ann.sample[nearest]) <= 0.15 * 360
    assert close.mean() > 0.98
    true, predicted = classes[nearest][close], np.array([r["label"] for r in rows])[close]
    v = true == "V"
    assert v.sum() > 900 and (predicted[v] == "V").mean() > 0.8


@pytest.mark.skipif("ludb_delineation" not in entries(), reason="the zoo has no ludb_delineation entry")
@pytest.mark.parametrize("record", ["4", "5"])              # LUDB test-split records: never seen in training
def test_zoo_ludb_delineation_finds_the_annotated_waves(fixture_dir, tmp_path, record):
    """zoo:ludb_delineation on a raw LUDB record: the QRS and P onsets of the lead ii annotation are found."""
    import wfdb

    assert sum(p.stat().st_size for p in (ZOO_DIR / "ludb_delineation").iterdir()) < 1024 * 1024
    folder = tmp_path / "records"
    folder.mkdir()
    for file in (fixture_dir / "ludb").glob(f"{record}.*"):
        (folder / file.name).symlink_to(file)
    out = tmp_path / "waves.csv"
    assert main(["predict", "--model", "zoo:ludb_delineation", "--records", str(folder), "--out", str(out)]) == 0
    with open(out) as file:
        rows = [r for r in csv.DictReader(file) if r["lead"] == "ii"]
    ann = wfdb.rdann(str(fixture_dir / "ludb" / record), "ii")
    fs = 500
    for symbol, wave in (("N", "QRS"), ("p", "P")):
        # LUDB marks a wave as "(", its peak symbol, ")": the onset is the "(" before each peak symbol
        onsets = [ann.sample[i - 1] for i, s in enumerate(ann.symbol) if s == symbol and i and ann.symbol[i - 1] == "("]
        predicted = np.array([int(r["onset"]) for r in rows if r["wave"] == wave])
        assert onsets and predicted.size
        found = [np.abs(predicted - onset).min() <= 0.04 * fs for onset in onsets]
        assert np.mean(found) >= 0.9, (wave, np.mean(found))
