"""Loaders against wfdb's own readers, on real records; every bad record names itself."""
import shutil

import numpy as np
import pytest
import wfdb

from ecg.errors import EcgError, LabelError, RecordError
from ecg.io import read_annotation, read_header_meta, read_labels, read_npz, read_record, write_npz
from ecg.io.labels import labels_for


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
