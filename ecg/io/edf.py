"""EDF and EDF+ files: the header checked, the signals decoded as ``wfdb.io.convert.edf.read_edf`` does.

An EDF file is a 256-byte header, one 256-byte block of fields per signal, then data
records of little-endian 16-bit samples (each record holds, signal after signal, that
signal's samples for the record's duration). EDF+ adds ``EDF Annotations`` channels,
which hold text, not samples: they are left out of the signal. wfdb's conversion is
kept (``gain = (dmax - dmin) / (pmax - pmin)``, ``baseline = int(dmax - pmax * gain + 1)``,
``p = (d - baseline) / gain``), so the samples equal ``read_edf``'s where it reads the file.
"""
import os

import numpy as np

from ecg.errors import RecordError

ANNOTATION_LABEL = "EDF Annotations"
_FIELDS = (("label", 16), ("transducer", 80), ("units", 8), ("physical_min", 8), ("physical_max", 8),
           ("digital_min", 8), ("digital_max", 8), ("prefilter", 80), ("samples", 8), ("reserved", 32))


def _number(name, path, what, text, kind=float):
    try:
        return kind(text.strip())
    except ValueError:
        raise RecordError(name, f"EDF file {path}: malformed {what} {text.strip()!r}") from None


def read_edf_header(path):
    """The header of EDF file ``path``: a dict of record fields and per-signal lists.

    Raises
    ------
    RecordError
        The file is missing, shorter than its header, a number field is malformed, the
        record duration is not positive (wfdb reads 0 or -1 as 1 s), a signal has
        physical minimum equal to its maximum or digital minimum not below its maximum.
    """
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise RecordError(name, f"EDF file not found: {path}")
    with open(path, "rb") as file:
        fixed = file.read(256)
        if len(fixed) < 256:
            raise RecordError(name, f"EDF file {path} is truncated: {len(fixed)} bytes, less than its "
                                    "256-byte header")
        text = fixed.decode("latin-1")
        n_sig = _number(name, path, "number of signals", text[252:256], int)
        if n_sig < 1:
            raise RecordError(name, f"EDF file {path} declares {n_sig} signals")
        block = file.read(256 * n_sig).decode("latin-1")
    if len(block) < 256 * n_sig:
        raise RecordError(name, f"EDF file {path} is truncated inside its signal headers")
    header = {"header_bytes": _number(name, path, "header size", text[184:192], int),
              "n_records": _number(name, path, "number of data records", text[236:244], int),
              "duration": _number(name, path, "data record duration", text[244:252]),
              "n_sig": n_sig}
    offset = 0
    for field, width in _FIELDS:
        values = [block[offset + i * width:offset + (i + 1) * width].strip() for i in range(n_sig)]
        offset += width * n_sig
        if field in ("physical_min", "physical_max", "digital_min", "digital_max"):
            values = [_number(name, path, f"{field.replace('_', ' ')} of signal {i}", v) for i, v in enumerate(values)]
        elif field == "samples":
            values = [_number(name, path, f"samples per record of signal {i}", v, int) for i, v in enumerate(values)]
        header[field] = values
    for i, label in enumerate(header["label"]):
        if label == ANNOTATION_LABEL:
            continue
        if header["physical_min"][i] == header["physical_max"][i]:
            raise RecordError(name, f"EDF file {path}: signal {i} ({label!r}) has physical minimum equal to its "
                                    f"maximum ({header['physical_min'][i]:g}): its gain is undefined")
        if not header["digital_min"][i] < header["digital_max"][i]:
            raise RecordError(name, f"EDF file {path}: signal {i} ({label!r}) has digital minimum "
                                    f"{header['digital_min'][i]:g} not below its maximum {header['digital_max'][i]:g}")
        if header["samples"][i] < 1:
            raise RecordError(name, f"EDF file {path}: signal {i} ({label!r}) has "
                                    f"{header['samples'][i]} samples per data record")
    if not header["duration"] > 0 and any(label != ANNOTATION_LABEL for label in header["label"]):
        raise RecordError(name, f"EDF file {path}: data record duration {text[244:252].strip()!r} s is not "
                                "positive (wfdb would read it as 1 s, and the sampling rate would be wrong)")
    return header


def _units(label, units):
    from wfdb.io.record import SIG_UNITS

    if units == "n/a":
        first = label.lower().split()[0] if label.split() else ""
        return SIG_UNITS.get(first, "n/a")
    return units.replace("µ", "u") or "mV"


def read_edf(path, channels=None):
    """Read the signals of EDF file ``path``, EDF+ annotation channels left out.

    Returns
    -------
    signal : ndarray
        float32 ``(n_signals, n_samples)`` in physical units.
    info : dict
        ``fs`` (Hz, samples per data record over its duration), ``sig_len``,
        ``sig_name``, ``units``, ``comments`` (empty).

    Raises
    ------
    RecordError
        See :func:`read_edf_header`; also: the file holds only annotation channels, its
        signals have different sampling rates, or its size is not that of the header's
        data records.
    """
    name = os.path.basename(path)
    header = read_edf_header(path)
    signals = [i for i, label in enumerate(header["label"]) if label != ANNOTATION_LABEL]
    if not signals:
        raise RecordError(name, f"EDF file {path} holds only EDF+ annotation channels ({ANNOTATION_LABEL!r}), "
                                "no signal")
    rates = sorted({header["samples"][i] / header["duration"] for i in signals})
    if len(rates) > 1:
        raise RecordError(name, f"EDF file {path} has signals at different sampling rates "
                                f"({', '.join(f'{r:g}' for r in rates)} Hz): ecg reads records with one rate")
    per_record = sum(header["samples"])
    size = os.path.getsize(path)
    n_records = header["n_records"]
    data_bytes = size - header["header_bytes"]
    if n_records == -1:           # "unknown" while recording: what the file holds
        n_records = data_bytes // (2 * per_record)
    if n_records < 0 or data_bytes != 2 * per_record * n_records:
        raise RecordError(name, f"EDF file {path} holds {data_bytes} bytes of data records, its header "
                                f"describes {n_records} records of {2 * per_record} bytes: the file is "
                                "truncated or its header is wrong")
    if channels is not None:
        if any(not 0 <= c < len(signals) for c in channels):
            raise RecordError(name, f"channels {list(channels)} are not all among the {len(signals)} signals")
        signals = [signals[c] for c in channels]
    data = np.fromfile(path, dtype="<i2", offset=header["header_bytes"]).reshape(n_records, per_record)
    starts = np.cumsum([0] + header["samples"])
    spr = header["samples"][signals[0]]
    out = np.empty((len(signals), n_records * spr), dtype=np.float32)
    for row, i in enumerate(signals):
        dmin, dmax = header["digital_min"][i], header["digital_max"][i]
        pmin, pmax = header["physical_min"][i], header["physical_max"][i]
        gain = (dmax - dmin) / (pmax - pmin)
        baseline = np.int64(dmax - pmax * gain + 1)
        out[row] = (data[:, starts[i]:starts[i + 1]].reshape(-1).astype(np.int64) - baseline) / gain
    return out, {"fs": rates[0], "sig_len": out.shape[1],
                 "sig_name": [header["label"][i] for i in signals],
                 "units": [_units(header["label"][i], header["units"][i]) for i in signals], "comments": []}
