"""The delineation task pipeline end to end on the LUDB fixture, and its post-processing on hand-made masks."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ecg.cli import main
from ecg.errors import ConfigError
from ecg.ops.masks import annotated_span, clean_mask, keep_waves_within, mask_to_intervals, resample_mask
from ecg.tasks.base import read_config
from ecg.tasks.delineation import WAVES, prepare_recipe, scores, window_samples

CONFIG = str(Path(__file__).resolve().parents[1] / "pipelines" / "ludb_delineation.yaml")
SMOKE = ["train.epochs=1", "train.batch_size=16", "train.prefetch=0", "model.params.filters=[8,16,32,64]"]


def waves(mask):
    return {WAVES[k - 1]: runs.tolist() for k, runs in mask_to_intervals(mask, 3).items()}


# ---------------------------------------------------------------- the pipeline on 10 records
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fixture_dir):
    out = tmp_path_factory.mktemp("run") / "ludb"
    sets = [f"data.path={fixture_dir / 'ludb'}"] + SMOKE
    assert main(["train", CONFIG, "--out", str(out), "--quiet"] + [x for s in sets for x in ("--set", s)]) == 0
    return out


def test_run_directory_holds_everything(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "model", "metrics.json", "history.csv", "predictions.csv", "plots"} <= names
    assert {p.name for p in (run_dir / "plots").iterdir()} == {
        "training_curves.png", "delineation_example.png", "delineation_worst.png"}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["records"] == {"train": 8, "validation": 1, "test": 1}
    assert metrics["leads"] == {"train": 96, "validation": 12, "test": 12}
    assert not set(metrics["split"]["test"]) & set(metrics["split"]["train"] + metrics["split"]["validation"])
    test = metrics["test"]
    assert {"waves", "sample_f1", "wave_f1", "sample_f1_mean", "score", "leads", "lead_sample_f1"} <= set(test)
    for wave in WAVES:
        assert {"onset", "offset", "Se", "+P", "F1"} <= set(test["waves"][wave])
        assert {"TP", "FP", "FN", "Se", "+P", "F1", "mean_error_ms", "sd_error_ms"} <= set(test["waves"][wave]["onset"])
        assert 0 <= test["sample_f1"][wave] <= 1
    assert test["leads"] == 12
    assert metrics["saved_model_mask_mismatch"] == 0.0        # the saved model predicts raw records alike
    with open(run_dir / "history.csv") as file:
        history = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in history] == [1] and {"loss", "val_score", "val_P_F1"} <= set(history[0])


def test_predictions_file_counts_what_the_metrics_count(run_dir):
    """Scored predicted waves in predictions.csv are the detections of the onset rows (TP + FP)."""
    with open(run_dir / "predictions.csv") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["record", "lead", "wave", "onset", "offset", "scored"]
    metrics = json.loads((run_dir / "metrics.json").read_text())["test"]
    for wave in WAVES:
        scored = sum(r["wave"] == wave and r["scored"] == "True" for r in rows)
        onset = metrics["waves"][wave]["onset"]
        assert scored == onset["TP"] + onset["FP"]
    assert all(int(r["onset"]) <= int(r["offset"]) < 5000 for r in rows)


def test_saved_model_evaluates_the_raw_test_records_alike(run_dir, fixture_dir, tmp_path):
    from ecg import KerasBaseModel

    model = KerasBaseModel({"path": str(run_dir / "model")})
    assert model.config.info["task"] == "delineation" and model.config.task == "segmentation"
    assert [next(iter(step)) for step in model.config.preprocess] == [
        "select_leads", "band_pass_signals", "resample_signals", "normalize_signals"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert model.config.info["splits"] == metrics["split"]
    # ecg evaluate --dataset ludb --split test: the model's own test split, the reference from the annotation files
    assert main(["evaluate", "--model", str(run_dir / "model"), "--dataset", "ludb",
                 "--data-path", str(fixture_dir / "ludb"), "--split", "test", "--out", str(tmp_path / "eval")]) == 0
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["leads"] == 12
    assert report["wave_f1"] == pytest.approx(metrics["test"]["wave_f1"])
    assert report["sample_f1_mean"] == pytest.approx(metrics["test"]["sample_f1_mean"])
    assert (tmp_path / "eval" / "predictions.csv").is_file()


def test_config_errors_come_before_any_data(tmp_path):
    with pytest.raises(ConfigError, match="only 'ludb'"):
        read_config(CONFIG, ["data.dataset=mitdb"])
    with pytest.raises(ConfigError, match="must leave training records"):
        read_config(CONFIG, ["split.test=0.5", "split.validation=0.5"])
    _, cfg = read_config(CONFIG, ["window.length=4.01"])
    with pytest.raises(ConfigError, match="1002 samples at 250 Hz, not a multiple of the network's down-sampling 16: "
                                          "use 3.968 s"):
        window_samples(cfg)
    assert main(["train", CONFIG, "--set", "post.max_gap=-1", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_recipe_follows_the_config():
    _, cfg = read_config(CONFIG, ["prepare.fs=200", "leads=[ii, v1]"])
    assert prepare_recipe(cfg) == [{"select_leads": {"names": ["ii", "v1"]}},
                                   {"band_pass_signals": {"low": 0.5, "high": 40.0}},
                                   {"resample_signals": {"fs": 200.0}}, {"normalize_signals": {"method": "zscore"}}]


# ---------------------------------------------------------------- post-processing, by hand
def test_clean_mask_merges_a_split_wave():
    mask = np.array([0] * 10 + [1] * 20 + [0] * 4 + [1] * 20 + [0] * 10, dtype=np.int8)   # 100 Hz: 40 ms gap
    assert waves(clean_mask(mask, fs=100, min_duration=(0.05, 0.05, 0.05), max_gap=0.05)) == {
        "P": [[10, 53]], "QRS": [], "T": []}
    assert waves(clean_mask(mask, fs=100, min_duration=(0.05, 0.05, 0.05), max_gap=0.03))["P"] == [[10, 29], [34, 53]]
    assert clean_mask(mask, fs=100).dtype == np.int8


def test_clean_mask_drops_fragments_and_absorbs_flickers():
    # 1 kHz: a 10 ms P fragment alone, a T wave with a 3 ms QRS flicker inside, a QRS next to the T
    mask = np.array([0] * 50 + [1] * 10 + [0] * 50 + [2] * 80 + [3] * 100 + [2] * 3 + [3] * 100 + [0] * 50)
    cleaned = clean_mask(mask, fs=1000, min_duration=(0.03, 0.04, 0.06), max_gap=0.02)
    assert waves(cleaned) == {"P": [], "QRS": [[110, 189]], "T": [[190, 392]]}
    # a short run between two different classes becomes background
    mask = np.array([2] * 50 + [1] * 5 + [3] * 100)
    assert waves(clean_mask(mask, fs=1000, max_gap=0.0))["P"] == []
    assert clean_mask(mask, fs=1000, max_gap=0.0)[50:55].tolist() == [0] * 5


def test_clean_mask_removes_short_waves_at_the_ends_and_leaves_good_masks_alone():
    mask = np.array([3] * 10 + [0] * 100 + [1] * 50 + [0] * 100 + [2] * 10)
    assert waves(clean_mask(mask, fs=1000)) == {"P": [[110, 159]], "QRS": [], "T": []}
    good = np.array([0] * 20 + [1] * 40 + [0] * 60 + [2] * 50 + [0] * 40 + [3] * 120 + [0] * 30)
    np.testing.assert_array_equal(clean_mask(good, fs=1000), good)
    np.testing.assert_array_equal(clean_mask(np.zeros(7, int), fs=1000), np.zeros(7, int))
    assert clean_mask(np.array([], dtype=int), fs=1000).size == 0


def test_clean_mask_checks_its_arguments():
    with pytest.raises(ValueError, match="fs=0"):
        clean_mask([0, 1], fs=0)
    with pytest.raises(ValueError, match="values from 0 to 3"):
        clean_mask([0, 4], fs=100)
    with pytest.raises(ValueError, match="1-D mask"):
        clean_mask(np.zeros((2, 3), int), fs=100)
    with pytest.raises(ValueError, match=">= 0 s"):
        clean_mask([0, 1], fs=100, max_gap=-1)


def test_annotated_span_and_waves_within():
    mask = np.array([0, 0, 1, 1, 0, 2, 2, 0, 3, 0])
    assert annotated_span(mask) == (2, 8)
    assert annotated_span(np.stack([mask, np.roll(mask, -2)])) == (0, 8)
    pred = np.array([1, 1, 0, 0, 2, 2, 2, 0, 3, 3])
    # centres 0.5 and 8.5 lie outside [1, 8]; 5 inside
    assert keep_waves_within(pred, 1, 8).tolist() == [0, 0, 0, 0, 2, 2, 2, 0, 0, 0]


def test_resample_mask_keeps_the_waves_in_seconds():
    mask = np.zeros(2500, dtype=np.int8)
    mask[250:300] = 2                                    # 1.0-1.2 s at 250 Hz
    up = resample_mask(mask, fs=250, new_fs=500)
    assert up.shape == (5000,) and up.dtype == np.int8
    (onset, offset), = mask_to_intervals(up, 3)[2].tolist()
    assert abs(onset - 500) <= 1 and abs(offset - 599) <= 1


def test_scores_of_hand_made_masks():
    reference = np.zeros(1000, dtype=np.int8)
    reference[100:150], reference[200:250], reference[300:400] = 1, 2, 3
    reference[600:650], reference[700:750], reference[800:900] = 1, 2, 3
    perfect = scores({"r_ii": reference}, {"r_ii": reference[::2]}, fs=250, ref_fs=500, tolerance=0.15)
    assert perfect["wave_f1"] == 1.0 and perfect["sample_f1_mean"] > 0.97
    assert perfect["waves"]["QRS"]["onset"]["TP"] == 2 and perfect["leads"] == 1
    # a wave outside the annotated stretch [100, 899] is not scored; a missed T costs one onset and one offset
    pred = reference.copy()
    pred[10:40] = 1
    pred[800:900] = 0
    report = scores({"r_ii": reference}, {"r_ii": pred[::2]}, fs=250, ref_fs=500, tolerance=0.15)
    assert report["waves"]["P"]["F1"] == 1.0
    assert report["waves"]["T"]["onset"]["FN"] == 1 and report["waves"]["T"]["F1"] == pytest.approx(2 / 3)
    assert report["sample_f1"]["T"] == pytest.approx(2 * 100 / (2 * 100 + 100), abs=0.01)


def test_predict_writes_the_waves_of_raw_records(run_dir, fixture_dir, tmp_path):
    """ecg predict on a delineation model: the waves of predictions.csv, from raw records."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    record, = metrics["split"]["test"]
    folder = tmp_path / "records"
    folder.mkdir()
    for file in (fixture_dir / "ludb").glob(f"{record}.*"):
        (folder / file.name).symlink_to(file)
    out = tmp_path / "waves.csv"
    assert main(["predict", "--model", str(run_dir / "model"), "--records", str(folder), "--out", str(out)]) == 0
    with open(out) as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["record", "lead", "wave", "onset", "offset"]
    with open(run_dir / "predictions.csv") as file:
        expected = {(r["record"], r["lead"], r["wave"], r["onset"], r["offset"]) for r in csv.DictReader(file)}
    assert {(r["record"], r["lead"], r["wave"], r["onset"], r["offset"]) for r in rows} == expected
