"""Loaders against wfdb's own readers, on real records; every bad record names itself."""
import shutil
import struct

import numpy as np
import pytest
import wfdb

from ecg.errors import ConfigError, EcgError, LabelError, RecordError
from ecg.io import read_annotation, read_header_meta, read_labels, read_npz, read_record, write_npz
from ecg.io.labels import labels_for
from ecg.io.wfdb_fast import parse_header


@pytest.mark.parametrize("record", ["cinc2017/A00001", "cinc2017/A00054", "mitdb/201", "ludb/3",
                                    "qtdb/sel100", "ptbxl/records500/00000/00001_hr"])
def test_signal_equals_rdrecord(fixture_dir, record):
    signal, meta = read_record(fixture_dir / record)
    ref = wfdb.rdrecord(str(fixture_dir / record))
    assert signal.dtype == np.float32
    assert signal.shape == (ref.n_sig, ref.sig_len)
    np.testing.assert_array_equal(signal, ref.p_signal.T.astype(np.float32))
    assert meta["fs"] == ref.fs and meta["sig_name"] == ref.sig_name and meta["units"] == ref.units
    assert meta["n_samples"] == ref.sig_len


def test_channels_and_header_path(fixture_dir):
    signal, meta = read_record(str(fixture_dir / "mitdb/100.hea"), channels=[1])
    ref = wfdb.rdrecord(str(fixture_dir / "mitdb/100"), channels=[1])
    np.testing.assert_array_equal(signal, ref.p_signal.T.astype(np.float32))
    assert meta["sig_name"] == ["V5"] and meta["record"] == "100"


def test_demographics_from_header_comments(fixture_dir):
    meta = read_header_meta(fixture_dir / "ludb/1")
    assert meta["age"] == 51 and meta["sex"] == "F"
    assert "age" not in read_header_meta(fixture_dir / "cinc2017/A00001")


def test_edf_equals_source_record(fixture_dir, tmp_path):
    from wfdb.io.convert.edf import read_edf, wfdb_to_edf

    for ext in ("hea", "dat"):
        shutil.copy(fixture_dir / f"mitdb/100.{ext}", tmp_path)
    wfdb_to_edf(str(tmp_path / "100"), output_filename=str(tmp_path / "r100.edf"))
    signal, meta = read_record(tmp_path / "r100.edf")
    ref = read_edf(str(tmp_path / "r100.edf"))
    assert meta["record"] == "r100" and meta["fs"] == 360 and meta["sig_name"] == ["MLII", "V5"]
    np.testing.assert_array_equal(signal, ref.p_signal.T.astype(np.float32))
    # lead MLII survives the WFDB -> EDF round trip to EDF's precision (EDF pads the last block)
    source = wfdb.rdrecord(str(fixture_dir / "mitdb/100"))
    np.testing.assert_allclose(signal[0, :source.sig_len], source.p_signal[:, 0], atol=6e-3)


def test_annotations_equal_rdann(fixture_dir):
    ann = read_annotation(fixture_dir / "mitdb/208", "atr")
    ref = wfdb.rdann(str(fixture_dir / "mitdb/208"), "atr")
    np.testing.assert_array_equal(ann["sample"], ref.sample)
    assert list(ann["symbol"]) == ref.symbol
    assert list(ann["aux_note"]) == [note.rstrip("\x00") for note in ref.aux_note]
    assert {"(N", "(T"} <= set(ann["aux_note"])


def _copy_record(src, dst_dir, name, ext):
    for e in ("hea", ext):
        shutil.copy(f"{src}.{e}", dst_dir / f"{name}.{e}")
    header = (dst_dir / f"{name}.hea").read_text()
    (dst_dir / f"{name}.hea").write_text(header.replace(src.name, name))
    return dst_dir / name


def _skip(interval):
    """A WFDB SKIP field: code 59, then the signed 32-bit interval as its high and low 16-bit words."""
    value = interval & 0xFFFFFFFF
    return struct.pack("<HHH", 59 << 10, value >> 16, value & 0xFFFF)


@pytest.fixture
def atr_100(fixture_dir, tmp_path):
    """The bytes of MIT-BIH 100.atr, and a writer of (corrupted) copies of it in tmp_path."""
    real = (fixture_dir / "mitdb/100.atr").read_bytes()
    # Layout the patches below rely on (16-bit little-endian words, code << 10 | interval):
    # '+' (code 28) at sample 18, its AUX field "(N" (code 63, 3 bytes, 2 words), 'N' (code 1)
    # 59 samples later at 77, 'N' 293 samples later at 370; the file ends with the zero word.
    assert struct.unpack("<6H", real[:12]) == (28 << 10 | 18, 63 << 10 | 3, 0x4E28, 0, 1 << 10 | 59, 1 << 10 | 293)
    assert real[-2:] == b"\x00\x00" and len(real) == 4558

    def write(name, content):
        base = _copy_record(fixture_dir / "mitdb/100", tmp_path, name, "atr")
        (tmp_path / f"{name}.atr").write_bytes(content)
        return base

    return real, write


def test_annotations_inside_the_signal(fixture_dir):
    ref = wfdb.rdann(str(fixture_dir / "mitdb/100"), "atr")
    assert len(ref.sample) == 2274 and ref.sample[-1] == 649991
    ann = read_annotation(fixture_dir / "mitdb/100", "atr", n_samples=649992)
    np.testing.assert_array_equal(ann["sample"], ref.sample)
    with pytest.raises(RecordError, match=r"'100'.*100\.atr.*annotation 2273 is at sample 649991, the signal has "
                                          r"649991 samples"):
        read_annotation(fixture_dir / "mitdb/100", "atr", n_samples=649991)


def test_annotation_beyond_the_signal(atr_100, tmp_path):
    real, write = atr_100
    base = write("far", real[:-4] + _skip(10 ** 6) + real[-4:])   # SKIP before the last annotation
    assert wfdb.rdann(str(base), "atr").sample[-1] == 649991 + 10 ** 6
    assert read_annotation(base, "atr")["sample"][-1] == 649991 + 10 ** 6   # no length given: no bound
    with pytest.raises(RecordError, match=r"'far'.*far\.atr.*annotation 2273 is at sample 1649991"):
        read_annotation(base, "atr", n_samples=650000)
    # files written by wfdb itself: the last sample of the signal is inside, the next one is not;
    # two annotations at one sample (a rhythm change on a beat) are in time order
    for last, fits in ((649999, True), (650000, False)):
        wfdb.wrann("w", "atr", sample=np.array([18, 18, last]), symbol=["+", "N", "V"], aux_note=["(AFIB", "", ""],
                   fs=360, write_dir=str(tmp_path))
        if fits:
            ann = read_annotation(tmp_path / "w", "atr", n_samples=650000)
            assert ann["sample"].tolist() == [18, 18, last] and ann["symbol"].tolist() == ["+", "N", "V"]
            assert ann["aux_note"].tolist() == ["(AFIB", "", ""]
        else:
            with pytest.raises(RecordError, match=r"'w'.*annotation 2 is at sample 650000, the signal has 650000"):
                read_annotation(tmp_path / "w", "atr", n_samples=650000)


# Cuts at which wfdb.rdann returns fewer annotations without any error.
_SILENT_CUTS = (0, 2, 100, 3000, 4556)


@pytest.mark.parametrize("cut", [0, 1, 2, 8, 9, 10, 12, 100, 2279, 3000, 4556, 4557])
def test_truncated_annotation_is_an_error(atr_100, cut):
    real, write = atr_100
    base = write("cut", real[:cut])
    if cut in _SILENT_CUTS:
        assert len(wfdb.rdann(str(base), "atr").sample) < 2274
    with pytest.raises(RecordError, match=r"'cut': annotation file .*cut\.atr is truncated: "):
        read_annotation(base, "atr")


@pytest.mark.parametrize("record, ext, cuts", [("fixture/mitdb/100", "atr", [*range(400), *range(4300, 4558)]),
                                               ("wfdb-sample-data/12726", "anI", range(698))])
def test_every_cut_of_an_annotation_file_is_an_error(fixture_dir, tmp_path, record, ext, cuts):
    """Cut after any byte, a file is refused, though rdann silently returns fewer annotations at many cuts."""
    base = fixture_dir.parent / record
    real = base.parent.joinpath(f"{base.name}.{ext}").read_bytes()
    n_annotations = len(wfdb.rdann(str(base), ext).sample)
    silent = 0
    for cut in cuts:
        path = tmp_path / f"c{cut}.{ext}"
        path.write_bytes(real[:cut])
        try:
            silent += len(wfdb.rdann(str(tmp_path / f"c{cut}"), ext).sample) < n_annotations
        except Exception:
            pass
        with pytest.raises(RecordError, match=rf"'c{cut}': annotation file .*c{cut}\.{ext} is truncated: "):
            read_annotation(tmp_path / f"c{cut}", ext)
        path.unlink()
    assert silent > 20


def test_annotation_fields_must_agree(atr_100):
    real, write = atr_100
    base = write("twoaux", real[:8] + real[2:8] + real[8:])    # the first annotation's AUX field twice
    ref = wfdb.rdann(str(base), "atr")
    assert (len(ref.sample), len(ref.symbol), len(ref.aux_note)) == (2274, 2274, 2275)
    with pytest.raises(RecordError, match=r"'twoaux'.*twoaux\.atr is corrupted: annotation 0 \(sample 18\) has "
                                          r"two AUX fields"):
        read_annotation(base, "atr")


def test_negative_annotation_sample(atr_100):
    real, write = atr_100
    base = write("early", _skip(-100) + real)
    assert wfdb.rdann(str(base), "atr").sample[0] == -82
    with pytest.raises(RecordError, match=r"'early'.*early\.atr: annotation 0 is at negative sample -82"):
        read_annotation(base, "atr")


def test_annotations_out_of_time_order(atr_100):
    real, write = atr_100
    base = write("unsorted", real[:10] + _skip(-300) + real[10:])   # before the annotation at 370
    assert wfdb.rdann(str(base), "atr").sample[:3].tolist() == [18, 77, 70]
    with pytest.raises(RecordError, match=r"'unsorted'.*unsorted\.atr: annotation 2 at sample 70 comes before "
                                          r"annotation 1 at sample 77"):
        read_annotation(base, "atr")


@pytest.mark.parametrize("n_samples", [0, -1, 2.5, True, "650000"])
def test_annotation_length_must_be_a_positive_count(fixture_dir, n_samples):
    with pytest.raises(ConfigError, match="n_samples"):
        read_annotation(fixture_dir / "mitdb/100", "atr", n_samples=n_samples)


def test_missing_files_name_the_record(fixture_dir, tmp_path):
    with pytest.raises(RecordError, match=r"'nothere'.*header file not found"):
        read_record(tmp_path / "nothere")
    base = _copy_record(fixture_dir / "mitdb/100", tmp_path, "r1", "dat")
    (tmp_path / "r1.dat").unlink()
    with pytest.raises(RecordError, match=r"'r1'.*signal file not found"):
        read_record(base)
    with pytest.raises(RecordError, match=r"'r1'.*annotation file not found"):
        read_annotation(base, "atr")


def test_truncated_dat_is_an_error(fixture_dir, tmp_path):
    base = _copy_record(fixture_dir / "mitdb/100", tmp_path, "cut", "dat")
    data = (tmp_path / "cut.dat").read_bytes()
    (tmp_path / "cut.dat").write_bytes(data[:len(data) // 2])
    with pytest.raises(RecordError, match=r"'cut'.*truncated.*1950000 bytes"):
        read_record(base)


def test_truncated_mat_is_an_error(cinc_dir, tmp_path):
    base = _copy_record(cinc_dir / "A00001", tmp_path, "cutmat", "mat")
    data = (tmp_path / "cutmat.mat").read_bytes()
    (tmp_path / "cutmat.mat").write_bytes(data[:len(data) // 3])
    with pytest.raises(RecordError, match=r"'cutmat'"):
        read_record(base)


def test_header_signal_mismatch(cinc_dir, tmp_path):
    base = _copy_record(cinc_dir / "A00001", tmp_path, "longer", "mat")
    header = (tmp_path / "longer.hea").read_text().replace(" 9000 ", " 9600 ")
    (tmp_path / "longer.hea").write_text(header)
    with pytest.raises(RecordError, match=r"'longer'"):
        read_record(base)


def test_headerless_reference_csv(cinc_dir):
    labels = read_labels(cinc_dir / "REFERENCE.csv")
    assert len(labels) == 40 and labels["A00001"] == "N"
    assert sorted(labels.value_counts().to_dict().items()) == [("A", 10), ("N", 10), ("O", 10), ("~", 10)]
    with pytest.raises(LabelError, match="B99999"):
        labels_for(labels, ["A00001", "B99999"], "REFERENCE.csv")


def test_headed_csv_with_named_columns(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("id,age,rhythm\nA00001,40,N\nA00002,50,A\n")
    labels = read_labels(path, index_col="id", label_col="rhythm")
    assert labels.to_dict() == {"A00001": "N", "A00002": "A"}
    with pytest.raises(EcgError, match="no column 'label'.*id"):
        read_labels(path, index_col="id", label_col="label")


def test_npz_round_trip(fixture_dir, tmp_path):
    signal, meta = read_record(fixture_dir / "mitdb/100")
    ann = {"atr": read_annotation(fixture_dir / "mitdb/100", "atr")}
    write_npz(tmp_path / "100.npz", signal=signal, annotation=ann, meta=meta, target="N")
    back = read_npz(tmp_path / "100.npz")
    np.testing.assert_array_equal(back["signal"], signal)
    assert back["meta"] == meta and back["target"] == "N"
    np.testing.assert_array_equal(back["annotation"]["atr"]["sample"], ann["atr"]["sample"])
    assert list(back["annotation"]["atr"]["symbol"]) == list(ann["atr"]["symbol"])
    assert not list(tmp_path.glob(".tmp-*"))


def test_every_fixture_annotation_file_equals_rdann(fixture_dir):
    leads = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
    files = [p for p in fixture_dir.rglob("*") if p.suffix[1:] in
             ("atr", "q1c", "q2c", "pu", "pu0", "pu1", "qt1", "qt2", "man") + leads]
    assert len(files) > 130
    for path in files:
        base, ext = path.with_suffix(""), path.suffix[1:]
        ref = wfdb.rdann(str(base), ext)
        ann = read_annotation(base, ext, with_chan=True)
        np.testing.assert_array_equal(ann["sample"], ref.sample, err_msg=str(path))
        np.testing.assert_array_equal(ann["chan"], ref.chan, err_msg=str(path))
        assert ann["symbol"].tolist() == ref.symbol, path
        assert ann["aux_note"].tolist() == [note.rstrip("\x00") for note in ref.aux_note], path


@pytest.mark.parametrize("invalid", ["interpolate", "zero", "keep"])
def test_load_reads_records_with_gaps_by_the_invalid_policy(fixture_dir, tmp_path, invalid):
    """MIMIC-style segment 3234460_0006 has 63 invalid samples in 5 gaps (wfdb: NaN)."""
    from ecg import EcgDataset
    from ecg.io import invalid_mask

    sample = fixture_dir.parent / "wfdb-sample-data/multi-segment/s25047"
    for ext in ("hea", "dat"):
        shutil.copy(sample / f"3234460_0006.{ext}", tmp_path)
    ref = wfdb.rdrecord(str(tmp_path / "3234460_0006")).p_signal.T.astype(np.float32)
    nan = np.isnan(ref)
    ds = EcgDataset(path=str(tmp_path / "*.hea"))
    with pytest.raises(RecordError, match=r"'3234460_0006'.*non-finite sample .*lead 0 at sample 399"):
        ds.create_batch(ds.indices).load(fmt="wfdb")
    batch = ds.create_batch(ds.indices).load(fmt="wfdb", invalid=invalid)
    signal, meta = batch.signal[0], batch.meta[0]
    assert nan.sum() == 63 and len(meta["invalid_runs"]) == 5
    np.testing.assert_array_equal(invalid_mask(meta), nan)
    np.testing.assert_array_equal(signal[~nan], ref[~nan])
    if invalid == "keep":
        assert np.isnan(signal[nan]).all()
    elif invalid == "zero":
        assert (signal[nan] == 0).all()
    else:
        lead, start, stop = meta["invalid_runs"][0]
        expected = np.interp(np.arange(start, stop), [start - 1, stop], ref[lead, [start - 1, stop]])
        np.testing.assert_allclose(signal[lead, start:stop], expected, rtol=1e-6)
    write_npz(tmp_path / "c.npz", signal=signal, meta=meta)
    assert read_npz(tmp_path / "c.npz")["meta"]["invalid_runs"] == meta["invalid_runs"]
    with pytest.raises(ConfigError, match="invalid"):
        read_record(tmp_path / "3234460_0006", invalid="drop")


@pytest.mark.parametrize("record, n_headers", [("flacformats", 1), ("binformats", 1), ("100skew", 1),
                                               ("multi-segment/fixed1/v102s", 4),
                                               ("multi-segment/s25047/s25047-2704-05-04-10-44", 20)])
def test_each_header_is_parsed_once(fixture_dir, monkeypatch, record, n_headers):
    """Records wfdb decodes (FLAC, difference formats) and multi-segment records included."""
    import ecg.io.records as records

    parsed = []
    monkeypatch.setattr(records, "parse_header", lambda text: parsed.append(text) or parse_header(text))
    monkeypatch.setattr(wfdb, "rdheader", lambda *args, **kwargs: pytest.fail("wfdb parsed a header"))
    read_record(fixture_dir.parent / "wfdb-sample-data" / record, invalid="keep")
    assert len(parsed) == len(set(parsed)) == n_headers
