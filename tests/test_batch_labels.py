"""LabelsMixin actions of EcgBatch on the CinC 2017 fixture and its REFERENCE.csv."""
import numpy as np
import pandas as pd
import pytest
from batchflow import DatasetIndex

from ecg.batch import EcgBatch
from ecg.errors import LabelError

CLASSES = ("N", "A", "O", "~")


@pytest.fixture
def reference(cinc_dir):
    return pd.read_csv(cinc_dir / "REFERENCE.csv", header=None, index_col=0).iloc[:, 0]


@pytest.fixture
def cinc(cinc_dir, reference):
    names = list(reference.index[::4])   # 10 records, all four classes
    batch = EcgBatch(DatasetIndex(names)).load(src=str(cinc_dir), fmt="wfdb")
    return batch.load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv")


def test_one_hot_matches_reference(cinc, reference):
    cinc.one_hot_labels(CLASSES)
    assert cinc.classes == CLASSES
    for ix, target in zip(cinc.indices, cinc.target):
        assert target.dtype == np.float32 and target.shape == (4,)
        assert CLASSES[int(np.argmax(target))] == reference[ix]


def test_one_hot_unknown_label_names_record(cinc, reference):
    first_noisy = next(ix for ix in cinc.indices if reference[ix] == "~")
    with pytest.raises(LabelError, match=f"{first_noisy}.*'~'"):
        cinc.one_hot_labels(("N", "A", "O"))


def test_one_hot_after_split_is_per_segment(cinc):
    cinc.split_signals(3000).one_hot_labels(CLASSES)
    for sig, target in zip(cinc.signal, cinc.target):
        assert target.shape == (len(sig), 4) and (target == target[0]).all()


def test_binarize(cinc, reference):
    cinc.binarize_labels(["A", "O"])
    assert cinc.classes == ("other", "A+O")
    for ix, target in zip(cinc.indices, cinc.target):
        assert target[1] == (reference[ix] in ("A", "O")) and target.sum() == 1
    cinc.classes = None


def test_binarize_names(cinc):
    cinc.binarize_labels("A", names=("non-AF", "AF"))
    assert cinc.classes == ("non-AF", "AF")
    with pytest.raises(LabelError, match="class-name target"):
        cinc.rename_labels({"A": "AF"})


def test_rename_then_one_hot(cinc, reference):
    cinc.rename_labels({"~": "noise", "O": "other"})
    assert set(cinc.target) == {"N", "A", "other", "noise"}
    cinc.one_hot_labels(["N", "A", "other", "noise"])


def test_keep_and_drop(cinc, reference):
    kept = cinc.keep_labels(["N", "A"])
    assert set(kept.target) == {"N", "A"}
    assert len(kept) == sum(reference[ix] in ("N", "A") for ix in cinc.indices)
    assert all(reference[ix] in ("N", "A") for ix in kept.indices)
    assert kept.meta[0]["record"] == kept.indices[0]
    dropped = cinc.drop_labels("~")
    assert "~" not in set(dropped.target)
    assert len(dropped) == sum(reference[ix] != "~" for ix in cinc.indices)
    assert cinc.drop_labels("X") is cinc
    with pytest.raises(LabelError, match="no record is left"):
        cinc.keep_labels("X")


def test_missing_target_raises(cinc_dir):
    batch = EcgBatch(DatasetIndex(["A00001"])).load(src=str(cinc_dir), fmt="wfdb")
    with pytest.raises(LabelError, match="A00001.*load the labels"):
        batch.one_hot_labels(CLASSES)
