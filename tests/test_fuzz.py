"""Property-based fuzzing: bad headers, annotations, label tables and op inputs raise ecg errors only.

The Hypothesis settings come from the profile tests/conftest.py loads ("ci": the same
examples on every run; ``HYPOTHESIS_PROFILE=long``: many more random ones); no test here
sets its own, so none can undo the profile's derandomisation or example count.
"""
import itertools
import os
import shutil
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ecg.errors import EcgError
from ecg.io import read_annotation, read_labels, read_record
from ecg.ops import crop, pad, random_split, split
from ecg.ops.filters import band_pass, fir_band_pass, notch, remove_baseline
from ecg.ops.normalize import clip, normalize
from ecg.ops.resample import resample

_names = (f"f{i}" for i in itertools.count())


def test_profile_is_derandomized_unless_long():
    profile = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    assert settings.get_current_profile_name() == profile
    assert settings.default.derandomize == (profile == "ci")
    drawn = []

    @given(st.integers())
    def draw(value):
        drawn.append(value)

    draw()
    first, drawn[:] = list(drawn), []
    draw()
    assert (drawn == first) == (profile == "ci")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, fixture_dir):
    """A folder with copies of a .mat (CinC 2017), a format-16 .dat (LUDB) and a .atr (MIT-BIH) record."""
    folder = tmp_path_factory.mktemp("fuzz")
    for src, exts in (("cinc2017/A00001", ("hea", "mat")), ("ludb/1", ("hea", "dat")),
                      ("mitdb/100", ("hea", "atr"))):
        for ext in exts:
            shutil.copy(fixture_dir / f"{src}.{ext}", folder / f"{src.split('/')[1]}.{ext}")
    return folder


def _mutate(text, data):
    """A copy of header ``text`` with a few tokens replaced, dropped or duplicated."""
    lines = [line.split(" ") for line in text.splitlines()]
    junk = st.one_of(st.sampled_from(["0", "-1", "nan", "1e999", "", "16", "999", "x", "212", "1/0",
                                      "300(", "(0)", "-250", "9" * 30, "A00001.dat", "\x00"]),
                     st.integers(-10 ** 12, 10 ** 12).map(str), st.text(max_size=8))
    for _ in range(data.draw(st.integers(1, 4))):
        row = data.draw(st.integers(0, len(lines) - 1))
        if not lines[row]:
            continue
        col = data.draw(st.integers(0, len(lines[row]) - 1))
        action = data.draw(st.sampled_from(["replace", "drop", "dup_line", "drop_line"]))
        if action == "replace":
            lines[row][col] = data.draw(junk)
        elif action == "drop":
            del lines[row][col]
        elif action == "dup_line":
            lines.insert(row, list(lines[row]))
        elif len(lines) > 1:
            del lines[row]
    return "\n".join(" ".join(line) for line in lines) + "\n"


def _read_or_ecg_error(read, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read(*args, **kwargs)
        except EcgError:
            return None


@given(data=st.data(), record=st.sampled_from(["A00001", "1"]))
def test_mutated_headers_give_a_record_or_a_record_error(workdir, data, record):
    name = next(_names)
    signal_ext = "mat" if record == "A00001" else "dat"
    text = (workdir / f"{record}.hea").read_text().replace(f"{record}.{signal_ext}", f"{name}.{signal_ext}")
    text = text.replace(record, name, 1)
    (workdir / f"{name}.hea").write_text(_mutate(text, data))
    (workdir / f"{name}.{signal_ext}").symlink_to(workdir / f"{record}.{signal_ext}")
    out = _read_or_ecg_error(read_record, workdir / name)
    if out is not None:
        signal, meta = out
        assert signal.dtype == np.float32 and np.isfinite(signal).all()
        assert meta["fs"] > 0 and signal.shape[1] == meta["n_samples"]


@given(text=st.text(max_size=300))
def test_random_header_text_gives_a_record_error_or_a_record(workdir, text):
    name = next(_names)
    (workdir / f"{name}.hea").write_text(text)
    (workdir / f"{name}.dat").symlink_to(workdir / "1.dat")
    _read_or_ecg_error(read_record, workdir / name)


@given(data=st.data())
def test_random_or_truncated_annotations_raise_record_errors_only(workdir, data):
    name = next(_names)
    real = (workdir / "100.atr").read_bytes()
    patch = st.tuples(st.integers(0, len(real) - 2), st.binary(min_size=1, max_size=20))
    content = data.draw(st.one_of(
        st.binary(max_size=400),
        st.integers(0, len(real)).map(lambda n: real[:n]),
        patch.map(lambda cut: real[:cut[0]] + cut[1] + real[cut[0] + len(cut[1]):4000]),
        # whole files with their end-of-file word, so that wfdb parses them and the checks
        # after parsing (counts, order, bounds) are what stands between them and the caller
        st.binary(max_size=400).map(lambda junk: junk[:len(junk) // 2 * 2] + b"\x00\x00"),
        patch.map(lambda cut: real[:cut[0]] + cut[1] + real[cut[0] + len(cut[1]):-2] + b"\x00\x00"),
        patch.map(lambda cut: real[:cut[0]] + cut[1] + real[cut[0]:])))
    shutil.copy(workdir / "100.hea", workdir / f"{name}.hea")
    (workdir / f"{name}.atr").write_bytes(content)
    out = _read_or_ecg_error(read_annotation, workdir / name, "atr", n_samples=650000)
    if out is not None:
        assert len(out["sample"]) == len(out["symbol"]) == len(out["aux_note"])
        assert np.all(out["sample"] >= 0) and np.all(np.diff(out["sample"]) >= 0)
        assert np.all(out["sample"] < 650000)


_cells = st.one_of(st.sampled_from(["A00001", "N", "A", "", " ", '"', "a,b", "#", "NaN", "\t"]),
                   st.text(max_size=6))


@given(rows=st.lists(st.lists(_cells, max_size=4), max_size=8), raw=st.binary(max_size=60),
       use_raw=st.booleans(), headed=st.booleans())
def test_random_label_tables_give_labels_or_an_ecg_error(tmp_path_factory, rows, raw, use_raw, headed):
    path = tmp_path_factory.getbasetemp() / f"{next(_names)}.csv"
    if use_raw:
        path.write_bytes(raw)
    else:
        path.write_text("\n".join(",".join(row) for row in rows))
    kwargs = {"index_col": "id", "label_col": "label"} if headed else {}
    labels = _read_or_ecg_error(read_labels, path, **kwargs)
    if labels is not None:
        assert labels.index.is_unique
        assert all(isinstance(v, str) for v in labels.index) and all(isinstance(v, str) for v in labels)


_dtypes = st.sampled_from([np.float32, np.float64, np.int16, np.int32, np.bool_])
_rates = st.one_of(st.sampled_from([0, -1, -360.0, np.nan, np.inf, 1e-9, 1, 50, 250, 360, 500]),
                   st.floats(1, 2000), st.just("300"), st.none())


def _signals(min_dims=1, max_dims=3):
    shapes = hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=4).flatmap(
        lambda shape: st.integers(0, 400).map(lambda n: shape[:-1] + (n,)))
    return st.one_of(
        st.tuples(_dtypes, shapes).flatmap(lambda spec: hnp.arrays(spec[0], spec[1])),
        shapes.flatmap(lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(-5, 5))),
        st.sampled_from([np.zeros(0), np.zeros((1, 1)), np.array(1.0), np.array([np.nan] * 50), [1, 2, 3],
                         np.zeros((2, 1, 300), dtype=complex), np.array(["a"] * 10)]))


def _call(op, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return op(*args, **kwargs)
        except EcgError:
            return None


@given(x=_signals(), fs=_rates, low=st.sampled_from([None, 0.5, 5, -1, 0]),
       high=st.sampled_from([None, 40, 100, 1e6]))
def test_filters_raise_ecg_errors_only(x, fs, low, high):
    for op, kwargs in ((band_pass, {"low": low, "high": high}), (fir_band_pass, {"low": low, "high": high}),
                       (notch, {"freq": 50}), (remove_baseline, {}), (remove_baseline, {"method": "highpass"})):
        out = _call(op, x, fs, **kwargs)
        if out is not None:
            assert out.shape == np.shape(x)
            if np.abs(np.asarray(x, dtype=float)).max() < 1e6:      # no float32 overflow near 3e38
                assert np.isfinite(out).all()


@given(x=_signals(), fs=_rates, new_fs=_rates)
@example(x=np.zeros(64, np.float32), fs=293.8040461354632, new_fs=1741.8112413339716)  # once took 194 GiB
def test_resample_raises_ecg_errors_only(x, fs, new_fs):
    out = _call(resample, x, fs, new_fs)
    if out is not None:
        assert out.shape[:-1] == np.shape(x)[:-1]


@given(x=_signals(), method=st.sampled_from(["zscore", "minmax", "robust", "l2"]),
       axis=st.sampled_from(["lead", "record", 0]), low=st.sampled_from([None, -1, 1]))
def test_normalize_and_clip_raise_ecg_errors_only(x, method, axis, low):
    out = _call(normalize, x, method=method, axis=axis)
    if out is not None:
        assert out.shape == np.shape(x) and np.isfinite(out).all()
    _call(clip, x, low, 0)


@given(x=_signals(), length=st.sampled_from([0, 1, 7, 100, -5, 2.5, None]),
       step=st.sampled_from([None, 1, 50, 0, -1]), align=st.sampled_from(["left", "center", "middle", 3]))
def test_segments_raise_ecg_errors_only(x, length, step, align):
    rng = np.random.default_rng(0)
    _call(pad, x, length, align=align if isinstance(align, str) else "left")
    _call(crop, x, length, align=align)
    out = _call(split, x, length, step=step)
    if out is not None:
        assert out.shape[-1] == length and out.ndim == 4
    _call(random_split, x, length, 2, rng)
