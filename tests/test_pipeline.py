"""The CardIO-style chain on real CinC 2017 records: train, save, load, predict."""
import numpy as np
import pytest
from batchflow import C, Pipeline, V

from ecg import EcgDataset, KerasBaseModel
from ecg.models.keras_model import CONFIG_FILE

CFG = {"model": {"name": "cnn", "params": {"filters": [8, 16], "kernel_size": 7, "pool_size": 4, "norm": "layer"}}, "seed": 7,
       "optimizer": {"name": "adam", "learning_rate": 3e-3},
       "preprocess": [{"band_pass_signals": {"low": 0.5, "high": 40}},
                      {"split_signals": {"length": 3000, "step": 3000}}]}


@pytest.fixture(scope="module")
def dataset(cinc_dir):
    return EcgDataset(path=str(cinc_dir / "*.hea"))


@pytest.fixture(scope="module")
def trained(dataset, cinc_dir, tmp_path_factory):
    train = (dataset.p
             .init_variable("loss", [])
             .init_model("fc_model", KerasBaseModel, mode="dynamic", config=CFG)
             .load(fmt="wfdb", components=["signal", "meta"])
             .load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv", components="target")
             .band_pass_signals(0.5, 40)
             .random_split_signals(length=3000, n_segments=9)
             .binarize_labels(["A"])
             .train_on_batch("fc_model", metrics="f1_score", average="macro", save_to=V("loss", mode="a")))
    train.run(batch_size=20, shuffle=True, drop_last=True, n_epochs=30)
    path = tmp_path_factory.mktemp("models") / "af"
    train.save_model_now("fc_model", path=str(path))
    return train, path


def _eval_loss(model, dataset, cinc_dir):
    batch = (dataset.p.load(fmt="wfdb", components=["signal", "meta"])
             .load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv", components="target")
             .band_pass_signals(0.5, 40).split_signals(3000, 3000).binarize_labels(["A"])
             ).next_batch(len(dataset), shuffle=False)
    return model.test_on_batch(batch.model_inputs(), batch.model_targets())["loss"]


def test_chain_trains_and_loss_goes_down(trained, dataset, cinc_dir):
    train, _ = trained
    model = train.m("fc_model")
    assert len(model.hist) == 60                    # 30 epochs x 2 batches of 20 records
    untrained = KerasBaseModel(CFG).build((3000, 1), 2)     # same seed: the weights training started from
    before, after = _eval_loss(untrained, dataset, cinc_dir), _eval_loss(model, dataset, cinc_dir)
    # measured 0.56 -> 0.49-0.51 (TensorFlow's CPU kernels vary with the thread schedule): 5 % is
    # well clear of both the noise and an untrained model
    assert after < 0.95 * before, (before, after)
    assert "f1_score" in model.hist[-1]
    assert train.v("loss")[-1] == model.hist[-1]
    assert model.model.input_shape == (None, 3000, 1) and model.classes == ["other", "A"]


def test_saved_model_folder(trained):
    _, path = trained
    assert (path / "model.keras").is_file() and (path / CONFIG_FILE).is_file()
    assert not list(path.parent.glob(".*tmp*"))


def batch_meta(dataset):
    return dataset.p.load(fmt="wfdb", components="meta").next_batch(len(dataset), shuffle=False).meta


def _predict_pipeline(dataset, path):
    return (Pipeline(config={"fc_model": {"path": str(path)}})
            .init_model("fc_model", KerasBaseModel, config=C("fc_model"))
            .init_variable("prediction", [])
            .load(fmt="wfdb", components=["signal", "meta"])
            .band_pass_signals(0.5, 40)
            .split_signals(3000, 3000)
            .predict_on_batch("fc_model", save_to=V("prediction", mode="e"))) << dataset


def test_predict_pipeline_from_config_path_equals_trained_model(trained, dataset):
    train, path = trained
    predict = _predict_pipeline(dataset, path)
    predict.run(batch_size=16, shuffle=False, drop_last=False, n_epochs=1)
    preds = predict.v("prediction")
    assert len(preds) == len(dataset)
    lengths = [meta["n_samples"] for meta in batch_meta(dataset)]
    assert [p.shape for p in preds] == [(n // 3000, 2) for n in lengths]    # one row per 10-s window
    # the same windows through the model that was trained: identical probabilities
    batch = (dataset.p.load(fmt="wfdb", components=["signal", "meta"])
             .band_pass_signals(0.5, 40).split_signals(3000, 3000)).next_batch(len(dataset), shuffle=False)
    windows = batch.model_inputs()
    direct = train.m("fc_model").predict_on_batch(windows)
    # the model the predict pipeline loaded from the path predicts exactly as the trained one
    np.testing.assert_array_equal(predict.m("fc_model").predict_on_batch(windows), direct)
    # through the pipeline, in batches of 16 records: equal up to batch-size-dependent rounding
    np.testing.assert_allclose(np.concatenate(preds), direct, rtol=0, atol=1e-6)


def test_aggregate_mean_and_batchflow_predict_model(trained, dataset):
    from batchflow import B

    _, path = trained
    model = KerasBaseModel({"path": str(path)})
    base = (dataset.p.import_model("m", model).init_variable("p", []).init_variable("q", [])
            .load(fmt="wfdb", components=["signal", "meta"]).band_pass_signals(0.5, 40)
            .split_signals(3000, 3000))
    pipe = (base.predict_on_batch("m", save_to=V("p", mode="e"), aggregate="mean")
            .predict_model("m", B("model_windows"), save_to=V("q", mode="a")))   # batchflow's own verb
    pipe.run(batch_size=40, n_epochs=1, shuffle=False)
    probs = np.stack(pipe.v("p"))
    assert probs.shape == (40, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    counts = [meta["n_samples"] // 3000 for meta in batch_meta(dataset)]
    windows = np.split(pipe.v("q")[0], np.cumsum(counts)[:-1])
    np.testing.assert_allclose(np.stack([w.mean(axis=0) for w in windows]), probs, atol=1e-6)
