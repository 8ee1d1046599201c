"""Every record and annotation file of wfdb-python's own sample data, read by ecg and by wfdb.

For each one ecg gives what ``wfdb.rdrecord`` / ``wfdb.rdann`` give (shape, values, NaN
where wfdb has NaN, fs, units, names; annotation samples, symbols, aux notes, channels),
or a RecordError naming the record and the missing file or feature. The expected errors
are listed one by one below; any other record must read equal.
"""
import re

import numpy as np
import pytest
import wfdb

from ecg.errors import RecordError
from ecg.io import read_annotation, read_header_meta, read_record
from tests.conftest import SHARED_DATA

SAMPLE = SHARED_DATA / "wfdb-sample-data"
_MISSING = "signal file not found: .*{}"
# record (path in SAMPLE) -> what ecg must say; wfdb fails on each of these too (a file
# missing from this copy, see its README) or, for test_edfann.edf, reads text as a signal
EXPECTED_ERRORS = {
    "1003": _MISSING.format(r"1003\.dat"),
    "12726": _MISSING.format(r"12726\.dat"),
    "drive02": _MISSING.format(r"drive02\.dat"),
    "drive02-no-len": _MISSING.format(r"drive02\.dat"),
    "n16": _MISSING.format(r"n16\.dat"),
    "n8_evoked_raw_95_F1_R9": _MISSING.format(r"n8_evoked_raw_95_F1_R9\.dat"),
    "wave_4": _MISSING.format(r"wave_4\.dat"),
    "multi-segment/s00001/3975656_0009": _MISSING.format(r"3975656_0009\.dat"),
    "multi-segment/s00001/3975656_0010": _MISSING.format(r"3975656_0010\.dat"),
    "multi-segment/s00001/3975656_0011": _MISSING.format(r"3975656_0011\.dat"),
    "multi-segment/s00001/s00001-2896-10-10-00-31": _MISSING.format(r"3975656_0009\.dat"),
    "multi-segment/p000878/p000878-2137-10-26-16-57": "header file not found: .*3269321_0003",
    "multi-segment/p000878/3269321_layout": "layout header of a multi-segment record",
    "multi-segment/s00001/3248903_layout": "layout header of a multi-segment record",
    "multi-segment/s00001/3975656_layout": "layout header of a multi-segment record",
    "multi-segment/s25047/3234460_layout": "layout header of a multi-segment record",
    "test_edfann.edf": "holds only EDF\\+ annotation channels",
}
ANNOTATIONS = [("03700181", "gqrsh"), ("03700181", "gqrsl"), ("03700181", "sqrs"), ("100", "atr"),
               ("100", "qrs"), ("1003", "atr"), ("12726", "anI"), ("12726", "wabp"), ("12726", "wqrs"),
               ("huge", "qrs")]


def _records():
    heads = sorted(str(p.relative_to(SAMPLE))[:-4] for p in SAMPLE.rglob("*.hea"))
    return heads + sorted(p.name for p in SAMPLE.glob("*.edf"))


def test_the_sample_data_is_complete():
    records = _records()
    assert len(records) == 90 and set(EXPECTED_ERRORS) <= set(records)
    assert {p.suffix for p in SAMPLE.iterdir()} >= {".atr", ".qrs", ".wabp", ".anI", ".mat", ".edf"}


def _reference(base):
    if base.endswith(".edf"):
        from wfdb.io.convert.edf import read_edf

        return read_edf(base)
    return wfdb.rdrecord(base)


@pytest.mark.parametrize("record", _records())
def test_record_equals_wfdb_or_is_a_clear_error(record, capsys):
    base = str(SAMPLE / record)
    name = record.rsplit("/", 1)[-1]
    if record in EXPECTED_ERRORS:
        with pytest.raises(RecordError, match=rf"^record {re.escape(repr(name))}: .*{EXPECTED_ERRORS[record]}"):
            read_record(base, invalid="keep")
        return
    if record == "test_generator_2.edf":
        _check_edf_with_annotation_channel(base)
        return
    ref = _reference(base)
    signal, meta = read_record(base, invalid="keep")
    expected = ref.p_signal.T.astype(np.float32)
    assert signal.dtype == np.float32 and signal.shape == expected.shape
    np.testing.assert_array_equal(signal, expected, err_msg=record)
    assert meta["fs"] == pytest.approx(float(ref.fs), rel=1e-12) and meta["n_samples"] == ref.sig_len
    assert meta["sig_name"] == ref.sig_name
    # Two deliberate differences: wfdb gives None as the units of a variable layout's
    # signals absent from every segment (ecg: the layout header's units), and it drops
    # non-ASCII bytes, so test_generator_2's unit '°' (latin-1 0xB0) becomes the default
    # 'mV' (ecg keeps '°').
    as_wfdb = [unit.encode("ascii", "ignore").decode() or "mV" for unit in meta["units"]]
    assert [u for u, r in zip(as_wfdb, ref.units or []) if r is not None] == [u for u in ref.units or []
                                                                             if u is not None]
    nan = np.isnan(expected)
    assert sum(stop - start for _, start, stop in meta["invalid_runs"]) == nan.sum()
    head = read_header_meta(base)
    assert (head["fs"], head["sig_name"]) == (meta["fs"], meta["sig_name"])
    if nan.any():
        with pytest.raises(RecordError, match=rf"'{re.escape(name)}': non-finite sample .*invalid="):
            read_record(base)
        filled, _ = read_record(base, invalid="interpolate")
        assert np.isfinite(filled).all()
        np.testing.assert_array_equal(filled[~nan], expected[~nan])


def _check_edf_with_annotation_channel(base):
    """wfdb cannot read this EDF+ file (its annotation channel has another rate); ecg reads its
    11 signals, which equal the samples of the same generator's WFDB record."""
    from wfdb.io.convert.edf import read_edf

    with pytest.raises(ValueError):
        read_edf(base)
    signal, meta = read_record(base)
    twin = wfdb.rdrecord(base[:-4], smooth_frames=False)          # test_generator_2.hea, 200 per frame
    assert meta["fs"] == 200 and "EDF Annotations" not in meta["sig_name"] and signal.shape == (11, 120000)
    for row, sig_name in enumerate(meta["sig_name"]):
        if sig_name in twin.sig_name:
            ch = twin.sig_name.index(sig_name)
            np.testing.assert_allclose(signal[row], twin.e_p_signal[ch], atol=1 / twin.adc_gain[ch], err_msg=sig_name)


@pytest.mark.parametrize("record, channels", [("multi-segment/fixed1/v102s", [1, 3]),
                                              ("multi-segment/s25047/s25047-2704-05-04-10-44", [2]),
                                              ("binformats", [0, 6, 7, 9]), ("mixedsignals", [5, 0])])
def test_channels_equal_wfdb(record, channels):
    ref = wfdb.rdrecord(str(SAMPLE / record), channels=channels)
    signal, meta = read_record(SAMPLE / record, channels=channels, invalid="keep")
    np.testing.assert_array_equal(signal, ref.p_signal.T.astype(np.float32))
    assert meta["sig_name"] == ref.sig_name


@pytest.mark.parametrize("record, ext", ANNOTATIONS)
def test_annotation_equals_rdann(record, ext):
    ref = wfdb.rdann(str(SAMPLE / record), ext, return_label_elements=["symbol", "label_store"])
    ann = read_annotation(SAMPLE / record, ext, with_chan=True)
    np.testing.assert_array_equal(ann["sample"], ref.sample)
    np.testing.assert_array_equal(ann["chan"], ref.chan)
    symbols = [s if isinstance(s, str) else f"[{code}]" for s, code in zip(ref.symbol, ref.label_store)]
    assert ann["symbol"].tolist() == symbols
    assert ann["aux_note"].tolist() == [note.rstrip("\x00") for note in ref.aux_note]


def test_a_code_without_symbol_gets_the_wfdb_placeholder():
    """12726.wabp uses code 42, which has no symbol in wfdb's table: wfdb gives NaN, ecg '[42]'."""
    ref = wfdb.rdann(str(SAMPLE / "12726"), "wabp", return_label_elements=["symbol", "label_store"])
    unknown = [i for i, s in enumerate(ref.symbol) if not isinstance(s, str)]
    assert unknown and set(ref.label_store[unknown]) == {42}
    ann = read_annotation(SAMPLE / "12726", "wabp")
    assert set(ann["symbol"][unknown]) == {"[42]"} and "nan" not in set(ann["symbol"])
