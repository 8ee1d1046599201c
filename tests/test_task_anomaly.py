"""The beat anomaly task on the MIT-BIH fixture records: one-class scores, ecg train/evaluate/predict."""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy.spatial.distance import mahalanobis
from sklearn.metrics import roc_auc_score

from ecg.cli import main
from ecg.ops.beats import BEAT_RR_FEATURES, beat_rr_features
from ecg.tasks import anomaly as task

CONFIG = str(Path(__file__).resolve().parents[1] / "pipelines" / "mitdb_anomaly.yaml")
# the fixture's DS1 = 201, 208 (208 trains, 201 validates), DS2 = 100
SMOKE = ["split.validation=['201']", "train.epochs=2", "train.prefetch=0", "model.params.filters=[8, 8]"]
AAMI_N = {"N", "L", "R", "e", "j"}     # AAMI EC57's normal class


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fixture_dir):
    out = tmp_path_factory.mktemp("run") / "anomaly"
    sets = [f"data.path={fixture_dir / 'mitdb'}"] + SMOKE
    assert main(["train", CONFIG, "--out", str(out), "--quiet"] + [x for s in sets for x in ("--set", s)]) == 0
    return out


def test_rr_distance_is_the_mahalanobis_distance(fixture_dir):
    ann = wfdb.rdann(str(fixture_dir / "mitdb" / "208"), "atr")
    beats = ann.sample[np.isin(ann.symbol, sorted(AAMI_N | {"V", "A", "F"}))]
    features = beat_rr_features(beats, 360)[:, [BEAT_RR_FEATURES.index(n) for n in ("pre_rr_norm", "post_pre")]]
    gaussian = task.fit_gaussian(features[:800])
    finite = features[np.isfinite(features).all(axis=1)][:800]
    vi = np.linalg.inv(np.cov(finite, rowvar=False) + 1e-6 * np.eye(2))
    expected = [np.log1p(mahalanobis(row, finite.mean(axis=0), vi) ** 2) for row in features[5:50]]
    np.testing.assert_allclose(task.rr_distance(features[5:50], gaussian), expected, rtol=1e-9)
    # a missing feature counts as the mean: the distance of the others alone
    row = features[10].copy()
    row[1] = np.nan
    d = row[0] - finite.mean(axis=0)[0]
    assert task.rr_distance(row[None], gaussian)[0] == pytest.approx(np.log1p(d * vi[0, 0] * d))


def test_trained_on_normal_beats_only(run_dir, fixture_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    symbols = np.array(wfdb.rdann(str(fixture_dir / "mitdb" / "208"), "atr").symbol)
    n_normal = int(np.isin(symbols, sorted(AAMI_N)).sum())
    # the beat windows near the record's ends may not fit: at most a beat or two fewer
    assert n_normal - 2 <= metrics["normal_training_beats"] <= n_normal
    assert metrics["normal_training_beats"] < metrics["beats"]["train"]          # 208's V and F beats are left out
    config = json.loads((run_dir / "model" / "ecg_model.json").read_text())["config"]
    assert config["model"]["name"] == "autoencoder" and config["info"]["normal"] == ["N"]


def test_metrics_match_the_predictions_file(run_dir, fixture_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = list(csv.DictReader((run_dir / "predictions.csv").open()))
    labels = np.array([r["true"] for r in rows])
    score = np.array([float(r["score"]) for r in rows])
    keep = labels != ""
    abnormal = labels[keep] != "N"
    assert metrics["test"]["auroc"] == pytest.approx(roc_auc_score(abnormal, score[keep]))
    # sensitivity at 95 % specificity, by brute force over the thresholds
    negatives, positives = np.sort(score[keep][~abnormal]), score[keep][abnormal]
    best = max(np.mean(positives >= t) for t in np.unique(score[keep]) if np.mean(negatives < t) >= 0.95)
    assert metrics["test"]["sensitivity_at_95_specificity"] == pytest.approx(best)
    # the file's beats are 100's .atr beats, at its own rate (to the 250 Hz grid: within 1.44 samples)
    ann = wfdb.rdann(str(fixture_dir / "mitdb" / "100"), "atr")
    samples = np.array([int(r["sample"]) for r in rows])
    assert np.abs(samples[:, None] - ann.sample[None]).min(axis=1).max() <= 2
    threshold = metrics["test"]["report"]["flag"]["threshold"]
    assert all(int(r["anomalous"]) == (float(r["score"]) >= threshold) for r in rows)


def test_predict_scores_detected_beats(run_dir, fixture_dir, tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for file in (fixture_dir / "mitdb").glob("100.*"):
        shutil.copy(file, folder)
    out = tmp_path / "scores.csv"
    assert main(["predict", "--model", str(run_dir / "model"), "--records", str(folder), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["record", "sample", "score", "anomalous", "reconstruction", "rr"]
    ann = wfdb.rdann(str(folder / "100"), "atr")
    n_beats = int(np.isin(ann.symbol, sorted(AAMI_N | {"A", "V"})).sum())
    assert abs(len(rows) - n_beats) <= 0.01 * n_beats          # the detector finds 100's beats
    assert main(["evaluate", "--model", str(run_dir / "model"), "--records", str(folder), "--out",
                 str(tmp_path / "eval"), "--quiet"]) == 0
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    trained = json.loads((run_dir / "metrics.json").read_text())["test"]["report"]
    # detected beats, not the reference positions: close to the run's own test, not equal
    assert report["score"]["auroc"] == pytest.approx(trained["score"]["auroc"], abs=0.05)
    assert report["n_beats"]["abnormal"] == trained["n_beats"]["abnormal"]


def test_config_errors_come_before_any_data(tmp_path):
    assert main(["train", CONFIG, "--set", "score.rr_features=[pre_rr_nrom]", "--out", str(tmp_path / "x")]) == 2
    assert main(["train", CONFIG, "--set", "score.parts=[]", "--out", str(tmp_path / "x")]) == 2
    assert main(["train", CONFIG, "--set", "model.params.latent=0", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
