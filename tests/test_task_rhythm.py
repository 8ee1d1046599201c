"""The rhythm task pipeline end to end on a few real CinC 2017 records: ecg train, predict, evaluate."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ecg.cli import main
from ecg.errors import ConfigError
from ecg.tasks import get_task
from ecg.tasks.base import apply_sets, read_config
from ecg.tasks.rhythm import class_weights, prepare_recipe

CONFIG = str(Path(__file__).resolve().parents[1] / "pipelines" / "cinc2017.yaml")
SMOKE = ["data.limit=24", "train.epochs=2", "train.batch_size=8", "window.length=10", "window.step=5",
         "train.prefetch=0"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, mirror_dir):
    out = tmp_path_factory.mktemp("run")
    sets = [f"data.downloads={out / 'downloads'}"] + SMOKE
    args = ["train", CONFIG, "--mirror", str(mirror_dir), "--out", str(out / "cinc2017")]
    assert main(args + [x for s in sets for x in ("--set", s)]) == 0
    return out / "cinc2017"


def test_run_directory_holds_everything(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "model", "metrics.json", "history.csv", "predictions.csv", "plots"} <= names
    assert {p.name for p in (run_dir / "plots").iterdir()} == {"training_curves.png", "confusion_matrix.png"}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["records"] == {"train": 24, "validation": 24, "test": 24}
    test = metrics["test"]
    assert {"challenge_f1", "macro_f1", "A_vs_rest_macro_f1", "accuracy", "confusion_matrix"} <= set(test)
    assert np.sum(test["confusion_matrix"]) == 24
    assert metrics["saved_model_max_abs_diff"] < 1e-5           # the saved model predicts raw records alike
    with open(run_dir / "history.csv") as file:
        history = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in history] == [1, 2] and all("val_score" in row for row in history)


def test_metrics_match_the_predictions_file(run_dir):
    """The headline number is recomputed from predictions.csv with scikit-learn."""
    from sklearn.metrics import f1_score

    with open(run_dir / "predictions.csv") as file:
        rows = list(csv.DictReader(file))
    labels = [r["label"] for r in rows]
    predicted = [r["prediction"] for r in rows]
    per_class = f1_score(labels, predicted, labels=["N", "A", "O"], average=None, zero_division=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    np.testing.assert_allclose(metrics["test"]["challenge_f1"], per_class.mean())


def test_saved_model_carries_its_recipe_and_features(run_dir):
    from ecg import KerasBaseModel

    model = KerasBaseModel({"path": str(run_dir / "model")})
    assert model.takes_features and model.config.info["task"] == "rhythm"
    steps = [next(iter(step)) for step in model.config.preprocess]
    assert steps == ["band_pass_signals", "find_r_peaks", "rr_features", "resample_signals",
                     "normalize_signals", "clip_signals", "pad_signals", "split_signals"]
    assert model.config.preprocess[5] == {"clip_signals": {"low": -8.0, "high": 8.0}}
    assert model.config.info["test"]["challenge_f1"] == json.loads(
        (run_dir / "metrics.json").read_text())["test"]["challenge_f1"]


def test_cached_signals_are_clipped(run_dir):
    """Median/IQR-normalised R peaks of real records pass 8; the cache holds them clipped at 8."""
    from ecg.io import read_npz

    peaks = np.array([np.abs(read_npz(path)["signal"]).max() for path in sorted((run_dir / "cache").glob("*.npz"))])
    assert peaks.max() <= 8.0 and (peaks == 8.0).sum() >= len(peaks) // 2


def test_predict_and_evaluate_unseen_records(run_dir, cinc_dir, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(run_dir / "model"), "--records", str(cinc_dir), "--out", str(out)]) == 0
    with open(out) as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 40
    code = main(["evaluate", "--model", str(run_dir / "model"), "--records", str(cinc_dir),
                 "--out", str(tmp_path / "eval")])
    assert code == 0
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert np.sum(report["confusion_matrix"]) == 40
    assert "Challenge F1" in capsys.readouterr().out


def test_config_errors_come_before_any_data(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'train.epoch'.*valid keys:.*epochs"):
        read_config(CONFIG, ["train.epoch=3"])
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        read_config(CONFIG, ["task=nope"])
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_sets({}, ["epochs"])
    assert main(["train", CONFIG, "--set", "window.length=-1", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_class_weights_by_hand():
    labels = np.array(["N"] * 9 + ["A"])
    weights = class_weights(labels, ["N", "A"], "sqrt")
    # sqrt(10 / 9) : sqrt(10 / 1) = 1 : 3, normalised so that the 10 records weigh 10 in all
    np.testing.assert_allclose(weights["A"] / weights["N"], 3.0)
    np.testing.assert_allclose(9 * weights["N"] + weights["A"], 10.0)
    assert class_weights(labels, ["N", "A"], "none") is None
    with pytest.raises(ConfigError, match="no training record"):
        class_weights(labels, ["N", "A", "O"], "balanced")


def test_recipe_follows_the_config():
    module, cfg = read_config(CONFIG, ["prepare.features=false", "trees=null", "prepare.fs=150",
                                       "prepare.clip=null"])
    assert module is get_task("rhythm")
    assert [next(iter(s)) for s in prepare_recipe(cfg)] == ["band_pass_signals", "resample_signals",
                                                           "normalize_signals"]
    assert prepare_recipe(cfg)[1] == {"resample_signals": {"fs": 150.0}}
    with pytest.raises(ConfigError, match="trees need the RR/HRV features"):
        read_config(CONFIG, ["prepare.features=false"])


def test_an_ensemble_of_two_seeds(tmp_path, mirror_dir):
    """train.members=2: two networks (seeds 0 and 1), each reported, saved as one averaging model."""
    from ecg import KerasBaseModel

    out = tmp_path / "ensemble"
    sets = [f"data.downloads={tmp_path / 'downloads'}", "train.members=2", "trees=null"] + SMOKE[:1] + ["train.epochs=1"] + SMOKE[2:]
    args = ["train", CONFIG, "--mirror", str(mirror_dir), "--out", str(out)]
    assert main(args + [x for s in sets for x in ("--set", s)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["members"]["seeds"] == [0, 1] and len(metrics["members"]["test"]) == 2
    assert metrics["best_epoch"].startswith("ensemble of 2 members")
    assert metrics["saved_model_max_abs_diff"] < 1e-5
    with open(out / "history.csv") as file:
        assert [(r["member"], r["epoch"]) for r in csv.DictReader(file)] == [("0", "1"), ("1", "1")]
    assert {p.name for p in (out / "plots").iterdir()} == {
        "training_curves_member_0.png", "training_curves_member_1.png", "confusion_matrix.png"}
    model = KerasBaseModel({"path": str(out / "model")})
    assert model.config.members == 2
    assert {layer.name for layer in model.model.layers} >= {"member_0", "member_1", "ensemble_mean"}


def test_boosted_trees_blended_into_the_saved_model(tmp_path, mirror_dir):
    """trees: a gradient-boosting model on the features becomes weights of the saved network."""
    from ecg import KerasBaseModel

    out = tmp_path / "trees"
    sets = [f"data.downloads={tmp_path / 'downloads'}", "trees={n_estimators: 10, weights: [0.5]}"] + SMOKE
    args = ["train", CONFIG, "--mirror", str(mirror_dir), "--out", str(out)]
    assert main(args + [x for s in sets for x in ("--set", s)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trees"]["weight"] == 0.5 and "trees_alone_test" in metrics["trees"]
    # the reported test score at the kept weight is the saved model's (blended in numpy there, in Keras here)
    np.testing.assert_allclose(metrics["trees"]["test_by_weight"]["0.5"]["challenge_f1"],
                               metrics["test"]["challenge_f1"], atol=1e-6)
    assert metrics["best_epoch"].endswith("+ boosted trees (weight 0.5)")
    assert metrics["saved_model_max_abs_diff"] < 1e-5           # ecg predict's path equals the run's
    model = KerasBaseModel({"path": str(out / "model")})
    assert model.config.trees.weight == 0.5 and model.config.trees.n_trees == 10 * 4
    assert {"network", "trees", "blend"} <= {layer.name for layer in model.model.layers}
