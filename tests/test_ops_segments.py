"""ecg.ops.segments on a real CinC 2017 record against plain slicing."""
import doctest

import numpy as np
import pytest
import wfdb

from ecg.ops import segments


@pytest.fixture(scope="module")
def x(cinc_dir):
    return wfdb.rdrecord(str(cinc_dir / "A00001")).p_signal.T.astype("float32")[None]  # (1, 1, 9000)


def test_split_equals_slices(x):
    out = segments.split(x, 3000, 1500)
    assert out.shape == (1, 5, 1, 3000)
    for k, start in enumerate(range(0, 6001, 1500)):
        np.testing.assert_array_equal(out[0, k], x[0, :, start:start + 3000])
    assert segments.split(x, 3000).shape == (1, 3, 1, 3000)


def test_split_drops_the_tail_and_pads_short(x):
    assert segments.split(x, 4000).shape == (1, 2, 1, 4000)
    with pytest.raises(ValueError, match="pad=True"):
        segments.split(x, 10000)
    padded = segments.split(x, 10000, pad_short=True)
    assert padded.shape == (1, 1, 1, 10000)
    assert np.array_equal(padded[0, 0, :, :9000], x[0]) and not padded[..., 9000:].any()


def test_random_split_reproducible_and_in_signal(x):
    a = segments.random_split(x, 1000, 6, np.random.default_rng(7))
    b = segments.random_split(x, 1000, 6, np.random.default_rng(7))
    assert a.shape == (1, 6, 1, 1000) and np.array_equal(a, b)
    # each window is a slice of the record, found by search (not by replaying the generator)
    starts = []
    for window in a[0]:
        hits = [s for s in range(8001) if np.array_equal(x[0, :, s:s + 1000], window)]
        assert hits, "a window is not a contiguous part of the record"
        starts.append(hits[0])
    assert len(set(starts)) > 1
    many = segments.random_split(x, 1000, 400, np.random.default_rng(1))
    first = [int(np.flatnonzero(x[0, 0] == w[0, 0])[0]) for w in many[0]]
    assert min(first) < 800 and max(first) > 7200          # starts cover the whole record


def test_take_windows_per_row_starts():
    x = np.arange(20.0).reshape(2, 1, 10)
    out = segments.take_windows(x, np.array([[0, 5], [2, 3]]), 3)
    np.testing.assert_array_equal(out[1, 0, 0], [12, 13, 14])
    np.testing.assert_array_equal(out[0, 1, 0], [5, 6, 7])


def test_pad_and_crop(x):
    assert segments.pad(x, 5000) is x
    out = segments.pad(x, 10000, align="right", mode="edge")
    np.testing.assert_array_equal(out[..., 1000:], x)
    assert (out[..., :1000] == x[..., :1]).all()
    np.testing.assert_array_equal(segments.crop(x, 3000, "center"), x[..., 3000:6000])
    np.testing.assert_array_equal(segments.crop(x, 3000, 100), x[..., 100:3100])
    with pytest.raises(ValueError, match="inside a signal"):
        segments.crop(x, 10000)
    with pytest.raises(ValueError, match="align"):
        segments.pad(x, 10000, align="middle")


def test_window_starts():
    assert segments.window_starts(5, 10).size == 0
    with pytest.raises(ValueError, match="strictly positive"):
        segments.window_starts(100, 10, 0)


def test_docstring_examples():
    assert doctest.testmod(segments, extraglobs={"np": np}).failed == 0
