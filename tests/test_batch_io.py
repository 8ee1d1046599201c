"""EcgBatch.load / dump on real records: equal to wfdb, npz round trip, errors name records."""
import numpy as np
import pytest
import wfdb

from ecg import EcgDataset
from ecg.errors import EcgError, LabelError, RecordError


def test_load_wfdb_components_and_annotations(fixture_dir):
    ds = EcgDataset(path=str(fixture_dir / "mitdb/*.hea"))
    batch = ds.next_batch(3, shuffle=False).load(fmt="wfdb", components=["signal", "meta", "annotation"],
                                                 ann_ext="atr")
    assert list(batch.indices) == ["100", "201", "208"]
    for i, name in enumerate(batch.indices):
        ref = wfdb.rdrecord(str(fixture_dir / "mitdb" / name))
        np.testing.assert_array_equal(batch.signal[i], ref.p_signal.T.astype(np.float32))
        assert batch.meta[i]["fs"] == 360 and batch.meta[i]["record"] == name
        ann = wfdb.rdann(str(fixture_dir / "mitdb" / name), "atr")
        np.testing.assert_array_equal(batch.annotation[i]["atr"]["sample"], ann.sample)
    np.testing.assert_array_equal(batch.fs, [360, 360, 360])


def test_load_from_folder_with_plain_index(fixture_dir):
    from batchflow import Dataset, DatasetIndex

    from ecg import EcgBatch

    ds = Dataset(DatasetIndex(["A00001", "A00002"]), batch_class=EcgBatch)
    batch = (ds.next_batch(2, shuffle=False)
             .load(src=str(fixture_dir / "cinc2017"), fmt="wfdb", components=["signal", "meta"])
             .load(src=str(fixture_dir / "cinc2017/REFERENCE.csv"), fmt="csv", components="target"))
    assert [s.shape for s in batch.signal] == [(1, 9000), (1, 9000)]
    assert list(batch.target) == ["N", "N"]


def test_npz_dump_and_load_round_trip(fixture_dir, tmp_path):
    ds = EcgDataset(path=str(fixture_dir / "ludb/*.hea"))
    batch = (ds.next_batch(4, shuffle=False)
             .load(fmt="wfdb", components=["signal", "meta", "annotation"], ann_ext=["i", "ii"]))
    batch.dump(dst=str(tmp_path), fmt="npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{ix}.npz" for ix in sorted(batch.indices)]
    back = ds.create_batch(batch.indices).load(src=str(tmp_path), fmt="npz")
    for i in range(4):
        np.testing.assert_array_equal(back.signal[i], batch.signal[i])
        assert back.meta[i] == batch.meta[i]
        np.testing.assert_array_equal(back.annotation[i]["ii"]["sample"], batch.annotation[i]["ii"]["sample"])
    with pytest.raises(RecordError, match="no 'target'"):
        ds.create_batch(batch.indices).load(src=str(tmp_path), fmt="npz", components="target")


def test_npz_memory_equals_disk_is_copied_and_follows_rewrites(fixture_dir, tmp_path):
    from ecg.io.npz import NPZ_MEMORY

    ds = EcgDataset(path=str(fixture_dir / "cinc2017/*.hea"))
    batch = ds.next_batch(3, shuffle=False).load(fmt="wfdb", components=["signal", "meta"])
    batch.dump(dst=str(tmp_path), fmt="npz")
    NPZ_MEMORY.clear()
    first = ds.create_batch(batch.indices).load(src=str(tmp_path), fmt="npz", memory=True)
    assert len(NPZ_MEMORY) == 3 and NPZ_MEMORY.nbytes >= sum(s.nbytes for s in batch.signal)
    first.signal[0] *= 0                              # in place: must not reach the kept record
    again = ds.create_batch(batch.indices).load(src=str(tmp_path), fmt="npz", memory=True)
    disk = ds.create_batch(batch.indices).load(src=str(tmp_path), fmt="npz")
    for i in range(3):
        np.testing.assert_array_equal(again.signal[i], batch.signal[i])
        np.testing.assert_array_equal(again.signal[i], disk.signal[i])
        assert again.meta[i] == disk.meta[i]
    # a record dumped again (other content, other size) is read from disk again
    changed = ds.create_batch(batch.indices[:1]).load(fmt="wfdb", components=["signal", "meta"])
    changed.signal[0] = changed.signal[0][:, :1000]
    changed.dump(dst=str(tmp_path), fmt="npz")
    third = ds.create_batch(batch.indices).load(src=str(tmp_path), fmt="npz", memory=True)
    assert third.signal[0].shape == (1, 1000) and third.signal[1].shape == batch.signal[1].shape
    with pytest.raises(EcgError, match="memory"):
        ds.create_batch(batch.indices).load(fmt="wfdb", memory=True)
    NPZ_MEMORY.clear()
    assert len(NPZ_MEMORY) == 0


def test_npz_round_trip_of_split_masks_and_annotations(fixture_dir, tmp_path):
    ds = EcgDataset(path=str(fixture_dir / "ludb/*.hea"))
    batch = (ds.next_batch(2, shuffle=False)
             .load(fmt="wfdb", components=["signal", "meta", "annotation"], ann_ext="ii")
             .annotation_to_mask("ii").split_signals(1000))
    batch.dump(dst=str(tmp_path), fmt="npz")
    back = ds.create_batch(batch.indices).load(src=str(tmp_path), fmt="npz",
                                               components=["signal", "meta", "annotation", "target"])
    for i in range(2):
        np.testing.assert_array_equal(back.target[i], batch.target[i])
        assert back.target[i].shape == (5, 1000) and back.meta[i]["per_sample_target"]
        assert len(back.annotation[i]["ii"]) == 5
        for seg_back, seg in zip(back.annotation[i]["ii"], batch.annotation[i]["ii"]):
            np.testing.assert_array_equal(seg_back["sample"], seg["sample"])
            np.testing.assert_array_equal(seg_back["symbol"], seg["symbol"])
    unstacked = back.unstack_signals()
    np.testing.assert_array_equal(unstacked.target[3], batch.target[0][3])


def test_bad_records_and_labels_are_named(fixture_dir, tmp_path):
    ds = EcgDataset(path=str(fixture_dir / "cinc2017/*.hea"))
    batch = ds.next_batch(2, shuffle=False)
    with pytest.raises(RecordError, match="'A00001'.*not found"):
        batch.load(src=str(tmp_path), fmt="wfdb")
    (tmp_path / "ref.csv").write_text("A00001,N\n")
    with pytest.raises(LabelError, match="A00002"):
        batch.load(src=str(tmp_path / "ref.csv"), fmt="csv", components="target")
    # no ann_ext: no annotator is read, each record's annotation is an empty dict (issue 13)
    assert list(batch.load(fmt="wfdb", components=["annotation"]).annotation) == [{}, {}]
    with pytest.raises(EcgError, match="no records match"):
        EcgDataset(path=str(tmp_path / "*.hea"))
