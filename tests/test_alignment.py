"""Annotations and per-sample targets follow every action that moves samples.

The records are synthetic because the test needs a known answer: lead 0 is a *clock*
(sample ``t`` holds ``CLOCK0 + t``), so after any chain of crops, pads, splits,
resamplings, stretches and warps the clock value under a mark says where in the
original record the output sample came from. Every mark carries its original sample in
its symbol; the per-sample target is a class that is constant on runs of 15 samples and
the marks sit in the middle of runs, so a mark must land on its own class. The same
checks then run on a real LUDB record with its P/QRS/T annotations and mask.
"""
import numpy as np
import pytest
from batchflow import DatasetIndex
from hypothesis import given
from hypothesis import strategies as st

from ecg.batch import EcgBatch
from ecg.batch.base import PER_SAMPLE_TARGET
from ecg.ops import alignment

CLOCK0 = 1000.0
FS = 250.0


def mark_class(t):
    return ((np.asarray(t) // 15) % 4).astype(np.int8)


def synthetic_batch(lengths, seed):
    rng = np.random.default_rng(seed)
    batch = EcgBatch(DatasetIndex([f"r{i}" for i in range(len(lengths))]))
    signals, annotations, metas, targets = [], [], [], []
    for i, n in enumerate(lengths):
        t = np.arange(n)
        signals.append(np.stack([CLOCK0 + t, rng.standard_normal(n)]).astype(np.float64))
        marks = np.sort(rng.choice(np.arange(7, n - 7, 15), size=min(25, (n - 14) // 15), replace=False))
        annotations.append({"m": {"sample": marks.astype(np.int64), "symbol": marks.astype(str),
                                  "aux_note": np.full(len(marks), "x")}})
        metas.append({"record": f"r{i}", "fs": FS, "n_samples": n, "sig_name": ["clock", "noise"],
                      PER_SAMPLE_TARGET: True})
        targets.append(mark_class(t))
    for name, values in zip(("signal", "annotation", "meta", "target"), (signals, annotations, metas, targets)):
        batch.set_component(name, values)
    return batch


def segments_of(batch, i):
    """(clock, annotation 'm', target) for each segment of item i (one for a whole record)."""
    sig, ann, target = batch.signal[i], batch.annotation[i]["m"], batch.target[i]
    if sig.ndim == 2:
        return [(sig[0], ann, target)]
    assert isinstance(ann, list) and len(ann) == len(sig) == len(target)
    return [(seg[0], a, tgt) for seg, a, tgt in zip(sig, ann, target)]


def check_alignment(batch, tol, edge):
    """Every mark sits on its clock value and its class; no mark inside the output is lost."""
    checked = 0
    for i in range(len(batch)):
        n_original = batch.meta[i]["n_original"]
        for clock, ann, target in segments_of(batch, i):
            assert target.shape == clock.shape
            original = ann["symbol"].astype(np.int64)
            assert ann["sample"].min(initial=0) >= 0 and ann["sample"].max(initial=0) < len(clock)
            assert (ann["aux_note"] == "x").all()
            # zero padding, and the samples a stretch or warp interpolated from it
            padding = np.convolve(clock < CLOCK0 - 0.5, np.ones(5), mode="same") > 0
            inner = (original >= edge) & (original < n_original - edge) & ~padding[ann["sample"]]
            values = clock[ann["sample"]] - CLOCK0
            np.testing.assert_allclose(values[inner], original[inner], atol=tol)
            np.testing.assert_array_equal(target[ann["sample"]], mark_class(original))
            real = clock[~padding] - CLOCK0
            if real.size:                                          # nor the edge padding of a compression
                real = real[:len(real) - np.argmax(real[::-1] != real[-1])] if (real != real[-1]).any() else real[:1]
            real = real[edge:len(real) - edge]                     # no resampling edge ringing
            # a wrap padding makes the clock jump back: check each monotonic run on its own
            for run in np.split(real, np.flatnonzero(np.abs(np.diff(real)) > 5) + 1):
                if run.size <= 2:
                    continue
                lo, hi = run.min() + tol + 1, run.max() - tol - 1
                marks = batch.meta[i]["marks"]
                expected = set(marks[(marks >= lo) & (marks <= hi)].tolist())
                assert expected <= set(original.tolist())
            checked += len(original)
    return checked


def remember_marks(batch):
    for meta, ann, sig in zip(batch.meta, batch.annotation, batch.signal):
        meta["marks"] = ann["m"]["sample"].copy()
        meta["n_original"] = sig.shape[-1]


@st.composite
def chains(draw):
    """A random chain of sample-moving actions valid for records of at least 1200 samples."""
    steps, split, length, fs = [], False, 1200, FS
    if draw(st.booleans()):
        new_fs = draw(st.sampled_from([125.0, 360.0, 500.0, 300.0]))
        steps.append(("resample_signals", {"fs": new_fs}))
        length = int(length * new_fs / fs)
        fs = new_fs
    for _ in range(draw(st.integers(1, 4))):
        options = ["stretch_time", "warp_time", "random_crop_signals"]
        if not split:
            options += ["crop_signals", "pad_signals", "split_signals", "random_split_signals"]
        else:
            options += ["unstack_signals"]
        name = draw(st.sampled_from(options))
        seed = draw(st.integers(0, 2 ** 16))
        if name == "stretch_time":
            kwargs = {"max_stretch": draw(st.floats(0.0, 0.2)), "p": draw(st.sampled_from([0.5, 1.0])), "seed": seed}
        elif name == "warp_time":
            kwargs = {"max_warp": draw(st.floats(0.0, 0.2)), "seed": seed}
        elif name == "random_crop_signals":
            new = draw(st.integers(length // 3, length))
            kwargs, length = {"length": new, "seed": seed}, new
        elif name == "crop_signals":
            new = draw(st.integers(length // 3, length))
            align = draw(st.one_of(st.sampled_from(["left", "center", "right"]), st.integers(0, length - new)))
            kwargs, length = {"length": new, "align": align}, new
        elif name == "pad_signals":
            new = draw(st.integers(length, length + 600))
            kwargs = {"length": new, "align": draw(st.sampled_from(["left", "center", "right"])),
                      "mode": draw(st.sampled_from(["constant", "wrap"]))}
            length = new
        elif name == "split_signals":
            new = draw(st.integers(length // 4, length + 200))
            kwargs = {"length": new, "step": draw(st.integers(max(new // 3, 1), new + 50)), "pad": new > length}
            length, split = new, True
        elif name == "random_split_signals":
            new = draw(st.integers(length // 4, length))
            kwargs = {"length": new, "n_segments": draw(st.integers(1, 5)), "seed": seed}
            length, split = new, True
        else:
            kwargs, split = {}, False
        steps.append((name, kwargs))
    return steps


def run_chain(batch, steps):
    for name, kwargs in steps:
        batch = getattr(batch, name)(**kwargs)
    return batch


@given(chains(), st.lists(st.integers(1200, 4000), min_size=1, max_size=4), st.integers(0, 1000))
def test_marks_follow_every_chain(steps, lengths, seed):
    batch = synthetic_batch(lengths, seed)
    remember_marks(batch)
    batch = run_chain(batch, steps)
    resampled = steps[0][0] == "resample_signals"
    ratio = FS / steps[0][1]["fs"] if resampled else 1.0
    moving = sum(name in ("stretch_time", "warp_time") for name, _ in steps)
    # resample_poly rings by up to ~2.5 clock units on a 4,000-sample ramp, so the clock is
    # checked loosely after a resampling; the class of each mark is checked exactly
    tol = (0.5 * ratio + 3.0 if resampled else 0) + moving * 0.5 * 1.25 * max(ratio, 1) + 1e-6
    check_alignment(batch, tol, edge=40 if resampled else 0)


@pytest.mark.parametrize("name, kwargs", [
    ("crop_signals", {"length": 1500, "align": "center"}),
    ("crop_signals", {"length": 700, "align": 333}),
    ("pad_signals", {"length": 4000, "align": "right"}),
    ("pad_signals", {"length": 7000, "align": "center", "mode": "wrap"}),
    ("split_signals", {"length": 1000, "step": 700}),
    ("split_signals", {"length": 5000, "pad": True}),
    ("random_split_signals", {"length": 900, "n_segments": 4, "seed": 1}),
    ("random_crop_signals", {"length": 1111, "seed": 2}),
    ("stretch_time", {"max_stretch": 0.2, "seed": 3}),
    ("warp_time", {"max_warp": 0.2, "seed": 4}),
    ("resample_signals", {"fs": 360.0}),
    ("resample_signals", {"fs": 100.0}),
])
def test_each_action_alone(name, kwargs):
    batch = synthetic_batch([3000, 2500], seed=0)
    remember_marks(batch)
    batch = getattr(batch, name)(**kwargs)
    ratio = FS / kwargs["fs"] if name == "resample_signals" else 1.0
    tol = {"stretch_time": 0.65, "warp_time": 0.65}.get(name, 0.5 * ratio + 3.0 if ratio != 1 else 1e-9)
    assert check_alignment(batch, tol, edge=40 if ratio != 1 else 0) >= 10


@pytest.mark.parametrize("new_fs", [100.0, 360.0, 128.5])
def test_resampled_marks_keep_their_time(new_fs):
    batch = synthetic_batch([3000], seed=3)
    before = batch.annotation[0]["m"]["sample"].copy()
    batch.resample_signals(new_fs)
    after = batch.annotation[0]["m"]["sample"]
    assert len(after) == len(before)
    assert np.abs(after / new_fs - before / FS).max() <= 0.5 / new_fs + 1e-12


def test_split_windows_carry_their_own_mask_and_marks():
    """The reported defect: every window had the whole record's mask."""
    batch = synthetic_batch([5000], seed=1)
    batch.split_signals(1000)
    assert batch.signal[0].shape == (5, 2, 1000) and batch.target[0].shape == (5, 1000)
    for k in range(5):
        np.testing.assert_array_equal(batch.target[0][k], mark_class(np.arange(k * 1000, (k + 1) * 1000)))
    out = batch.unstack_signals()
    assert [len(a["m"]["sample"]) for a in out.annotation] == [len(a["sample"]) for a in batch.annotation[0]["m"]]


def test_random_crop_moves_real_beat_annotations(fixture_dir):
    """MIT-BIH 100: a 3,600-sample crop keeps only its own beats, on the same samples."""
    batch = EcgBatch(DatasetIndex(["100"])).load(src=str(fixture_dir / "mitdb"), fmt="wfdb",
                                                 components=["signal", "meta", "annotation"], ann_ext="atr")
    raw = batch.signal[0].copy()
    beats = batch.annotation[0]["atr"]["sample"].copy()
    batch.random_crop_signals(3600, seed=5)
    crop = batch.signal[0]
    candidates = np.flatnonzero(raw[0, :-3599] == crop[0, 0])
    start = next(int(c) for c in candidates if np.array_equal(raw[:, c:c + 3600], crop))
    np.testing.assert_array_equal(crop, raw[:, start:start + 3600])
    expected = beats[(beats >= start) & (beats < start + 3600)] - start
    np.testing.assert_array_equal(batch.annotation[0]["atr"]["sample"], expected)
    assert batch.meta[0]["n_samples"] == 3600


def test_ludb_mask_and_waves_follow_split_and_stretch(fixture_dir):
    """A real LUDB record: after split + stretch each window's mask still labels its QRS peaks."""
    batch = EcgBatch(DatasetIndex(["1"])).load(src=str(fixture_dir / "ludb"), fmt="wfdb",
                                               components=["signal", "meta", "annotation"], ann_ext="ii")
    batch.annotation_to_mask("ii")
    peaks = {}
    ann = batch.annotation[0]["ii"]
    for label, cls in (("N", 2), ("t", 3), ("p", 1)):
        peaks[cls] = ann["sample"][ann["symbol"] == label]
    batch.split_signals(1000).stretch_time(0.15, seed=7)
    assert batch.target[0].shape == (5, 1000)
    n_checked = 0
    for mask, seg_ann in zip(batch.target[0], batch.annotation[0]["ii"]):
        for label, cls in (("N", 2), ("t", 3), ("p", 1)):
            moved = seg_ann["sample"][seg_ann["symbol"] == label]
            # a peak annotated inside a complete wave keeps its wave's class
            inside = [s for s in moved if mask[s] != 0]
            assert all(mask[s] == cls for s in inside)
            n_checked += len(inside)
    assert n_checked >= 12


def test_unstack_refuses_whole_record_annotations_on_split_records():
    batch = synthetic_batch([2000], seed=2).split_signals(500)
    batch.annotation[0]["extra"] = {"sample": np.array([1]), "symbol": np.array(["N"])}
    with pytest.raises(Exception, match="not one per segment"):
        batch.unstack_signals()


def test_move_samples_against_brute_force():
    """The inverse map equals a brute-force nearest search over the output grid."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        n_out = int(rng.integers(5, 60))
        step = rng.uniform(0.3, 3.0)
        positions = rng.uniform(-5, 5) + step * np.arange(n_out)
        sample = rng.integers(-10, int(positions[-1]) + 10, size=30)
        moved, keep = alignment.move_samples(sample, positions)
        for s, kept in zip(sample, keep):
            inside = positions[0] - 0.5 * step <= s <= positions[-1] + 0.5 * step
            assert kept == inside
        np.testing.assert_array_equal(moved, [np.argmin(np.abs(positions - s) + 1e-9 * np.arange(n_out))
                                              for s in sample[keep]])


def test_wrap_padding_repeats_marks_with_each_copy():
    batch = synthetic_batch([1000], seed=4)
    marks = batch.annotation[0]["m"]["sample"].copy()
    batch.pad_signals(3500, align="left", mode="wrap")
    moved = batch.annotation[0]["m"]["sample"]
    expected = np.sort(np.concatenate([marks + k * 1000 for k in range(4)]))
    np.testing.assert_array_equal(moved, expected[expected < 3500])
    np.testing.assert_array_equal(batch.target[0], mark_class(np.arange(3500) % 1000))


def test_mirroring_pad_refuses_annotations():
    batch = synthetic_batch([1000], seed=4)
    with pytest.raises(Exception, match="mirrors samples"):
        batch.pad_signals(1500, mode="reflect")
