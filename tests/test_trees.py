"""Boosted trees as network weights: equal to scikit-learn's predict_proba, saved and reloaded."""
import subprocess
import sys

import numpy as np
import pytest

from ecg import EcgDataset, KerasBaseModel
from ecg.errors import ModelError


@pytest.fixture(scope="module")
def cinc_features(fixture_dir):
    """RR/HRV features of the CinC fixture records (the rhythm task's recipe) and their labels."""
    import pandas as pd

    ds = EcgDataset(path=str(fixture_dir / "cinc2017/*.hea"))
    batch = (ds.next_batch(len(ds), shuffle=False).load(fmt="wfdb", components=["signal", "meta"])
             .band_pass_signals(0.5, 40).find_r_peaks(lead=0).rr_features(ext="rpeaks"))
    labels = pd.read_csv(fixture_dir / "cinc2017/REFERENCE.csv", header=None, index_col=0)[1]
    y = np.array([labels[ix] for ix in batch.indices])
    return np.stack(batch.features).astype(np.float32), y


@pytest.mark.parametrize("classes", [["N", "A", "O", "~"], ["N", "A"]])
def test_tree_layer_equals_sklearn(cinc_features, classes):
    from sklearn.ensemble import GradientBoostingClassifier

    from ecg.models.trees import tree_arrays, tree_ensemble_class, tree_layer_config, WEIGHT_NAMES

    x, y = cinc_features
    keep = np.isin(y, classes)
    x, y = x[keep], y[keep]
    if len(set(y)) < len(classes):
        pytest.skip("fixture lacks a class")
    gbc = GradientBoostingClassifier(n_estimators=40, max_depth=3, learning_rate=0.2, random_state=0).fit(x, y)
    arrays = tree_arrays(gbc)
    layer = tree_ensemble_class()(**tree_layer_config(arrays))
    layer.build((None, x.shape[1]))
    layer.set_weights([arrays[name] for name in WEIGHT_NAMES])
    ours = np.asarray(layer(x))
    ref = gbc.predict_proba(x)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    # features moved a little off the training points: still the same trees (no ties at thresholds)
    rng = np.random.default_rng(0)
    shifted = x * (1 + 0.05 * rng.standard_normal(x.shape)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer(shifted)), gbc.predict_proba(shifted), atol=1e-5)
    # the leaves form of an int8 export: one reached leaf per tree, and leaf_logits' Dense weights
    # over them give scikit-learn's probabilities again (the binary case through [-raw/2, raw/2])
    from ecg.models.trees import leaf_logits

    leaves_layer = tree_ensemble_class()(**tree_layer_config(arrays), returns="leaves")
    leaves_layer.build((None, x.shape[1]))
    leaves_layer.set_weights([arrays[name] for name in WEIGHT_NAMES])
    reached = np.asarray(leaves_layer(shifted))
    n_trees, n_leaves = arrays["value"].shape
    assert reached.shape == (len(x), n_trees * n_leaves)
    assert np.array_equal(reached.reshape(len(x), n_trees, n_leaves).sum(-1), np.ones((len(x), n_trees)))
    fine, coarse, bias = leaf_logits(dict(zip(WEIGHT_NAMES, (arrays[name] for name in WEIGHT_NAMES))))
    assert np.abs(fine).max() <= np.abs(fine + coarse).max() / 16 + 1e-7
    logits = reached @ (fine.astype(np.float64) + coarse) + bias
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    np.testing.assert_allclose(probabilities, gbc.predict_proba(shifted), atol=1e-5)


def test_with_trees_blends_saves_and_reloads(cinc_features, tmp_path):
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = cinc_features
    classes = sorted(set(y))
    windows = np.random.default_rng(1).standard_normal((len(x), 256, 1)).astype(np.float32)
    config = {"model": {"name": "cnn", "params": {"filters": [4]}}, "seed": 0,
              "feature_input": {"mean": x.mean(0).tolist(), "std": (x.std(0) + 1e-3).tolist(),
                                "units": 4, "hidden": 0}}
    net = KerasBaseModel(config)
    net.build((256, 1), len(classes), classes=classes, n_features=x.shape[1])
    gbc = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(x, y)
    assert list(gbc.classes_) == classes
    blend = KerasBaseModel.with_trees(net, gbc, 0.25)
    inputs = [windows, x]
    expected = 0.75 * np.asarray(net.predict_on_batch(inputs)) + 0.25 * gbc.predict_proba(x)
    np.testing.assert_allclose(blend.predict_on_batch(inputs), expected, atol=1e-5)
    for compact in (False, True):
        path = blend.save(tmp_path / f"model_{compact}", compact=compact)
        back = KerasBaseModel({"path": path})
        assert back.config.trees.weight == 0.25
        # compact: the network in float16, the trees exact
        np.testing.assert_allclose(back.predict_on_batch(inputs), expected, atol=2e-3 if compact else 1e-6)
        trees = back.model.get_layer("trees").get_weights()
        np.testing.assert_array_equal(trees[1], blend.model.get_layer("trees").get_weights()[1])
    # a fresh process, where nothing has built a tree layer yet, loads the full save too
    np.save(tmp_path / "windows.npy", windows)
    np.save(tmp_path / "features.npy", x)
    code = ("import sys, numpy as np; from ecg import KerasBaseModel; "
            f"m = KerasBaseModel({{'path': {str(tmp_path / 'model_False')!r}}}); "
            f"p = m.predict_on_batch([np.load({str(tmp_path / 'windows.npy')!r}), "
            f"np.load({str(tmp_path / 'features.npy')!r})]); np.save({str(tmp_path / 'fresh.npy')!r}, p)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, capture_output=True)
    np.testing.assert_allclose(np.load(tmp_path / "fresh.npy"), expected, atol=1e-6)
    with pytest.raises(ModelError, match="without trees"):
        KerasBaseModel.with_trees(blend, gbc, 0.5)
    wrong = GradientBoostingClassifier(n_estimators=2, random_state=0).fit(x[:, :5], y)
    with pytest.raises(ModelError, match="take 5 features"):
        KerasBaseModel.with_trees(net, wrong, 0.5)
