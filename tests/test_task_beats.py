"""The beat task on the MIT-BIH fixture records: RR features, R-peak timing, ecg train end to end."""
import csv
import doctest
import json
from pathlib import Path

import numpy as np
import pytest
import wfdb
from batchflow import DatasetIndex

import ecg.tasks.beats as task
from ecg.batch import EcgBatch
from ecg.cli import main
from ecg.errors import ConfigError, RecordError
from ecg.ops.beats import BEAT_RR_FEATURES, aami_classes, beat_rr_features
from ecg.ops.rpeaks import PanTompkinsConf, r_peaks, refine_r_peaks
from ecg.tasks.base import read_config

CONFIG = str(Path(__file__).resolve().parents[1] / "pipelines" / "mitdb_beats.yaml")
# a tiny DS1/DS2 from the fixture: DS1 = 201, 208 (208 trains, 201 validates), DS2 = 100
SMOKE = ["split.validation=['201']", "train.epochs=2", "train.batch_size=256", "train.prefetch=0",
         "model.params.filters=[8, 8]"]


def column(name):
    return BEAT_RR_FEATURES.index(name)


# --- the RR features of ecg.ops.beats -----------------------------------------------------
def test_rr_features_by_hand():
    # beats at 0, 1, 2, 2.5, 4, 5 s (fs 100): RR 1, 1, 0.5, 1.5, 1 s, mean 1 s
    f = beat_rr_features([0, 100, 200, 250, 400, 500], fs=100, n_local=4)
    assert f.shape == (6, len(BEAT_RR_FEATURES))
    np.testing.assert_allclose(f[:, column("pre_rr")], [1, 1, 1, 0.5, 1.5, 1])     # first: the mean RR
    np.testing.assert_allclose(f[:, column("post_rr")], [1, 1, 0.5, 1.5, 1, 1])    # last: the mean RR
    # 4 intervals centred on each beat: beat 3 (the premature one) averages RR 1, 0.5 | 1.5, 1
    np.testing.assert_allclose(f[:, column("local_rr")], [(1 + 1) / 2, (1 + 1 + 0.5) / 3, (1 + 1 + 0.5 + 1.5) / 4,
                                                          (1 + 0.5 + 1.5 + 1) / 4, (0.5 + 1.5 + 1) / 3,
                                                          (1.5 + 1) / 2])
    np.testing.assert_allclose(f[3, column("pre_local")], 0.5 / 1.0)
    np.testing.assert_allclose(f[3, column("post_pre")], 1.5 / 0.5)
    np.testing.assert_allclose(f[3, column("local_cv")], np.std([1, 0.5, 1.5, 1]) / 1.0)
    np.testing.assert_allclose(f[:, column("local_cv")][[0, 5]], [0, np.std([1.5, 1]) / 1.25])


def test_rr_features_are_normalised_by_the_record():
    """A slower heart with the same rhythm gives the same normalised features."""
    samples = np.cumsum([0, 300, 310, 200, 420, 300, 305, 298])
    fast, slow = beat_rr_features(samples, 360), beat_rr_features(2 * samples, 360)
    mean_rr = np.diff(samples).mean() / 360
    np.testing.assert_allclose(fast[:, column("pre_rr_norm")], fast[:, column("pre_rr")] / mean_rr)
    normalised = [column(c) for c in BEAT_RR_FEATURES if c not in ("pre_rr", "post_rr", "local_rr")]
    np.testing.assert_allclose(fast[:, normalised], slow[:, normalised])
    np.testing.assert_allclose(slow[:, column("pre_rr")], 2 * fast[:, column("pre_rr")])


def test_rr_features_edge_cases():
    assert np.isnan(beat_rr_features([100], 360)).all()
    assert beat_rr_features([], 360).shape == (0, len(BEAT_RR_FEATURES))
    with pytest.raises(ValueError, match="increasing beat samples"):
        beat_rr_features([0, 300, 300], 360)
    with pytest.raises(ValueError, match="fs > 0"):
        beat_rr_features([0, 300], 0)


# --- R-peak timing against .atr -----------------------------------------------------------
def timing_errors(fixture_dir, name, conf):
    """Signed errors (ms) of the detections matched to .atr beats, and the AAMI class of each."""
    from ecg.metrics import match_positions

    path = str(fixture_dir / "mitdb" / name)
    record, ann = wfdb.rdrecord(path, channels=[0]), wfdb.rdann(path, "atr")
    labels = aami_classes(ann.symbol)
    reference, labels = ann.sample[labels != ""], labels[labels != ""]
    peaks = r_peaks(record.p_signal[:, 0], record.fs, conf)
    ref, det = match_positions(reference, peaks, 0.15 * record.fs)
    return (peaks[det] - reference[ref]) / record.fs * 1000, labels[ref], len(reference), len(peaks)


def test_refinement_puts_ventricular_beats_of_208_on_their_r_wave(fixture_dir):
    before, labels, _, _ = timing_errors(fixture_dir, "208", None)
    after, labels_after, n_ref, n_peaks = timing_errors(fixture_dir, "208", PanTompkinsConf(refine_window=0.1))
    assert np.median(before[labels == "V"]) > 80            # the published detector: on the S wave
    assert np.median(np.abs(after[labels_after == "V"])) <= 25
    assert np.mean(np.abs(after[labels_after == "V"]) <= 25) > 0.8
    assert np.median(np.abs(after[labels_after == "N"])) <= 5
    assert len(after) >= len(before) and n_peaks <= 1.01 * n_ref     # no beat lost, no new false one


def test_refinement_keeps_normal_beats_of_100_in_place(fixture_dir):
    before, _, _, _ = timing_errors(fixture_dir, "100", None)
    after, labels, n_ref, _ = timing_errors(fixture_dir, "100", PanTompkinsConf(refine_window=0.1))
    assert len(after) == len(before) >= 0.999 * n_ref
    assert np.median(np.abs(after)) <= 3 and np.mean(np.abs(after) > 25) < 0.001
    assert np.median(np.abs(after[labels == "S"])) <= 5


def test_refine_r_peaks_keeps_either_polarity():
    t = np.arange(3600) / 360
    qs = -np.exp(-((t % 1.0) - 0.5) ** 2 / 0.00005)          # negative complexes at 0.5 s
    np.testing.assert_array_equal(refine_r_peaks(qs, np.arange(10) * 360 + 200, 360), np.arange(10) * 360 + 180)
    assert refine_r_peaks(qs, [], 360).size == 0
    with pytest.raises(ValueError, match="one lead"):
        refine_r_peaks(np.zeros((2, 100)), [10], 360)


# --- the batch actions ---------------------------------------------------------------------
def test_keep_beats_and_beat_rr_features(fixture_dir):
    batch = EcgBatch(DatasetIndex(["208"])).load(src=str(fixture_dir / "mitdb"), fmt="wfdb",
                                                 components=["signal", "meta", "annotation"], ann_ext="atr")
    symbols = batch.annotation[0]["atr"]["symbol"]
    assert (aami_classes(symbols) == "").any()                # 208 has rhythm and noise labels
    batch.keep_beats("atr")
    kept = batch.annotation[0]["atr"]
    assert (aami_classes(kept["symbol"]) != "").all() and len(kept["sample"]) == len(kept["aux_note"])
    assert len(kept["sample"]) == (aami_classes(symbols) != "").sum()
    batch.beat_signals(0.25, 0.45, ext="atr").beat_rr_features(n_local=10)
    meta = batch.meta[0]
    assert batch.features[0].shape == (len(batch.signal[0]), len(BEAT_RR_FEATURES))
    np.testing.assert_allclose(batch.features[0], beat_rr_features(meta["beat_samples"], 360.0), rtol=1e-6)
    assert meta["feature_names"] == list(BEAT_RR_FEATURES)
    with pytest.raises(RecordError, match="call beat_signals first"):
        EcgBatch(DatasetIndex(["208"])).load(src=str(fixture_dir / "mitdb"), fmt="wfdb").beat_rr_features()


def test_match_detections_counts_false_and_missed_beats():
    true, predicted, ref, det = task.match_detections([100, 400, 700, 1000], ["N", "V", "S", "N"],
                                                      [95, 420, 560, 1003], ["N", "V", "N", "S"], tolerance=54)
    assert true.tolist() == ["N", "V", "N", "-", "S"] and predicted.tolist() == ["N", "V", "S", "N", "-"]
    assert ref.tolist() == [0, 1, 3] and det.tolist() == [0, 1, 3]
    cfg = read_config(CONFIG)[1]
    table = task.scores(cfg, true, predicted)["table"]
    # S: its one beat missed (FN), one N detection called S (FP); N: the false detection is an FP
    assert (table["S"]["TP"], table["S"]["FN"], table["S"]["FP"]) == (0, 1, 1)
    assert (table["N"]["TP"], table["N"]["FN"], table["N"]["FP"]) == (1, 1, 1)


def test_docstring_examples():
    assert doctest.testmod(task, optionflags=doctest.ELLIPSIS).failed == 0


# --- ecg train end to end on the fixture ---------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fixture_dir):
    out = tmp_path_factory.mktemp("run") / "beats"
    sets = [f"data.path={fixture_dir / 'mitdb'}"] + SMOKE
    assert main(["train", CONFIG, "--out", str(out)] + [x for s in sets for x in ("--set", s)]) == 0
    return out


def test_run_directory_holds_everything(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "model", "metrics.json", "history.csv", "predictions.csv", "plots"} <= names
    assert {p.name for p in (run_dir / "plots").iterdir()} == {
        "training_curves.png", "confusion_matrix_reference.png", "confusion_matrix_detected.png"}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["records"] == {"train": ["208"], "validation": ["201"], "test": ["100"]}
    reference, detected = metrics["test"]["reference"], metrics["test"]["detected"]
    assert set(reference["table"]) == {"N", "S", "V", "F", "Q"} and reference["scored"] == ["N", "S", "V"]
    assert np.sum(reference["confusion_matrix"]) == reference["n_beats"] == 2271   # 100's beats, less the ends
    truth = {c: detected["table"][c]["TP"] + detected["table"][c]["FN"] for c in ("N", "S", "V")}
    assert truth == {"N": 2239, "S": 33, "V": 1}               # every reference beat of 100, found or missed
    assert metrics["test"]["rpeak_timing_ms"]["N"]["median_abs"] <= 3
    assert metrics["saved_model_max_abs_diff"] < 1e-5
    with open(run_dir / "history.csv") as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == [1, 2]


def test_metrics_match_the_predictions_file(run_dir, fixture_dir):
    """The headline numbers, recomputed from predictions.csv with scikit-learn."""
    from sklearn.metrics import f1_score

    with open(run_dir / "predictions.csv") as file:
        rows = list(csv.DictReader(file))
    metrics = json.loads((run_dir / "metrics.json").read_text())["test"]
    for beats in ("reference", "detected"):
        part = [r for r in rows if r["beats"] == beats]
        per_class = f1_score([r["true"] for r in part], [r["predicted"] for r in part], labels=["N", "S", "V"],
                             average=None, zero_division=0)
        np.testing.assert_allclose(per_class.mean(), metrics[beats]["macro_f1"])
    reference = [r for r in rows if r["beats"] == "reference"]
    ann = wfdb.rdann(str(fixture_dir / "mitdb" / "100"), "atr")
    labels = dict(zip(ann.sample.tolist(), aami_classes(ann.symbol)))
    assert all(labels[int(r["sample"])] == r["true"] for r in reference)     # on the .atr marks, with their class


def test_saved_model_detects_and_classifies_raw_records(run_dir, fixture_dir, tmp_path):
    from ecg import KerasBaseModel
    from ecg.data.dataset import EcgDataset

    model = KerasBaseModel({"path": str(run_dir / "model")})
    steps = [next(iter(step)) for step in model.config.preprocess]
    assert steps == ["resample_signals", "band_pass_signals", "find_r_peaks", "normalize_signals",
                     "beat_signals", "beat_rr_features", "beat_templates"]
    assert model.config.preprocess[2]["find_r_peaks"]["conf"] == {"refine_window": 0.1}
    report = task.evaluate(run_dir / "model", EcgDataset(path=str(fixture_dir / "mitdb" / "100.hea")),
                           out=tmp_path / "eval", log=lambda *a: None)
    metrics = json.loads((run_dir / "metrics.json").read_text())["test"]["detected"]
    assert report["macro_f1"] == pytest.approx(metrics["macro_f1"])
    assert (tmp_path / "eval" / "metrics.json").is_file()
    # through the command line: a folder with no REFERENCE.csv (the reference is each .atr), and the model's split
    folder = tmp_path / "records"
    folder.mkdir()
    for file in (fixture_dir / "mitdb").glob("100.*"):
        (folder / file.name).symlink_to(file)
    assert main(["evaluate", "--model", str(run_dir / "model"), "--records", str(folder), "--out", str(tmp_path / "a")]) == 0
    assert main(["evaluate", "--model", str(run_dir / "model"), "--dataset", "mitdb", "--data-path",
                 str(fixture_dir / "mitdb"), "--split", "test", "--out", str(tmp_path / "b")]) == 0
    for out in ("a", "b"):
        assert json.loads((tmp_path / out / "metrics.json").read_text())["macro_f1"] == pytest.approx(metrics["macro_f1"])
    assert model.config.info["splits"]["test"] == ["100"]


def test_config_errors_come_before_any_data(tmp_path):
    _, cfg = read_config(CONFIG, ["split.validation=['100']"])
    spec = type("Spec", (), {"name": "mitdb", "splits": {"DS1": ["201", "208"], "DS2": ["100"]}})()
    with pytest.raises(ConfigError, match="validation records must come from the training split"):
        task.split_records(cfg, spec)
    with pytest.raises(ConfigError, match=r"unknown key 'prepare.befor'"):
        read_config(CONFIG, ["prepare.befor=0.2"])
    assert main(["train", CONFIG, "--set", "prepare.after=0", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_recipe_follows_the_config():
    _, cfg = read_config(CONFIG, ["prepare.refine_window=0", "prepare.before=0.3"])
    recipe = task.prepare_recipe(cfg, "atr")
    assert recipe[2] == {"find_r_peaks": {"lead": "MLII"}}
    assert [next(iter(s)) for s in recipe][3] == "keep_beats"
    assert recipe[5] == {"beat_signals": {"before": 0.3, "after": 0.45, "ext": "atr"}}


def test_beat_templates_put_the_record_median_beside_each_beat(fixture_dir):
    batch = EcgBatch(DatasetIndex(["208"])).load(src=str(fixture_dir / "mitdb"), fmt="wfdb",
                                                 components=["signal", "meta", "annotation"], ann_ext="atr")
    batch.keep_beats("atr").beat_signals(0.25, 0.45, ext="atr")
    windows = batch.signal[0].copy()
    batch.beat_templates()
    out = batch.signal[0]
    assert out.shape == (len(windows), 2 * windows.shape[1], windows.shape[2])
    np.testing.assert_array_equal(out[:, :2], windows)
    # the template is the per-sample median over the record's beats, the same for every beat
    np.testing.assert_allclose(out[7, 2:], np.percentile(windows, 50, axis=0), rtol=1e-6)
    np.testing.assert_array_equal(out[0, 2:], out[-1, 2:])
    assert batch.meta[0]["sig_name"] == ["MLII", "V1", "median MLII", "median V1"]
    with pytest.raises(RecordError, match="call beat_signals first"):
        EcgBatch(DatasetIndex(["208"])).load(src=str(fixture_dir / "mitdb"), fmt="wfdb").beat_templates()


def test_recipe_with_leads_and_templates():
    _, cfg = read_config(CONFIG, ["prepare.leads=['MLII']", "prepare.templates=true"])
    recipe = task.prepare_recipe(cfg, "atr")
    assert recipe[1] == {"select_leads": {"names": ["MLII"]}}
    assert recipe[-1] == {"beat_templates": {}}


def test_predict_labels_the_beats_of_raw_records(run_dir, fixture_dir, tmp_path):
    """ecg predict on a beat model: one row per detected beat, on the .atr beats."""
    folder = tmp_path / "records"
    folder.mkdir()
    for file in (fixture_dir / "mitdb").glob("100.*"):
        (folder / file.name).symlink_to(file)
    out = tmp_path / "beats.csv"
    assert main(["predict", "--model", str(run_dir / "model"), "--records", str(folder), "--out", str(out)]) == 0
    with open(out) as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["record", "sample", "label", "p_N", "p_S", "p_V", "p_F"]
    assert {r["label"] for r in rows} <= {"N", "S", "V", "F"}
    ann = wfdb.rdann(str(fixture_dir / "mitdb" / "100"), "atr")
    beats = ann.sample[aami_classes(ann.symbol) != ""]
    samples = np.array([int(r["sample"]) for r in rows])
    assert abs(len(samples) - len(beats)) <= 5
    assert np.mean(np.abs(samples[:, None] - beats[None]).min(axis=1) <= 0.025 * 360) > 0.99
