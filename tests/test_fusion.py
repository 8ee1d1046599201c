"""Networks with a feature input beside the signal, and class weights by name, on real CinC records."""
import numpy as np
import pytest
from batchflow import DatasetIndex

from ecg import KerasBaseModel
from ecg.batch import EcgBatch
from ecg.errors import ConfigError, ModelError
from ecg.models.factory import build_network
from ecg.models.fusion import with_feature_branch

CNN = {"name": "cnn", "params": {"filters": [4, 8]}}


@pytest.fixture(scope="module")
def batch(cinc_dir):
    names = ["A00001", "A00004", "A00005", "A00009", "A00013", "A00015"]
    batch = EcgBatch(DatasetIndex(names)).load(src=str(cinc_dir), fmt="wfdb")
    batch.load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv")
    return (batch.band_pass_signals(0.5, 40).find_r_peaks(0).rr_features()
            .resample_signals(100).normalize_signals("robust").pad_signals(1500, mode="wrap")
            .split_signals(1500, 1500).one_hot_labels(["N", "A", "O", "~"]))


def test_features_reach_the_network_per_window(batch):
    model = KerasBaseModel({"model": CNN, "feature_input": {}, "seed": 0})
    x = batch._model_x(model)
    assert isinstance(x, list) and x[0].shape[0] == x[1].shape[0] == batch.model_targets().shape[0]
    first = batch.features[0]
    np.testing.assert_array_equal(x[1][:len(first)], first)       # each window carries its record's features


def test_normalisation_inside_the_network_uses_the_given_statistics():
    import keras

    net = build_network(CNN, (256, 1), 3)
    fused = with_feature_branch(net, 2, mean=[10.0, -5.0], std=[2.0, 0.5])
    norm = fused.get_layer("feature_norm")
    probe = keras.Model(fused.inputs, norm.output)
    out = probe.predict([np.zeros((1, 256, 1)), np.array([[12.0, -4.0]])], verbose=0)
    np.testing.assert_allclose(out, [[1.0, 2.0]], rtol=1e-5)
    with pytest.raises(ConfigError, match="2 values"):
        with_feature_branch(net, 2, mean=[0.0], std=[1.0, 1.0])
    seg = build_network({"name": "unet", "params": {"filters": [4]}}, (64, 1), 3, task="segmentation")
    with pytest.raises(ConfigError, match="classification network"):
        with_feature_branch(seg, 2)


def test_trains_saves_and_reloads_identically(batch, tmp_path):
    config = {"model": CNN, "feature_input": {"mean": [0.0] * 25, "std": [1.0] * 25}, "seed": 0,
              "class_weight": {"A": 3.0}}
    model = KerasBaseModel(config)
    x, y = batch._model_x(model), batch.model_targets()
    model.train_on_batch(x, y, classes=["N", "A", "O", "~"])
    assert model.config.feature_input.n_features == 25
    model.save(tmp_path / "m")
    loaded = KerasBaseModel({"path": str(tmp_path / "m")})
    assert loaded.takes_features
    np.testing.assert_array_equal(loaded.predict_on_batch(x), model.predict_on_batch(x))
    with pytest.raises(ModelError, match="takes \\[signal windows, features\\]"):
        KerasBaseModel(config).train_on_batch(x[0], y, classes=["N", "A", "O", "~"])


def test_class_weights_scale_the_loss(batch):
    """Weight 3 on A multiplies A's per-sample loss by 3: equal to Keras' own sample_weight."""
    x, y = batch.model_inputs(), batch.model_targets()
    weights = np.where(y.argmax(1) == 1, 3.0, 1.0).astype(np.float32)
    losses = []
    for config, kwargs in (({"class_weight": {"A": 3.0}}, {}), ({}, {"sample_weight": weights})):
        model = KerasBaseModel({"model": CNN, "seed": 0, "fast_path": False, **config})
        model.train_on_batch(x, y, classes=["N", "A", "O", "~"], **kwargs)
        losses.append(model.train_on_batch(x, y, **kwargs)["loss"])
    np.testing.assert_allclose(float(losses[0]), float(losses[1]), rtol=1e-6)
    model = KerasBaseModel({"model": CNN, "seed": 0, "class_weight": {"Z": 2.0}})
    with pytest.raises(ModelError, match="not classes of the model"):
        model.train_on_batch(x, y, classes=["N", "A", "O", "~"])
