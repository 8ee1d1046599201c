"""The fast WFDB reader equals wfdb.rdrecord on every real fixture record, all formats it takes."""
import numpy as np
import pytest
import wfdb

from ecg.io.wfdb_fast import parse_header, read_digital, to_physical


def _records(fixture_dir):
    return sorted(str(p)[:-4] for p in fixture_dir.rglob("*.hea"))


def test_every_fixture_record_equals_rdrecord(fixture_dir):
    records = _records(fixture_dir)
    assert len(records) > 90
    formats = set()
    for base in records:
        header = parse_header(open(base + ".hea", encoding="latin-1").read())
        assert header is not None and header.fast, base
        formats.update(header.fmt)
        ref = wfdb.rdrecord(base)
        digital, problem = read_digital(base.rsplit("/", 1)[0], header)
        assert problem is None
        np.testing.assert_array_equal(to_physical(digital, header), ref.p_signal.T, err_msg=base)
        assert header.fs == ref.fs and header.sig_len == ref.sig_len and header.sig_name == ref.sig_name
        assert header.units == ref.units and header.adc_gain == ref.adc_gain and header.baseline == ref.baseline
    assert {"16", "212"} <= formats


def _encode(frames, fmt):
    """Interleaved samples (sig_len, n_sig) as the bytes of WFDB format ``fmt``."""
    flat = frames.ravel()
    if fmt in ("16", "61", "160", "80", "32"):
        dtype = {"16": "<i2", "61": ">i2", "160": "<u2", "80": "u1", "32": "<i4"}[fmt]
        shift = {"160": 32768, "80": 128}.get(fmt, 0)
        return (flat + shift).astype(dtype).tobytes()
    if fmt == "24":
        u = flat.astype(np.int64) & 0xFFFFFF
        return np.stack([u & 0xFF, (u >> 8) & 0xFF, u >> 16], axis=1).astype(np.uint8).tobytes()
    u = flat.astype(np.int64) & 0xFFF                      # 212
    if len(u) % 2:
        u = np.append(u, 0)
    a, b = u[0::2], u[1::2]
    return np.stack([a & 0xFF, (a >> 8) | ((b >> 8) << 4), b & 0xFF], axis=1).astype(np.uint8).tobytes()


@pytest.mark.parametrize("fmt", ["16", "61", "80", "160", "212", "24", "32"])
def test_each_format_equals_rdrecord(fixture_dir, tmp_path, fmt):
    ref = wfdb.rdrecord(str(fixture_dir / "mitdb/201"), sampto=5001, physical=False)   # odd length
    bits = {"80": 8, "212": 12, "24": 24, "32": 32}.get(fmt, 16)
    digital = np.clip(ref.d_signal, -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1).astype(np.int64)
    digital[10, 1] = -(2 ** (bits - 1))                     # wfdb's invalid-sample value -> NaN
    (tmp_path / "r.dat").write_bytes(_encode(digital, fmt))
    (tmp_path / "r.hea").write_text(f"r 2 360 5001\nr.dat {fmt} 200(5)/mV {bits} 0 0 0 0 a\n"
                                    f"r.dat {fmt} 100.5(-3)/uV {bits} 0 0 0 0 b\n")
    expected = wfdb.rdrecord(str(tmp_path / "r")).p_signal.T
    header = parse_header((tmp_path / "r.hea").read_text())
    digital_read, problem = read_digital(str(tmp_path), header)
    assert problem is None and header.fast
    np.testing.assert_array_equal(to_physical(digital_read, header), expected)
    assert np.isnan(expected[1, 10])
    np.testing.assert_array_equal(to_physical(*[read_digital(str(tmp_path), header, [1])[0], header, [1]]),
                                  expected[1:])
