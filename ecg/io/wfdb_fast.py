"""WFDB headers and signal files, read without pandas, checked field by field.

``wfdb.rdheader`` spends most of its time in pandas look-ups (about 3.5 ms for a 12-lead
header, ten times the cost of reading the samples), and its regular expressions accept
malformed fields with guessed values (``abc/mV`` becomes gain 200, ``16+-24`` format 16).
:func:`parse_header` parses each field strictly, with wfdb's defaults, and raises
:class:`HeaderError` saying which field of which line is wrong. :func:`read_digital`
decodes formats 16, 61, 80, 160, 212, 24 and 32 with numpy in their own integer width
(several samples per frame and skew included) and hands the others (8, 310, 311 and
FLAC 508/516/524) to wfdb's segment reader with the header already parsed.
:func:`to_physical` applies wfdb's conversion ``(d - baseline) / gain`` and returns
float32 equal to ``wfdb.rdrecord(...).p_signal`` cast to float32, invalid samples NaN.
"""
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

# wfdb's INVALID_SAMPLE_VALUE ("no sample") per format; format 8 has none
INVALID = {"8": None, "16": -2 ** 15, "61": -2 ** 15, "80": -2 ** 7, "160": -2 ** 15, "212": -2 ** 11,
           "310": -2 ** 9, "311": -2 ** 9, "24": -2 ** 23, "32": -2 ** 31,
           "508": -2 ** 7, "516": -2 ** 15, "524": -2 ** 23}
FORMATS = tuple(INVALID)
# bytes per sample of the uncompressed formats (FLAC files have no fixed size)
BYTES = {"8": 1, "16": 2, "61": 2, "80": 1, "160": 2, "212": 1.5, "310": 4 / 3, "311": 4 / 3,
         "24": 3, "32": 4}
DECODED = ("16", "61", "80", "160", "212", "24", "32")   # decoded here; the others by wfdb
_NUMPY = {"16": "<i2", "61": ">i2", "32": "<i4"}
_BITS = {"80": 8, "212": 12, "16": 16, "61": 16, "160": 16, "24": 24, "32": 32}

_RECORD_NAME = re.compile(r"([-\w]+)(?:/(\d+))?", re.ASCII)
_FS = re.compile(r"(\d+\.?\d*|\.\d+)(?:/(-?\d*\.?\d*)(?:\((-?\d*\.?\d*)\))?)?")
_FORMAT = re.compile(r"(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?")
_GAIN = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:\((-?\d+)\))?(?:/(\S+))?")
_INT = re.compile(r"[-+]?\d+")
_INT_FIELDS = ("ADC resolution", "ADC zero", "initial value", "checksum", "block size")


class HeaderError(ValueError):
    """A header field that is missing or malformed; the message names the line and field."""


@dataclass
class Header:
    """The header fields ecg uses, with wfdb's attribute names and read defaults.

    ``sig_len`` is ``None`` when the record line gives no length (it then follows from
    the size of the signal files); ``n_seg`` is ``None`` for a single-segment record.
    """

    record_name: str
    n_sig: int
    fs: float
    sig_len: int = None
    n_seg: int = None
    seg_name: list = field(default_factory=list)
    seg_len: list = field(default_factory=list)
    file_name: list = field(default_factory=list)
    fmt: list = field(default_factory=list)
    samps_per_frame: list = field(default_factory=list)
    skew: list = field(default_factory=list)
    byte_offset: list = field(default_factory=list)
    adc_gain: list = field(default_factory=list)
    baseline: list = field(default_factory=list)
    units: list = field(default_factory=list)
    init_value: list = field(default_factory=list)
    sig_name: list = field(default_factory=list)
    comments: list = field(default_factory=list)

    def files(self):
        """``{file name: [signal positions]}`` in header order, signals of one file interleaved."""
        groups = {}
        for i, name in enumerate(self.file_name):
            groups.setdefault(name, []).append(i)
        return groups


def parse_header(text):
    """Parse WFDB header ``text`` into a :class:`Header`.

    Lines are decoded by the caller (ecg reads headers as latin-1, so a ``µV`` unit keeps
    its ``µ``; wfdb drops non-ASCII bytes). Comments (``#``) are kept in ``comments``.

    Raises
    ------
    HeaderError
        The header is empty; the record line lacks the number of signals or the sampling
        frequency, or has a malformed field; a signal or segment line is missing or has a
        malformed field (format, gain, baseline, integers), a format WFDB does not know,
        gain 0, or a file name with a non-ASCII character.
    """
    lines, comments = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(stripped.strip(" \t#"))
        elif stripped:
            lines.append(stripped)
    if not lines:
        raise HeaderError("the header is empty")
    header = _record_line(lines[0])
    header.comments = comments
    body = lines[1:]
    if header.n_seg is not None:
        if len(body) < header.n_seg:
            raise HeaderError(f"the record line declares {header.n_seg} segments, the header lists "
                              f"{len(body)}: one segment line per segment is needed")
        for k, line in enumerate(body[:header.n_seg]):
            tokens = line.split()
            if len(tokens) != 2 or not tokens[1].isdigit() or not _ascii(tokens[0]):
                raise HeaderError(f"segment line {k + 1} {line!r} is malformed: expected an ASCII segment "
                                  "name (or ~) and its length in samples")
            header.seg_name.append(tokens[0])
            header.seg_len.append(int(tokens[1]))
        return header
    if len(body) < header.n_sig:
        raise HeaderError(f"the record line declares {header.n_sig} signals, the header describes "
                          f"{len(body)}: one signal line per signal is needed")
    for k, line in enumerate(body[:header.n_sig]):
        _signal_line(header, k, line)
    return header


def _ascii(text):
    return all(ord(char) < 128 for char in text)


def _record_line(line):
    tokens = line.split()
    name = _RECORD_NAME.fullmatch(tokens[0])
    if not _ascii(tokens[0]):
        raise HeaderError(f"record line {line!r}: the record name {tokens[0]!r} has a non-ASCII character "
                          "(wfdb would drop it)")
    if name is None:
        raise HeaderError(f"record line {line!r}: malformed record name {tokens[0]!r} (WFDB names are "
                          "ASCII letters, digits, '_' and '-')")
    if len(tokens) < 2 or not tokens[1].isdigit():
        raise HeaderError(f"record line {line!r} gives no number of signals")
    if len(tokens) < 3:
        raise HeaderError(f"no sampling frequency on the record line {line!r} (WFDB would assume "
                          "250 Hz): add the rate in Hz after the number of signals")
    fs = _FS.fullmatch(tokens[2])
    if fs is None or not float(fs.group(1)) > 0 or not math.isfinite(float(fs.group(1))):
        raise HeaderError(f"invalid sampling frequency {tokens[2]!r} on the record line: expected a "
                          "positive number of Hz")
    sig_len = None
    if len(tokens) > 3:
        if not tokens[3].isdigit():
            raise HeaderError(f"record line {line!r}: malformed signal length {tokens[3]!r}")
        sig_len = int(tokens[3])
    return Header(record_name=name.group(1), n_sig=int(tokens[1]), fs=float(fs.group(1)), sig_len=sig_len,
                  n_seg=int(name.group(2)) if name.group(2) else None)


def _signal_line(header, k, line):
    where = f"signal line {k + 1} {line!r}"
    tokens = line.split(None, 8)
    if not _ascii(tokens[0]):
        raise HeaderError(f"{where}: the file name {tokens[0]!r} has a non-ASCII character (wfdb would "
                          "drop it, and read another record's file)")
    if len(tokens) < 2:
        raise HeaderError(f"{where} gives no signal format")
    spec = _FORMAT.fullmatch(tokens[1])
    if spec is None:
        raise HeaderError(f"{where}: malformed format field {tokens[1]!r} (expected "
                          "FORMAT[xSAMPLES_PER_FRAME][:SKEW][+BYTE_OFFSET], e.g. 16 or 212x2:1+24)")
    fmt = spec.group(1)
    if fmt == "0" and tokens[0] == "~":         # a null signal: the lines of a layout header
        fmt = "16"
    if fmt not in INVALID:
        raise HeaderError(f"unknown signal format {fmt!r} in {where}: WFDB formats are "
                          f"{', '.join(FORMATS)}")
    gain, baseline, units = 200.0, None, "mV"
    if len(tokens) > 2:
        value = _GAIN.fullmatch(tokens[2])
        if value is None:
            raise HeaderError(f"{where}: malformed gain field {tokens[2]!r} (expected "
                              "GAIN[(BASELINE)][/UNITS], e.g. 200 or 1000(-12)/mV)")
        gain = float(value.group(1))
        if gain == 0 or not math.isfinite(gain):
            raise HeaderError(f"{where}: ADC gain {tokens[2]!r} (an uncalibrated signal, which wfdb reads "
                              "with the default gain 200): give the gain in digital units per physical unit")
        baseline = int(value.group(2)) if value.group(2) is not None else None
        units = value.group(3) or "mV"
    ints = []
    for label, token in zip(_INT_FIELDS, tokens[3:8]):
        if not _INT.fullmatch(token):
            raise HeaderError(f"{where}: malformed {label} {token!r} (expected an integer)")
        ints.append(int(token))
    adc_zero = ints[1] if len(ints) > 1 else 0
    header.file_name.append(tokens[0])
    header.fmt.append(fmt)
    header.samps_per_frame.append(int(spec.group(2)) if spec.group(2) else 1)
    header.skew.append(int(spec.group(3)) if spec.group(3) else 0)
    header.byte_offset.append(int(spec.group(4)) if spec.group(4) else 0)
    header.adc_gain.append(gain)
    header.baseline.append(adc_zero if baseline is None else baseline)
    header.units.append(units)
    header.init_value.append(ints[2] if len(ints) > 2 else None)
    header.sig_name.append(tokens[8] if len(tokens) > 8 else None)
    if header.samps_per_frame[-1] == 0:
        raise HeaderError(f"{where}: 0 samples per frame")


def frame_bytes(header, signals):
    """Bytes of one frame of the file holding ``signals`` (a float for formats 212, 310, 311)."""
    return sum(header.samps_per_frame[s] for s in signals) * BYTES[header.fmt[signals[0]]]


def expected_size(header, signals, n_frames):
    """``(smallest, largest)`` byte size of a file holding ``n_frames`` frames of ``signals``.

    Formats 212, 310 and 311 pack 2 or 3 samples in whole bytes: a last, incomplete group
    may be written short or padded to full length.
    """
    fmt, offset = header.fmt[signals[0]], header.byte_offset[signals[0]]
    count = n_frames * sum(header.samps_per_frame[s] for s in signals)
    group = {"212": (2, 3), "310": (3, 4), "311": (3, 4)}.get(fmt)
    if group is None:
        return offset + count * BYTES[fmt], offset + count * BYTES[fmt]
    return offset + math.ceil(count * BYTES[fmt]), offset + -(-count // group[0]) * group[1]


def _decode(raw, fmt, count):
    """``count`` samples of format ``fmt`` from bytes ``raw``, in the narrowest signed dtype."""
    if fmt in _NUMPY:
        values = np.frombuffer(raw, dtype=_NUMPY[fmt], count=count)
        return values.astype(np.int16) if fmt == "61" else values
    if fmt == "160":
        return (np.frombuffer(raw, dtype="<u2", count=count) ^ np.uint16(0x8000)).view(np.int16)
    if fmt == "80":
        return (np.frombuffer(raw, dtype=np.uint8, count=count) ^ np.uint8(0x80)).view(np.int8)
    if fmt == "24":
        # each sample read as the 4 bytes from its first (strided by 3, unaligned), the
        # next sample's first byte shifted out, then sign-extended by the arithmetic shift
        words = np.ndarray((count,), dtype="<u4", buffer=raw[:3 * count] + b"\x00", strides=(3,))
        return (words << np.uint32(8)).view(np.int32) >> 8
    # format 212: two 12-bit samples in three bytes; an odd count ends with two bytes
    n_pairs, odd = divmod(count, 2)
    b = np.frombuffer(raw, dtype=np.uint8, count=3 * n_pairs + 2 * odd)
    values = np.empty(count, dtype=np.int16)
    triples = b[:3 * n_pairs].reshape(-1, 3).astype(np.int16)
    middle = triples[:, 1]
    values[0:2 * n_pairs:2] = triples[:, 0] | ((middle & 0x0F) << 8)
    values[1:2 * n_pairs:2] = triples[:, 2] | ((middle & 0xF0) << 4)
    if odd:
        values[-1] = int(b[-2]) | ((int(b[-1]) & 0x0F) << 8)
    return (values << 4) >> 4


def encode(frames, fmt):
    """The bytes of integer samples ``frames`` (``(n_frames, n_signals)``, interleaved) in format ``fmt``.

    The inverse of the decoder, for the formats it decodes (wfdb writes 16, 24, 32 and 80
    but not 61, 160 or 212). Values must fit the format's width.

    Examples
    --------
    >>> encode(np.array([[1, -2]]), "212").hex()
    '01f0fe'
    """
    if fmt not in DECODED:
        raise ValueError(f"Expected fmt in {DECODED}. Received: fmt={fmt!r}.")
    flat = np.asarray(frames, dtype=np.int64).ravel()
    if fmt in ("16", "61", "32"):
        return flat.astype(_NUMPY[fmt]).tobytes()
    if fmt in ("160", "80"):
        return (flat + (1 << (_BITS[fmt] - 1))).astype("<u2" if fmt == "160" else "u1").tobytes()
    if fmt == "24":
        u = flat & 0xFFFFFF
        return np.stack([u & 0xFF, (u >> 8) & 0xFF, u >> 16], axis=1).astype(np.uint8).tobytes()
    u = flat & 0xFFF
    pairs = np.append(u, 0) if len(u) % 2 else u
    a, b = pairs[0::2], pairs[1::2]
    data = np.stack([a & 0xFF, (a >> 8) | ((b >> 8) << 4), b & 0xFF], axis=1).astype(np.uint8).tobytes()
    return data[:-1] if len(u) % 2 else data


def read_digital(folder, header, channels=None):
    """Digital samples of a single-segment record: a list of 1-D integer arrays, one per channel.

    Each has ``header.sig_len`` samples. Several samples per frame are averaged as wfdb
    does (the frame's sum over its count, truncated toward zero); a skewed signal is
    shifted by its skew and padded at its end with the format's invalid-sample value.
    The caller has checked that every file exists and has the right size.
    """
    wanted = list(range(header.n_sig)) if channels is None else list(channels)
    out = [None] * len(wanted)
    others = []
    for name, signals in header.files().items():
        needed = [s for s in signals if s in wanted]
        if not needed:
            continue
        fmt = header.fmt[signals[0]]
        if fmt not in DECODED:
            others.extend(needed)
            continue
        path = os.path.join(folder, name)
        spf = [header.samps_per_frame[s] for s in signals]
        frame = sum(spf)
        with open(path, "rb") as file:
            file.seek(header.byte_offset[signals[0]])
            raw = file.read()
        n_frames = min(int(len(raw) // frame_bytes(header, signals)), header.sig_len + max(header.skew))
        samples = _decode(raw, fmt, n_frames * frame).reshape(n_frames, frame)
        starts = np.cumsum([0] + spf)
        for s in needed:
            col = signals.index(s)
            out[wanted.index(s)] = _one_signal(samples[:, starts[col]:starts[col + 1]], header.skew[s],
                                               header.sig_len, INVALID[fmt])
    if others:
        for s, values in zip(others, _rd_wfdb(folder, header, others)):
            out[wanted.index(s)] = values
    return out


def _one_signal(frames, skew, sig_len, invalid):
    """One signal's ``sig_len`` samples from its ``(n_frames, spf)`` block of a file."""
    spf = frames.shape[1]
    if spf == 1:
        values = frames[:, 0]
    else:
        values = (frames.sum(axis=1, dtype=np.int64) / spf).astype(frames.dtype)
    values = values[skew:skew + sig_len]
    if len(values) < sig_len:
        values = np.concatenate([values, np.full(sig_len - len(values), invalid, dtype=values.dtype)])
    return values


def _rd_wfdb(folder, header, signals):
    """Formats 8, 310, 311 and FLAC through wfdb's segment reader, with this header's fields."""
    from wfdb.io import _signal

    expanded = _signal._rd_segment(
        file_name=header.file_name, dir_name=folder, pn_dir=None, fmt=header.fmt, n_sig=header.n_sig,
        sig_len=header.sig_len, byte_offset=header.byte_offset, samps_per_frame=header.samps_per_frame,
        skew=header.skew, init_value=list(header.init_value), sampfrom=0, sampto=header.sig_len,
        channels=list(signals), ignore_skew=False)
    out = []
    for s, values in zip(signals, expanded):
        spf = header.samps_per_frame[s]
        if spf > 1:
            values = (values.reshape(-1, spf).sum(axis=1, dtype=np.int64) / spf).astype(values.dtype)
        out.append(values)
    return out


def to_physical(digital, header, channels=None):
    """wfdb's conversion ``(d - baseline) / gain`` as float32 ``(n_channels, sig_len)``, NaN where invalid.

    The values are those of wfdb's float64 result cast to float32. Long records of at most
    16 bits go through a table of every digital value (computed with wfdb's formula in
    float64); 24- and 32-bit signals are converted in float32 directly where that is exact
    (the gain is a float32 and ``d - baseline`` fits 24 bits: IEEE division then rounds
    once to the same float32, as double rounding through float64 is innocuous for division),
    else in float64.
    """
    wanted = list(range(header.n_sig)) if channels is None else list(channels)
    n = len(digital[0]) if digital else 0
    out = np.empty((len(wanted), n), dtype=np.float32)
    for row, (c, values) in enumerate(zip(wanted, digital)):
        baseline, gain, invalid = header.baseline[c], header.adc_gain[c], INVALID[header.fmt[c]]
        bits = values.dtype.itemsize * 8
        if bits <= 16 and n > 2 ** (bits + 2) and abs(baseline) < 2 ** 40:
            levels = np.arange(-2 ** (bits - 1), 2 ** (bits - 1), dtype=np.float64)
            table = ((levels - baseline) / gain).astype(np.float32)
            if invalid is not None and -2 ** (bits - 1) <= invalid:
                table[invalid + 2 ** (bits - 1)] = np.nan
            unsigned = values.view(np.uint16 if bits == 16 else np.uint8) ^ (1 << (bits - 1))
            np.take(table, unsigned, out=out[row])
            continue
        exact32 = (float(np.float32(gain)) == gain and abs(gain) > 1e-30 and n
                   and max(int(values.max()), -int(values.min())) + abs(baseline) < 2 ** 24)
        if exact32:
            np.subtract(values, np.float32(baseline), out=out[row], dtype=np.float32)
            np.divide(out[row], np.float32(gain), out=out[row])
        else:
            out[row] = (values.astype(np.float64) - baseline) / gain
        if invalid is not None:
            out[row][values == invalid] = np.nan
    return out
