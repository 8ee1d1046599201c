"""Segmentation end to end on real LUDB records: masks through EcgBatch, KerasBaseModel and back.

Also the model actions that other tests do not reach: ``test_on_batch``, multi-label
(multi-hot) targets, and resampling of split records with their masks.
"""
import numpy as np
import pytest
from batchflow import V

from ecg import EcgDataset, KerasBaseModel
from ecg.ops import masks

# layer norm: batch statistics would need many more steps to settle for inference
UNET = {"model": {"name": "unet", "params": {"filters": [8, 16], "kernel_size": 9, "norm": "layer"}},
        "task": "segmentation", "optimizer": {"name": "adam", "learning_rate": 3e-3}, "seed": 0}


@pytest.fixture(scope="module")
def ludb(fixture_dir):
    return EcgDataset(path=str(fixture_dir / "ludb" / "*.hea"))


def segmentation_batch(ludb, n=4):
    return (ludb.create_batch(ludb.indices[:n])
            .load(fmt="wfdb", components=["signal", "meta", "annotation"], ann_ext="ii")
            .select_leads(["ii"]).annotation_to_mask("ii")
            .resample_signals(250).normalize_signals().split_signals(500))


def test_model_targets_are_each_windows_own_mask(ludb, fixture_dir):
    import wfdb

    batch = segmentation_batch(ludb, n=2)
    y = batch.model_targets()
    assert batch.model_inputs().shape == (10, 500, 1) and y.shape == (10, 500, 4)
    # independent reference: LUDB's own annotation, read with wfdb and drawn by hand
    ann = wfdb.rdann(str(fixture_dir / "ludb" / str(batch.indices[0])), "ii")
    expected = np.zeros(5000, dtype=np.int64)
    for k in range(len(ann.symbol) - 2):
        if ann.symbol[k] == "(" and ann.symbol[k + 2] == ")" and ann.symbol[k + 1] in "pNt":
            expected[ann.sample[k]:ann.sample[k + 2] + 1] = "pNt".index(ann.symbol[k + 1]) + 1
    at_250 = expected[::2]                   # 500 -> 250 Hz: output sample j is input 2 j
    for w in range(5):
        np.testing.assert_array_equal(y[w].argmax(-1), at_250[w * 500:(w + 1) * 500])


def test_unet_learns_masks_and_predictions_become_waves(ludb, tmp_path):
    batch = segmentation_batch(ludb)
    x, y = batch.model_inputs(), batch.model_targets()
    background = (y.argmax(-1) == 0).mean()
    ppl = (ludb.p.init_model("unet", KerasBaseModel, config=UNET)
           .init_variable("loss", [])
           .load(fmt="wfdb", components=["signal", "meta", "annotation"], ann_ext="ii")
           .select_leads(["ii"]).annotation_to_mask("ii")
           .resample_signals(250).normalize_signals().split_signals(500)
           .train_on_batch("unet", save_to=V("loss", mode="a")))
    ppl.run(batch_size=4, n_epochs=60, shuffle=False, drop_last=True)
    losses = [log["loss"] for log in ppl.v("loss")]
    assert losses[-1] < 0.5 * losses[0]
    net = ppl.m("unet")
    probs = net.predict_on_batch(x)
    assert probs.shape == (20, 500, 4)
    accuracy = (probs.argmax(-1) == y.argmax(-1)).mean()
    assert accuracy > background + 0.1, (accuracy, background)

    # test_on_batch action: the loss on the same windows, no weight update
    weights = [w.copy() for w in net.model.get_weights()]
    checker = (ludb.p.import_model("unet", ppl).init_variable("test", [])
               .load(fmt="wfdb", components=["signal", "meta", "annotation"], ann_ext="ii")
               .select_leads(["ii"]).annotation_to_mask("ii")
               .resample_signals(250).normalize_signals().split_signals(500)
               .test_on_batch("unet", save_to=V("test", mode="a")))
    checker.run(batch_size=4, n_epochs=1, shuffle=False, drop_last=True)
    tested = checker.v("test")
    assert len(tested) == len(ludb) // 4 and all(np.isfinite(t["loss"]) for t in tested)
    for before, after in zip(weights, net.model.get_weights()):
        np.testing.assert_array_equal(before, after)

    # predictions back to WFDB-style waves, segment by segment
    batch.set_component("target", list(probs.argmax(-1).astype(np.int8).reshape(4, 5, 500)))
    batch.mask_to_annotation("pred")
    waves = batch.annotation[0]["pred"]
    assert isinstance(waves, list) and len(waves) == 5
    for mask, ann in zip(batch.target[0], waves):
        onsets = ann["sample"][ann["symbol"] == "("]
        assert all(mask[s] != 0 and (s == 0 or mask[s - 1] != mask[s]) for s in onsets)

    # save -> load in safe mode -> identical predictions
    net.save(tmp_path / "seg")
    loaded = KerasBaseModel({"path": str(tmp_path / "seg")})
    np.testing.assert_array_equal(loaded.predict_on_batch(x), probs)


def test_multi_label_targets_train_with_sigmoid(ludb):
    batch = (ludb.create_batch(ludb.indices[:8])
             .load(fmt="wfdb", components=["signal", "meta"])
             .resample_signals(100).crop_signals(1000))
    rng = np.random.default_rng(0)
    multi_hot = (rng.random((8, 3)) < 0.5).astype(np.float32)
    multi_hot[0] = [1, 1, 0]
    batch.set_component("target", list(multi_hot))
    y = batch.model_targets()
    np.testing.assert_array_equal(y, multi_hot)            # passed on as they are, not argmaxed
    config = {"model": {"name": "cnn", "params": {"filters": [4, 8], "output_activation": "sigmoid"}},
              "loss": "binary_crossentropy", "seed": 0}
    model = KerasBaseModel(config)
    model.train_on_batch(batch.model_inputs(), y, classes=["a", "b", "c"])
    probs = model.predict_on_batch(batch.model_inputs())
    assert probs.shape == (8, 3) and not np.allclose(probs.sum(-1), 1.0)


def test_resampling_split_records_moves_their_masks(ludb):
    batch = (ludb.create_batch(ludb.indices[:2])
             .load(fmt="wfdb", components=["signal", "meta", "annotation"], ann_ext="ii")
             .annotation_to_mask("ii").split_signals(1000))
    before = [m.copy() for m in batch.target]
    batch.resample_signals(250)
    for mask_before, mask_after, sig in zip(before, batch.target, batch.signal):
        assert sig.shape[-1] == 500 and mask_after.shape == (5, 500)
        np.testing.assert_array_equal(mask_after, mask_before[:, ::2])
    assert list(batch.meta[0]["segment_starts"]) == [0, 500, 1000, 1500, 2000]
    intervals = masks.mask_to_intervals(batch.target[0][0], 3)
    assert sum(len(v) for v in intervals.values()) > 0
