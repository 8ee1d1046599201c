"""A fast path for the most common WFDB records: one segment, one sample per frame.

``wfdb.rdheader`` spends most of its time in pandas look-ups (about 3.5 ms for a 12-lead
header, ten times the cost of reading the samples). :func:`parse_header` parses the
header with wfdb's own regular expressions and defaults, without pandas, and
:func:`read_digital` decodes formats 16, 61, 80, 160, 212, 24 and 32 (``.dat`` and the
``.mat`` files of CinC 2017, which WFDB reads as format 16 after a 24-byte preamble)
with numpy. :func:`to_physical` applies wfdb's conversion ``(d - baseline) / gain``
in float64, invalid samples becoming NaN, so the result equals ``wfdb.rdrecord``.
Other records (multi-segment, several samples per frame, skew, difference formats)
are read by wfdb itself.
"""
import os
from dataclasses import dataclass, field

import numpy as np
from wfdb.io.header import rx_record, rx_signal

# wfdb's INVALID_SAMPLE_VALUE for the formats decoded here
INVALID = {"16": -2 ** 15, "61": -2 ** 15, "160": -2 ** 15, "80": -2 ** 7, "212": -2 ** 11,
           "24": -2 ** 23, "32": -2 ** 31}
_BYTES = {"16": 2, "61": 2, "160": 2, "80": 1, "212": 1.5, "24": 3, "32": 4}
_NUMPY = {"16": "<i2", "61": ">i2", "160": "<u2", "80": "u1", "32": "<i4"}


@dataclass
class Header:
    """The header fields ecg uses, with wfdb's attribute names and read defaults."""

    record_name: str
    n_sig: int
    fs: float
    sig_len: int
    n_seg: int = None
    file_name: list = field(default_factory=list)
    fmt: list = field(default_factory=list)
    samps_per_frame: list = field(default_factory=list)
    skew: list = field(default_factory=list)
    byte_offset: list = field(default_factory=list)
    adc_gain: list = field(default_factory=list)
    baseline: list = field(default_factory=list)
    units: list = field(default_factory=list)
    sig_name: list = field(default_factory=list)
    comments: list = field(default_factory=list)

    @property
    def fast(self):
        """True when :func:`read_digital` can read the samples (else use wfdb)."""
        return (self.n_seg is None and len(self.fmt) == self.n_sig and self.sig_len > 0
                and all(f in _BYTES for f in self.fmt) and all(s == 1 for s in self.samps_per_frame)
                and not any(self.skew))


def parse_header(text):
    """Parse WFDB header text; return a :class:`Header`, or ``None`` if wfdb must parse it."""
    lines, comments = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(stripped[1:].strip())
        elif stripped:
            lines.append(stripped)
    if not lines:
        return None
    rec = rx_record.match(lines[0])
    if rec is None or not rec.group("n_sig"):
        return None
    n_sig = int(rec.group("n_sig"))
    header = Header(record_name=rec.group("record_name"), n_sig=n_sig,
                    fs=float(rec.group("fs")) if rec.group("fs") else 250.0,
                    sig_len=int(rec.group("sig_len")) if rec.group("sig_len") else 0,
                    n_seg=int(rec.group("n_seg")) if rec.group("n_seg") else None, comments=comments)
    if header.n_seg is not None:
        return header
    for line in lines[1:1 + n_sig]:
        sig = rx_signal.match(line)
        if sig is None:
            return None
        g = sig.groupdict()
        gain = float(g["adc_gain"]) if g["adc_gain"] else 200.0
        baseline = g["baseline"] or g["adc_zero"] or "0"
        header.file_name.append(g["file_name"])
        header.fmt.append(g["fmt"])
        header.samps_per_frame.append(int(g["samps_per_frame"]) if g["samps_per_frame"] else 1)
        header.skew.append(int(g["skew"]) if g["skew"] else 0)
        header.byte_offset.append(int(g["byte_offset"]) if g["byte_offset"] else 0)
        header.adc_gain.append(gain if gain != 0 else 200.0)
        header.baseline.append(int(baseline))
        header.units.append(g["units"] or "mV")
        header.sig_name.append(g["sig_name"] or None)
    return header


def _decode(raw, fmt, count):
    """``count`` samples of format ``fmt`` from bytes ``raw`` as int64."""
    if fmt in _NUMPY:
        values = np.frombuffer(raw, dtype=_NUMPY[fmt], count=count).astype(np.int64)
        if fmt == "80":
            values -= 128
        elif fmt == "160":
            values -= 32768
        return values
    if fmt == "24":
        b = np.frombuffer(raw, dtype=np.uint8, count=3 * count).reshape(-1, 3).astype(np.int64)
        values = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return np.where(values >= 1 << 23, values - (1 << 24), values)
    # format 212: two 12-bit samples in three bytes
    n_pairs = (count + 1) // 2
    b = np.frombuffer(raw, dtype=np.uint8, count=3 * n_pairs).reshape(-1, 3).astype(np.int64)
    values = np.empty(2 * n_pairs, dtype=np.int64)
    values[0::2] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
    values[1::2] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
    values = values[:count]
    return np.where(values >= 1 << 11, values - (1 << 12), values)


def read_digital(folder, header, channels=None):
    """Digital samples ``(n_channels, sig_len)`` int64 of a :attr:`Header.fast` record.

    Returns ``(samples, problem)``: ``problem`` is ``None``, or a message naming the
    signal file that is missing or shorter than the header says.
    """
    wanted = list(range(header.n_sig)) if channels is None else list(channels)
    out = np.empty((len(wanted), header.sig_len), dtype=np.int64)
    files = {}
    for i, name in enumerate(header.file_name):
        files.setdefault(name, []).append(i)
    for name, signals in files.items():
        needed = [s for s in signals if s in wanted]
        if not needed:
            continue
        fmt, offset = header.fmt[signals[0]], header.byte_offset[signals[0]]
        count = header.sig_len * len(signals)
        n_bytes = int(np.ceil(count * _BYTES[fmt]))
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return None, f"signal file not found: {path}"
        with open(path, "rb") as file:
            file.seek(offset)
            raw = file.read(n_bytes)
        if len(raw) < n_bytes:
            return None, (f"signal file {path} is truncated: the header needs {n_bytes + offset} bytes "
                          f"({header.sig_len} samples x {len(signals)} signals, format {fmt}), the file "
                          f"has {offset + len(raw)}")
        frames = _decode(raw, fmt, count).reshape(header.sig_len, len(signals))
        for s in needed:
            out[wanted.index(s)] = frames[:, signals.index(s)]
    return out, None


def to_physical(digital, header, channels=None):
    """wfdb's digital-to-physical conversion, float64: ``(d - baseline) / gain``, NaN where invalid."""
    wanted = list(range(header.n_sig)) if channels is None else list(channels)
    baseline = np.array([header.baseline[c] for c in wanted], dtype=np.float64)[:, None]
    gain = np.array([header.adc_gain[c] for c in wanted], dtype=np.float64)[:, None]
    invalid = np.array([INVALID[header.fmt[c]] for c in wanted])[:, None]
    physical = (digital - baseline) / gain
    physical[digital == invalid] = np.nan
    return physical
