"""ecg.ops.labels on the CinC 2017 fixture's REFERENCE.csv."""
import doctest

import numpy as np
import pandas as pd
import pytest

from ecg.ops import labels


@pytest.fixture(scope="module")
def reference(cinc_dir):
    return pd.read_csv(cinc_dir / "REFERENCE.csv", header=None, names=["record", "label"])["label"].to_numpy(str)


def test_one_hot_matches_pandas(reference):
    classes = ("N", "A", "O", "~")
    expected = pd.get_dummies(pd.Categorical(reference, categories=classes)).to_numpy(np.float32)
    np.testing.assert_array_equal(labels.one_hot(reference, classes), expected)


def test_one_hot_keeps_leading_shape():
    assert labels.one_hot(np.array([["N", "A"], ["A", "A"]]), ("N", "A")).shape == (2, 2, 2)


def test_one_hot_names_unknown_labels(reference):
    with pytest.raises(ValueError, match=r"\['~'\]"):
        labels.one_hot(reference, ("N", "A", "O"))


def test_binarize(reference):
    out = labels.binarize(reference, ["A"])
    assert out.sum() == len(reference) and out[:, 1].sum() == (reference == "A").sum()


def test_rename(reference):
    out = labels.rename(reference, {"~": "noise", "O": "other"})
    assert set(out) == {"N", "A", "other", "noise"} and out.shape == reference.shape
    assert labels.rename(np.array("A"), {"A": "AF"}).tolist() == "AF"


def test_docstring_examples():
    assert doctest.testmod(labels, extraglobs={"np": np}).failed == 0
