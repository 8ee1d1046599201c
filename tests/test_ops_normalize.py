"""ecg.ops.normalize on real PTB-XL records against numpy/scipy statistics."""
import doctest

import numpy as np
import pytest
import wfdb
from scipy import stats

from ecg.ops import normalize


@pytest.fixture(scope="module")
def ptbxl(fixture_dir):
    folder = fixture_dir / "ptbxl" / "records500" / "00000"
    return np.stack([wfdb.rdrecord(str(folder / f"0000{k}_hr")).p_signal.T for k in (1, 2, 3)]).astype("float32")


def test_zscore_per_lead_matches_scipy(ptbxl):
    out = normalize.normalize(ptbxl, "zscore", "lead", eps=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, stats.zscore(ptbxl.astype(np.float64), axis=-1), atol=1e-4)


def test_zscore_per_record_uses_all_leads(ptbxl):
    out = normalize.normalize(ptbxl, "zscore", "record", eps=0)
    flat = ptbxl.reshape(3, -1).astype(np.float64)
    np.testing.assert_allclose(out.reshape(3, -1), stats.zscore(flat, axis=-1), atol=1e-4)


def test_minmax(ptbxl):
    out = normalize.normalize(ptbxl, "minmax")
    np.testing.assert_allclose(out.min(-1), 0, atol=1e-6)
    np.testing.assert_allclose(out.max(-1), 1, atol=1e-4)


def test_robust_matches_scipy_iqr(ptbxl):
    out = normalize.normalize(ptbxl, "robust", eps=0)
    x = ptbxl.astype(np.float64)
    expected = (x - np.median(x, -1, keepdims=True)) / stats.iqr(x, axis=-1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_flat_lead_gives_zeros():
    assert np.array_equal(normalize.normalize(np.ones((1, 2, 50), "float32")), np.zeros((1, 2, 50)))


@pytest.mark.parametrize("kwargs", [{"method": "l2"}, {"axis": "batch"}])
def test_rejects_unknown_options(ptbxl, kwargs):
    with pytest.raises(ValueError, match="Expected"):
        normalize.normalize(ptbxl, **kwargs)


def test_clip(ptbxl):
    out = normalize.clip(ptbxl, -1, 1)
    assert out.min() >= -1 and out.max() <= 1
    with pytest.raises(ValueError, match="low <= high"):
        normalize.clip(ptbxl, 1, -1)


def test_docstring_examples():
    assert doctest.testmod(normalize, extraglobs={"np": np}).failed == 0
