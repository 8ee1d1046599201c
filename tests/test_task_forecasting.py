"""The forecasting task on the MIT-BIH fixture records: the baselines, ecg train/evaluate/predict."""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy import signal as sps

from ecg.cli import main
from ecg.tasks import forecasting as task

CONFIG = str(Path(__file__).resolve().parents[1] / "pipelines" / "mitdb_forecasting.yaml")
# the fixture's DS1 = 201, 208 (208 trains, 201 validates), DS2 = 100
SMOKE = ["split.validation=['201']", "train.epochs=2", "train.prefetch=0", "window.per_record=100",
         "window.evaluate_per_record=20", "model.params.filters=[8, 8, 8, 8]"]


def clean_lead(path, lead=0):
    """A lead at 125 Hz band-passed 0.5-40 Hz, with scipy alone."""
    record = wfdb.rdrecord(str(path))
    x = sps.resample_poly(record.p_signal[:, lead], 25, 72)
    return sps.sosfiltfilt(sps.butter(4, [0.5, 40], btype="bandpass", fs=125, output="sos"), x)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fixture_dir):
    out = tmp_path_factory.mktemp("run") / "forecasting"
    sets = [f"data.path={fixture_dir / 'mitdb'}"] + SMOKE
    assert main(["train", CONFIG, "--out", str(out), "--quiet"] + [x for s in sets for x in ("--set", s)]) == 0
    return out


def test_last_cycle_is_the_last_rr_interval_of_the_annotations(fixture_dir):
    x = clean_lead(fixture_dir / "mitdb" / "100")
    beats = wfdb.rdann(str(fixture_dir / "mitdb" / "100"), "atr").sample / 360 * 125
    starts = np.arange(0, len(x) - 600, 2000)
    periods = task.cycle_periods(np.stack([x[s:s + 512] for s in starts]), 125)
    last_rr = np.array([np.diff(beats[beats < s + 512])[-1] for s in starts])
    last_two = np.array([np.diff(beats[beats < s + 512])[-2:].sum() for s in starts])
    one = np.abs(periods - last_rr) <= 4                        # within 32 ms
    assert one.mean() > 0.85
    # the others repeat the last two cycles, also a last-cycle repeat of the rhythm
    assert (one | (np.abs(periods - last_two) <= 4)).mean() > 0.97


def test_baselines_by_hand():
    context = np.array([[0.0, 1, 2, 3, 4, 5, 6]])
    np.testing.assert_array_equal(task.last_cycle_repeat(context, 4, np.array([2])), [[5, 6, 5, 6]])
    np.testing.assert_array_equal(task.persistence(context, 3), [[6, 6, 6]])
    t = np.arange(600) / 100
    beat = np.exp(-0.5 * ((t % 0.75) - 0.3) ** 2 / 0.01 ** 2)          # one spike every 0.75 s
    assert task.cycle_periods(beat[None], 100)[0] == 75


def test_metrics_match_the_predictions_file(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())["test"]
    rows = list(csv.DictReader((run_dir / "predictions.csv").open()))
    weights = np.array([int(r["windows"]) for r in rows])
    assert weights.sum() == metrics["windows"] == 2 * 20
    for key, column in (("mae", "mae_model"), ("mae_last_cycle", "mae_last_cycle"),
                        ("mae_persistence", "mae_persistence")):
        assert metrics[key] == pytest.approx(np.average([float(r[column]) for r in rows], weights=weights))
    assert metrics["mae_ratio_to_last_cycle"] == pytest.approx(metrics["mae"] / metrics["mae_last_cycle"])
    assert len(metrics["mae_by_step"]) == 64 and np.mean(metrics["mae_by_step"]) == pytest.approx(metrics["mae"])
    assert json.loads((run_dir / "metrics.json").read_text())["saved_model_max_abs_diff"] < 1e-5
    assert (run_dir / "plots" / "forecast_example.png").is_file()


def test_evaluate_and_predict_on_records(run_dir, fixture_dir, tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for file in (fixture_dir / "mitdb").glob("100.*"):
        shutil.copy(file, folder)
    assert main(["evaluate", "--model", str(run_dir / "model"), "--records", str(folder), "--out",
                 str(tmp_path / "eval"), "--quiet"]) == 0
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    trained = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert report["mae"] == pytest.approx(trained["mae"], rel=1e-5)        # the same windows of the same record
    out = tmp_path / "forecast.csv"
    assert main(["predict", "--model", str(run_dir / "model"), "--records", str(folder), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 * 64 and [r["lead"] for r in rows[::64]] == ["MLII", "V5"]
    lead = clean_lead(folder / "100")
    assert [int(r["sample"]) for r in rows[:64]] == list(range(len(lead), len(lead) + 64))
    # the forecast of the record's last 4.096 s, prepared with scipy
    from ecg.models.keras_model import KerasBaseModel

    model = KerasBaseModel({"path": str(run_dir / "model")})
    context = lead[-512:].astype(np.float32)
    expected = model.predict_on_batch(context[None, :, None])[0]
    np.testing.assert_allclose([float(r["value"]) for r in rows[:64]], expected, atol=0.05)


def test_config_errors_come_before_any_data(tmp_path):
    assert main(["train", CONFIG, "--set", "window.context=3", "--out", str(tmp_path / "x")]) == 2
    assert main(["train", CONFIG, "--set", "baseline.min_period=3", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
