"""The denoising task on the MIT-BIH fixture records: ecg train, evaluate and predict end to end."""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy import signal as sps

from ecg.cli import main
from ecg.tasks import denoising as task

CONFIG = str(Path(__file__).resolve().parents[1] / "pipelines" / "mitdb_denoising.yaml")
# the fixture's DS1 = 201, 208 (208 trains, 201 validates), DS2 = 100
SMOKE = ["split.validation=['201']", "train.epochs=1", "train.prefetch=0", "window.per_record=16",
         "window.evaluate_per_record=3", "model.params.filters=[4, 8]", "test.snr_db=[-6, 12]"]


def sets(fixture_dir, extra=()):
    return [x for s in [f"data.path={fixture_dir / 'mitdb'}", *SMOKE, *extra] for x in ("--set", s)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fixture_dir):
    out = tmp_path_factory.mktemp("run") / "denoising"
    assert main(["train", CONFIG, "--out", str(out), "--quiet"] + sets(fixture_dir)) == 0
    return out


def test_run_directory_and_test_table(run_dir):
    for name in ("config.yaml", "metrics.json", "history.csv", "predictions.csv", "model/ecg_model.json",
                 "plots/training_curves.png"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    table = metrics["test"]["table"]
    # the mixture then each of the 4 kinds alone, at the 2 test SNRs
    assert [(r["noise"], r["snr_db"]) for r in table][:2] == [("bw+ma+em+pl", -6), ("bw+ma+em+pl", 12)]
    assert len(table) == 2 + 4 * 2
    for row in table:
        assert row["input_snr_db"] == pytest.approx(row["snr_db"], abs=0.2)   # the noise is scaled to it
        assert row["snr_improvement_db"] == pytest.approx(row["output_snr_db"] - row["input_snr_db"])
    assert metrics["test"]["output_snr_db_at_-6"] == table[0]["output_snr_db"]
    assert metrics["saved_model_max_abs_diff"] < 1e-5
    assert metrics["windows"]["test"] == 2 * 3                      # record 100: 2 leads x 3 windows
    assert metrics["records"] == {"train": ["208"], "validation": ["201"], "test": ["100"]}


def test_predictions_file_averages_to_the_table(run_dir):
    rows = list(csv.DictReader((run_dir / "predictions.csv").open()))
    table = json.loads((run_dir / "metrics.json").read_text())["test"]["table"]
    assert {r["record"] for r in rows} == {"100"} and {r["lead"] for r in rows} == {"0", "1"}
    for row in table:
        mine = [r for r in rows if r["noise"] == row["noise"] and float(r["snr_db"]) == row["snr_db"]]
        weights = np.array([int(r["windows"]) for r in mine])
        mean = np.average([float(r["output_snr_db"]) for r in mine], weights=weights)
        assert mean == pytest.approx(row["output_snr_db"])


def test_evaluate_on_records(run_dir, fixture_dir, tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for file in (fixture_dir / "mitdb").glob("100.*"):
        shutil.copy(file, folder)
    assert main(["evaluate", "--model", str(run_dir / "model"), "--records", str(folder), "--out",
                 str(tmp_path / "eval"), "--quiet"]) == 0
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    trained = json.loads((run_dir / "metrics.json").read_text())["test"]["table"]
    # the same record, the same seeds: the same numbers as the run's own test
    for mine, theirs in zip(report["table"], trained):
        assert mine["output_snr_db"] == pytest.approx(theirs["output_snr_db"], abs=1e-3)


def test_predict_writes_denoised_wfdb_records(run_dir, fixture_dir, tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    for file in (fixture_dir / "mitdb").glob("100.*"):
        shutil.copy(file, folder)
    out = tmp_path / "pred" / "denoised.csv"
    assert main(["predict", "--model", str(run_dir / "model"), "--records", str(folder), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["record"] for r in rows] == ["100"]
    written = wfdb.rdrecord(str(tmp_path / "pred" / "denoised" / "100"))
    raw = wfdb.rdrecord(str(folder / "100"))
    assert written.fs == 250 and written.sig_name == raw.sig_name and written.units == ["mV", "mV"]
    assert written.sig_len == int(rows[0]["n_samples"]) == round(raw.sig_len * 250 / 360)
    # the file holds the network's output on the resampled record, to the ADC's resolution
    from ecg.models.keras_model import KerasBaseModel

    model = KerasBaseModel({"path": str(run_dir / "model")})
    x = sps.resample_poly(raw.p_signal.T, 25, 36, axis=-1)
    sd = x.std(axis=-1, keepdims=True)                   # the model standardises each lead
    assert model.config.info["standardize"]
    direct = model.predict_on_batch((x[:, :16 * 1000] / sd).astype(np.float32)[:, :, None])[:, :, 0] * sd
    resolution = 1 / np.array(written.adc_gain)[:, None]
    middle = slice(200, 15800)      # away from the edges, where the resampling of a cut record differs
    assert np.abs(written.p_signal.T[:, middle] - direct[:, middle]).max() < 0.05 + resolution.max()
    assert not list((tmp_path / "pred" / "denoised").glob(".*tmp*"))


def test_standardize_amplitude_scales_signal_and_target_alike(fixture_dir):
    from batchflow import DatasetIndex

    from ecg.batch import EcgBatch

    batch = EcgBatch(DatasetIndex(["100"])).load(src=str(fixture_dir / "mitdb"), fmt="wfdb",
                                                 components=["signal", "meta"])
    raw = batch.signal[0].astype(np.float64)
    batch = batch.add_noise_at_snr(0, clean_target=True, seed=1)
    noisy = batch.signal[0].astype(np.float64)
    batch = batch.standardize_amplitude(with_target=True)
    assert batch.signal[0].std() == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(batch.target[0].T * noisy.std(), raw, rtol=1e-4, atol=1e-5)


def test_config_errors_come_before_any_data(tmp_path):
    assert main(["train", CONFIG, "--set", "noise.kinds=[hum]", "--out", str(tmp_path / "x")]) == 2
    assert main(["train", CONFIG, "--set", "window.length=4", "--out", str(tmp_path / "y"),
                 "--set", "data.path=/nonexistent"]) == 2
    assert not (tmp_path / "x").exists()


def test_window_length_must_fit_the_unet(fixture_dir):
    from ecg.errors import ConfigError
    from ecg.tasks.base import read_config

    _, cfg = read_config(CONFIG, ["window.length=4"])
    with pytest.raises(ConfigError, match="not a multiple of the network's down-sampling 16"):
        task.window_samples(cfg, 250)


def test_export_to_onnx_any_length(run_dir, fixture_dir, tmp_path):
    """The U-Net takes any length: the export checks it on windows of 1024 samples and the
    exported file denoises a real window of another length like the Keras model."""
    pytest.importorskip("onnxruntime")
    out = tmp_path / "denoiser.onnx"
    assert main(["export", "--model", str(run_dir / "model"), "--out", str(out), "--repeats", "2", "--quiet"]) == 0
    from ecg.export.runtime import as_predictor
    from ecg.models.keras_model import KerasBaseModel

    x = wfdb.rdrecord(str(fixture_dir / "mitdb" / "100"), sampto=2048).p_signal.T[:1, :, None].astype(np.float32)
    keras_out = KerasBaseModel({"path": str(run_dir / "model")}).predict_on_batch(x)
    np.testing.assert_allclose(as_predictor(str(out)).predict_on_batch(x), keras_out, atol=1e-4)
