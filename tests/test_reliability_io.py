"""Headers, signal files, MAT/EDF files and annotations that are wrong without looking wrong.

Each case is built in tmp_path from a copy of a fixture record with one thing changed,
and must give a RecordError naming the record and the problem (so that
``load(on_error="skip")`` leaves it out and reports it), or values equal to wfdb's.
"""
import shutil
import tracemalloc

import numpy as np
import pytest
import wfdb

from ecg import EcgDataset
from ecg.errors import RecordError
from ecg.io import read_annotation, read_record
from ecg.io.wfdb_fast import DECODED, encode
from ecg.report import ErrorReport


def _copy(src, folder, name, exts=("dat",)):
    """Copy record ``src`` as ``folder/name`` (its files renamed in the header); return the path."""
    text = open(f"{src}.hea", encoding="latin-1").read()
    for ext in exts:
        shutil.copy(f"{src}.{ext}", folder / f"{name}.{ext}")
        text = text.replace(f"{src.name}.{ext}", f"{name}.{ext}")
    lines = text.splitlines()
    lines[0] = " ".join([name] + lines[0].split()[1:])
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n", encoding="latin-1")
    return folder / name


def _edit(path, old, new, count=1):
    hea = path.parent / f"{path.name}.hea"
    text = hea.read_text(encoding="latin-1")
    assert old in text
    hea.write_text(text.replace(old, new, count), encoding="latin-1")


@pytest.fixture()
def mitdb100(fixture_dir, tmp_path):
    return lambda name: _copy(fixture_dir / "mitdb/100", tmp_path, name)


@pytest.fixture()
def ludb1(fixture_dir, tmp_path):
    return lambda name: _copy(fixture_dir / "ludb/1", tmp_path, name)


@pytest.fixture()
def cinc(cinc_dir, tmp_path):
    return lambda name: _copy(cinc_dir / "A00001", tmp_path, name, exts=("mat",))


# --- non-ASCII bytes in a header ------------------------------------------------------------
@pytest.mark.parametrize("units", ["\u00b5V", "\u00b0C"])      # latin-1 bytes B5 and B0
def test_non_ascii_units_keep_the_other_fields(mitdb100, units):
    """'°' is no word character: the old parser lost the ADC zero after it (a 5.12 mV shift)."""
    path = mitdb100("units")
    _edit(path, "200 11 1024", f"200/{units} 11 1024", count=2)
    ref = wfdb.rdrecord(str(path))
    signal, meta = read_record(path)
    np.testing.assert_array_equal(signal, ref.p_signal.T.astype(np.float32))
    assert meta["units"] == [units, units]              # wfdb drops the byte: 'V' or 'C'


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_a_non_ascii_file_name_does_not_read_another_record(cinc_dir, tmp_path, encoding):
    """wfdb drops the 'Ä' of 'Ä0001.mat' and reads record 0001's samples."""
    _copy(cinc_dir / "A00001", tmp_path, "0001", exts=("mat",))
    other = _copy(cinc_dir / "A00002", tmp_path, "x", exts=("mat",))
    text = (tmp_path / "x.hea").read_text().replace("x.mat", "\u00c40001.mat").replace("x ", "\u00c40001 ", 1)
    (tmp_path / "\u00c40001.hea").write_bytes(text.encode(encoding))
    shutil.move(f"{other}.mat", tmp_path / "\u00c40001.mat")
    ref = wfdb.rdrecord(str(tmp_path / "\u00c40001"))
    np.testing.assert_array_equal(ref.p_signal, wfdb.rdrecord(str(tmp_path / "0001")).p_signal)   # the wrong one
    with pytest.raises(RecordError, match=r"'\u00c40001'.*record name .*has a non-ASCII character"):
        read_record(tmp_path / "\u00c40001")
    (tmp_path / "\u00c40001.hea").write_bytes(text.replace("\u00c40001 ", "y ", 1).encode(encoding))
    with pytest.raises(RecordError, match=r"'\u00c40001'.*signal line 1 .*file name .*has a non-ASCII character"):
        read_record(tmp_path / "\u00c40001")


# --- header fields ----------------------------------------------------------------------------
@pytest.mark.parametrize("old, new, problem", [
    (" 12 500 5000", " 1 500 5000", r"holds 120000 bytes, the header describes 10000 \(5000 samples x 1 signals"),
    (" 500 5000", " 500 1000", r"holds 120000 bytes, the header describes 24000 \(1000 samples x 12"),
    (" 16 ", " 8 ", r"holds 120000 bytes, the header describes 60000 .*format 8"),
    (" 16 ", " 80 ", r"holds 120000 bytes, the header describes 60000 .*format 80"),
    (" 16 ", " 24 ", r"truncated: the header needs 180000 bytes .*format 24"),
    (" 16 ", " 32 ", r"truncated: the header needs 240000 bytes .*format 32"),
    (" 16 ", " 212 ", r"holds 120000 bytes, the header describes 90000 .*format 212"),
])
def test_header_and_file_size_must_agree_exactly(ludb1, old, new, problem):
    """One of 12 interleaved signals declared, fewer samples, or another known format: the
    file is larger or smaller than the header says (only a shorter file was refused)."""
    path = ludb1("size")
    _edit(path, old, new, count=12 if old == " 16 " else 1)
    if old == " 12 500 5000":
        hea = path.parent / "size.hea"
        hea.write_text("\n".join(hea.read_text().splitlines()[:2]) + "\n")
    with pytest.raises(RecordError, match=rf"'size'.*{problem}"):
        read_record(path)


def test_mitdb_with_a_short_length_is_refused(mitdb100):
    path = mitdb100("short")
    _edit(path, " 360 650000", " 360 1000")
    assert wfdb.rdrecord(str(path)).sig_len == 1000        # wfdb reads the first 1000 samples
    with pytest.raises(RecordError, match=r"'short'.*holds 1950000 bytes, the header describes 3000"):
        read_record(path)


@pytest.mark.parametrize("fmt", DECODED)
@pytest.mark.parametrize("extra", [0, 4, -1])
def test_exact_size_with_a_byte_offset_in_every_format(fixture_dir, tmp_path, fmt, extra):
    bits = {"80": 8, "212": 12, "24": 24, "32": 32}.get(fmt, 16)
    digital = wfdb.rdrecord(str(fixture_dir / "mitdb/100"), sampto=1001, physical=False).d_signal - 1024
    data = b"\x07" * 13 + encode(digital[:, :1], fmt)               # 1001 samples of one signal, odd
    (tmp_path / "r.dat").write_bytes(data + b"\x00" * extra if extra >= 0 else data[:extra])   # +4: beyond padding
    (tmp_path / "r.hea").write_text(f"r 1 360 1001\nr.dat {fmt}+13 {2 ** (bits - 11) * 200} {bits} 0 0 0 0 a\n")
    if extra == 0:
        signal, _ = read_record(tmp_path / "r")
        np.testing.assert_array_equal(signal, wfdb.rdrecord(str(tmp_path / "r")).p_signal.T.astype(np.float32))
        return
    problem = "is truncated" if extra < 0 else f"holds {len(data) + extra} bytes"
    with pytest.raises(RecordError, match=rf"'r'.*r\.dat {problem}.*byte offset 13"):
        read_record(tmp_path / "r")


@pytest.mark.parametrize("field, problem", [
    ("0/mV", r"ADC gain '0/mV' \(an uncalibrated signal, which wfdb reads with the default gain 200\)"),
    ("abc/mV", r"malformed gain field 'abc/mV'"),
    ("1000(x)/mV", r"malformed gain field '1000\(x\)/mV'"),
    ("./mV", r"malformed gain field './mV'"),
    ("1000(-)/mV", r"malformed gain field '1000\(-\)/mV'"),
])
def test_malformed_gain_fields_are_record_errors(ludb1, field, problem):
    path = ludb1("gain")
    _edit(path, "1716(6)/mV", field)
    with pytest.raises(RecordError, match=rf"^record 'gain': header .*gain\.hea: signal line 1 .*{problem}"):
        read_record(path)


@pytest.mark.parametrize("old, new, problem", [
    ("gain.dat 16 ", "gain.dat 16+-24 ", r"malformed format field '16\+-24'"),
    ("gain.dat 16 ", "gain.dat 16x ", r"malformed format field '16x'"),
    ("/mV 0 0 -120", "/mV 0 zero -120", r"malformed ADC zero 'zero'"),
    (" 500 5000", " 500 5k", r"malformed signal length '5k'"),
    ("gain 12 ", "gain 13 ", r"declares 13 signals, the header describes 12"),
])
def test_malformed_format_and_integer_fields_are_record_errors(ludb1, old, new, problem):
    path = ludb1("gain")
    _edit(path, old, new)
    with pytest.raises(RecordError, match=rf"^record 'gain': header .*{problem}"):
        read_record(path)


def test_bad_headers_are_skipped_and_reported(ludb1):
    good = [ludb1("a"), ludb1("b")]
    for name, old, new in (("c", "1716(6)/mV", "./mV"), ("d", "1716(6)/mV", "1000(-)/mV"),
                           ("e", "e.dat 16 ", "e.dat 16+-24 "), ("f", "1716(6)/mV", "0/mV")):
        _edit(ludb1(name), old, new)
    ds = EcgDataset(path=str(good[0].parent / "*.hea"))
    report = ErrorReport()
    batch = ds.create_batch(ds.indices).load(fmt="wfdb", on_error="skip", report=report)
    assert list(batch.indices) == ["a", "b"]
    reasons = dict(report.records)
    assert sorted(reasons) == ["c", "d", "e", "f"] and "malformed gain field './mV'" in reasons["c"]


# --- CinC-style .mat files ------------------------------------------------------------------
def test_a_mat_header_claiming_a_billion_samples_allocates_nothing(cinc):
    path = cinc("huge")
    _edit(path, " 300 9000", " 300 1000000000")
    tracemalloc.start()
    with pytest.raises(RecordError, match=r"'huge'.*huge\.mat is not the MAT v4 signal matrix .*9000 samples "
                                          r"\(the header says 1000000000\)"):
        read_record(path)
    assert tracemalloc.get_traced_memory()[1] < 10 * 2 ** 20
    tracemalloc.stop()


def _mat_v4(path, variables):
    from scipy.io import savemat

    savemat(path, variables, format="4")


@pytest.mark.parametrize("kind, problem", [
    ("v5", r"'MATLAB 5.0 MAT-file' file: WFDB .mat records are MAT v4"),
    ("v7.3", r"'MATLAB 7.3 MAT-file' file"),
    ("hdf5", r"'HDF5' file"),
    ("other first", r"first variable 'aaa' \(expected 'val'\)"),
    ("float64", r"matrix type 0 \(expected 30: format 16\)"),
    ("random", r"not the MAT v4 signal matrix"),
])
def test_mat_files_must_be_wfdb_mat_v4(cinc, kind, problem):
    path = cinc("m")
    mat = path.parent / "m.mat"
    val = wfdb.rdrecord(str(path), physical=False).d_signal.T.astype(np.int16)
    size = mat.stat().st_size
    if kind == "v5":
        from scipy.io import savemat

        savemat(mat, {"val": val})
    elif kind in ("v7.3", "hdf5"):
        text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
        head = (text.ljust(116) + b"\x00" * 12) if kind == "v7.3" else b""
        mat.write_bytes((head.ljust(512, b"\x00") + b"\x89HDF\r\n\x1a\n").ljust(size, b"\x00")[:size]
                        if kind == "v7.3" else b"\x89HDF\r\n\x1a\n".ljust(size, b"\x00"))
    elif kind == "other first":
        _mat_v4(mat, {"aaa": np.zeros((1, 3), dtype=np.int16), "val": val})
    elif kind == "float64":
        _mat_v4(mat, {"val": val.astype(np.float64)})
    else:
        mat.write_bytes(np.random.default_rng(0).bytes(size))
    with pytest.raises(RecordError, match=rf"'m'.*{problem}"):
        read_record(path)


def test_a_scipy_mat_v4_int16_file_reads(cinc):
    path = cinc("ok")
    val = wfdb.rdrecord(str(path), physical=False).d_signal.T.astype(np.int16)
    _mat_v4(path.parent / "ok.mat", {"val": val})
    signal, _ = read_record(path)
    np.testing.assert_array_equal(signal, wfdb.rdrecord(str(path)).p_signal.T.astype(np.float32))


# --- EDF --------------------------------------------------------------------------------------
@pytest.fixture()
def edf100(fixture_dir, tmp_path):
    from wfdb.io.convert.edf import wfdb_to_edf

    for ext in ("hea", "dat"):
        shutil.copy(fixture_dir / f"mitdb/100.{ext}", tmp_path)
    wfdb_to_edf(str(tmp_path / "100"), output_filename=str(tmp_path / "r.edf"))
    return tmp_path / "r.edf"


def _patch(path, offset, text, width=8):
    data = bytearray(path.read_bytes())
    data[offset:offset + width] = text.ljust(width).encode()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("duration", ["0", "-1"])
def test_edf_record_duration_must_be_positive(edf100, duration):
    from wfdb.io.convert.edf import read_edf

    _patch(edf100, 244, duration)
    assert read_edf(str(edf100)).fs != 360                    # wfdb reads it as 1 s
    with pytest.raises(RecordError, match=rf"'r\.edf'.*data record duration '{duration}' s is not positive"):
        read_record(edf100)


def test_edf_physical_min_equal_to_max_is_an_error(edf100):
    n_sig = int(edf100.read_bytes()[252:256])
    pmin = edf100.read_bytes()[256 + n_sig * 104:256 + n_sig * 104 + 8].decode()
    _patch(edf100, 256 + n_sig * 112, pmin)                   # physical max of signal 0 := its min
    with pytest.raises(RecordError, match=r"'r\.edf'.*signal 0 \('MLII'\) has physical minimum equal to its maximum"):
        read_record(edf100)


def test_edf_cut_is_an_error(edf100):
    data = edf100.read_bytes()
    edf100.write_bytes(data[:-100])
    with pytest.raises(RecordError, match=r"'r\.edf'.*truncated or its header is wrong"):
        read_record(edf100)


# --- annotations ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(40))
def test_random_annotation_bytes_are_refused_or_valid(fixture_dir, tmp_path, seed):
    """Random bytes (ending with the end-of-file word, so the truncation check alone passes):
    either an error naming the record, or annotations that are sorted and inside the signal."""
    _copy(fixture_dir / "mitdb/100", tmp_path, "rnd")
    rng = np.random.default_rng(seed)
    (tmp_path / "rnd.atr").write_bytes(rng.bytes(2 * int(rng.integers(1, 200))) + b"\x00\x00")
    try:
        ann = read_annotation(tmp_path / "rnd", "atr", n_samples=650000)
    except RecordError as exc:
        assert "'rnd'" in str(exc) and "rnd.atr" in str(exc)
        return
    sample = ann["sample"]
    assert (np.diff(sample) >= 0).all() and (sample >= 0).all() and (sample < 650000).all()
    assert len(sample) == len(ann["symbol"]) == len(ann["aux_note"])


def test_annotations_beyond_the_signal_are_refused_by_load(fixture_dir, tmp_path):
    from batchflow import SkipBatchException

    base = _copy(fixture_dir / "mitdb/100", tmp_path, "far", exts=("dat", "atr"))
    _edit(base, " 360 650000", " 360 649000")
    (tmp_path / "far.dat").write_bytes((tmp_path / "far.dat").read_bytes()[:649000 * 3])
    ds = EcgDataset(path=str(tmp_path / "*.hea"))
    with pytest.raises(RecordError, match=r"'far'.*annotation \d+ is at sample 649\d+, the signal has 649000"):
        ds.create_batch(ds.indices).load(fmt="wfdb", components=["signal", "annotation"], ann_ext="atr")
    report = ErrorReport()
    with pytest.raises(SkipBatchException):
        ds.create_batch(ds.indices).load(fmt="wfdb", components=["signal", "annotation"], ann_ext="atr",
                                         on_error="skip", report=report)
    assert "the signal has 649000 samples" in dict(report.records)["far"]
