"""Lead actions of EcgBatch (ecg.batch.leads) on real LUDB records: per-lead items and annotated stretches."""
import numpy as np
import pytest
import wfdb

from ecg import EcgDataset
from ecg.data.datasets import ludb
from ecg.errors import RecordError


@pytest.fixture(scope="module")
def records(fixture_dir):
    return EcgDataset(path=str(fixture_dir / "ludb" / "*.hea"))


def load(records, n=2):
    return records.create_batch(records.indices[:n]).load(
        fmt="wfdb", components=["signal", "meta", "annotation"], ann_ext=list(ludb.LEADS))


def test_unstack_leads_gives_each_lead_its_signal_and_own_annotation(records, fixture_dir):
    batch = load(records)
    items = batch.unstack_leads("lead")
    assert len(items) == 24 and items.indices[:2].tolist() == [f"{batch.indices[0]}_i", f"{batch.indices[0]}_ii"]
    for k, lead in enumerate(ludb.LEADS):
        np.testing.assert_array_equal(items.signal[k], batch.signal[0][k:k + 1])
        meta = items.meta[k]
        assert meta["sig_name"] == [lead] and meta["lead"] == lead and meta["units"] == ["mV"]
        assert meta["record"] == batch.meta[0]["record"] and meta["flat_leads"] == []
        assert set(items.annotation[k]) == {"lead"}
        # independent reference: the lead's own annotation file, read by wfdb
        ann = wfdb.rdann(str(fixture_dir / "ludb" / str(batch.indices[0])), lead)
        np.testing.assert_array_equal(items.annotation[k]["lead"]["sample"], ann.sample)
        assert items.annotation[k]["lead"]["symbol"].tolist() == ann.symbol


def test_unstacked_masks_are_the_per_lead_masks(records, fixture_dir):
    items = load(records, n=1).unstack_leads("lead").annotation_to_mask("lead")
    expected = ludb.read_masks(fixture_dir / "ludb" / str(records.indices[0]))
    for k in range(12):
        np.testing.assert_array_equal(items.target[k], expected[k])
    assert items.classes == ("background", "p", "N", "t")


def test_unstack_leads_keeps_other_annotations_and_splits_per_lead_targets(records):
    batch = (records.create_batch(records.indices[:1])
             .load(fmt="wfdb", components=["signal", "meta", "annotation"], ann_ext=["i", "ii"])
             .select_leads(["i", "ii"]).find_r_peaks(lead="ii"))
    n = batch.signal[0].shape[-1]
    per_lead = np.stack([np.full(n, 1, np.int8), np.full(n, 2, np.int8)])
    batch.set_component("target", [per_lead])
    batch.update_meta(per_sample_target=True)
    items = batch.unstack_leads("lead")
    assert [t[0] for t in items.target] == [1, 2]
    assert set(items.annotation[0]) == {"lead", "rpeaks"}
    np.testing.assert_array_equal(items.annotation[0]["rpeaks"]["sample"], items.annotation[1]["rpeaks"]["sample"])
    copied = load(records, n=1).unstack_leads()
    assert set(copied.annotation[0]) == set(ludb.LEADS)


def test_unstack_leads_copies_a_label_target(records):
    batch = load(records, n=2)
    batch.set_component("target", ["N", "A"])
    items = batch.unstack_leads()
    assert list(items.target) == ["N"] * 12 + ["A"] * 12


def test_unstack_leads_refuses_split_records_and_unnamed_leads(records):
    with pytest.raises(RecordError, match="unstack_signals first"):
        load(records, n=1).split_signals(1000).unstack_leads()
    batch = load(records, n=1)
    batch.meta[0]["sig_name"] = ["i", "ii"]
    with pytest.raises(RecordError, match="12 leads but 2 lead names"):
        batch.unstack_leads()


def test_crop_to_annotated_keeps_the_annotated_stretch(records):
    items = load(records, n=1).unstack_leads("lead").annotation_to_mask("lead")
    before = [t.copy() for t in items.target]
    signals = [s.copy() for s in items.signal]
    first_marks = [a["lead"]["sample"][0] for a in items.annotation]
    items.crop_to_annotated()
    for k, (mask, target, sig) in enumerate(zip(before, items.target, items.signal)):
        waves = np.flatnonzero(mask)
        first, last = waves[0], waves[-1]
        np.testing.assert_array_equal(target, mask[first:last + 1])
        np.testing.assert_array_equal(sig, signals[k][:, first:last + 1])
        assert items.meta[k]["n_samples"] == last - first + 1
        assert items.annotation[k]["lead"]["sample"][0] == first_marks[k] - first == 0


def test_crop_to_annotated_margin_and_errors(records):
    items = load(records, n=1).unstack_leads("lead").annotation_to_mask("lead")
    mask = items.target[0].copy()
    waves = np.flatnonzero(mask)
    items.crop_to_annotated(margin=0.1)
    np.testing.assert_array_equal(items.target[0], mask[waves[0] - 50:waves[-1] + 51])
    with pytest.raises(RecordError, match="annotation_to_mask first"):
        load(records, n=1).crop_to_annotated()
    with pytest.raises(ValueError, match="margin >= 0"):
        items.crop_to_annotated(margin=-1)
    items.set_component("target", [np.zeros_like(t) for t in items.target])
    with pytest.raises(RecordError, match="holds no wave"):
        items.crop_to_annotated()
