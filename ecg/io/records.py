"""Read WFDB records (``.dat``, ``.mat`` as in CinC 2017, ``.edf``) and annotations.

Signals are returned as float32 ``(n_leads, n_samples)`` in physical units, equal to
``wfdb.rdrecord(path).p_signal.T`` cast to float32. Every failure raises
:class:`~ecg.errors.RecordError` naming the record and the problem.
"""
import os
import re

import numpy as np
import wfdb

from ecg.errors import RecordError

# Bytes per sample of the WFDB signal formats whose file size can be checked up front.
_BYTES_PER_SAMPLE = {"8": 1, "16": 2, "61": 2, "80": 1, "160": 2, "212": 1.5,
                     "310": 4 / 3, "311": 4 / 3, "24": 3, "32": 4}
_AGE = re.compile(r"<?\bage\b>?\s*[:=]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_SEX = re.compile(r"<?\bsex\b>?\s*[:=]\s*([A-Za-z]+)", re.IGNORECASE)


def record_base(path):
    """Return ``path`` without a ``.hea`` extension (the name wfdb expects)."""
    path = os.fspath(path)
    return path[:-4] if path.endswith(".hea") else path


def _header(base):
    name = os.path.basename(base)
    if base.endswith(".edf"):
        if not os.path.isfile(base):
            raise RecordError(name, f"EDF file not found: {base}")
        return None
    if not os.path.isfile(base + ".hea"):
        raise RecordError(name, f"header file not found: {base}.hea")
    try:
        return wfdb.rdheader(base)
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on bad headers
        raise RecordError(name, f"unreadable header {base}.hea: {exc}") from exc


def _check_signal_files(base, header):
    """Check that every signal file exists and holds as many samples as the header says."""
    name = os.path.basename(base)
    folder = os.path.dirname(base)
    if header.n_sig == 0:
        raise RecordError(name, "header lists no signals")
    if header.fs is None or not header.fs > 0:
        raise RecordError(name, f"header has no valid sampling frequency (fs={header.fs})")
    if header.sig_len is None or header.sig_len <= 0:
        raise RecordError(name, "header gives no signal length")
    per_file = {}
    for file_name, fmt, offset in zip(header.file_name, header.fmt,
                                      header.byte_offset or [None] * header.n_sig):
        per_file.setdefault(file_name, []).append((fmt, offset or 0))
    for file_name, sigs in per_file.items():
        path = os.path.join(folder, file_name)
        if not os.path.isfile(path):
            raise RecordError(name, f"signal file not found: {path}")
        fmt = sigs[0][0]
        if file_name.endswith(".mat") or fmt not in _BYTES_PER_SAMPLE:
            continue
        expected = int(np.ceil(header.sig_len * len(sigs) * _BYTES_PER_SAMPLE[fmt])) + sigs[0][1]
        size = os.path.getsize(path)
        if size < expected:
            raise RecordError(name, f"signal file {path} is truncated: the header needs {expected} bytes "
                                    f"({header.sig_len} samples x {len(sigs)} signals, format {fmt}), "
                                    f"the file has {size}")


def _parse_demographics(comments):
    meta = {}
    for line in comments or []:
        if "age" not in meta and (m := _AGE.search(line)):
            meta["age"] = float(m.group(1))
        if "sex" not in meta and (m := _SEX.search(line)):
            meta["sex"] = m.group(1).upper()[0]
    return meta


def read_header_meta(path):
    """Read a record's header into the ``meta`` dict of :class:`~ecg.batch.EcgBatch`.

    Parameters
    ----------
    path : str or Path
        Record path with or without ``.hea``.

    Returns
    -------
    dict
        ``record``, ``path``, ``fs`` (Hz), ``n_samples``, ``sig_name``, ``units`` and,
        where the header comments give them, ``age`` (years) and ``sex`` (``"M"``/``"F"``).
    """
    base = record_base(path)
    header = _header(base)
    return _record_meta(header if header is not None else _rdrecord(base, None), base)


def _record_meta(record, base):
    """``meta`` from a wfdb header or record object (both carry the header fields)."""
    meta = {"record": os.path.basename(base).removesuffix(".edf"), "path": base, "fs": float(record.fs or 0),
            "n_samples": int(record.sig_len or 0), "sig_name": list(record.sig_name or []),
            "units": list(record.units or [])}
    meta.update(_parse_demographics(record.comments))
    return meta


def _rdrecord(base, channels):
    name = os.path.basename(base)
    try:
        if base.endswith(".edf"):
            from wfdb.io.convert.edf import read_edf

            record = read_edf(base)
            if channels is not None:  # read_edf reads every channel
                record.p_signal = record.p_signal[:, channels]
            return record
        return wfdb.rdrecord(base, channels=channels, physical=True)
    except Exception as exc:  # wfdb's own errors are not specific; say what was read
        raise RecordError(name, f"cannot read the signal ({type(exc).__name__}: {exc}); "
                                "the signal file may be truncated or not match its header") from exc


def read_record(path, channels=None):
    """Read a record's signal and meta.

    Parameters
    ----------
    path : str or Path
        Record path: ``dir/A00001`` or ``dir/A00001.hea`` for WFDB (``.dat`` or ``.mat``
        signal files), ``dir/x.edf`` for EDF.
    channels : list of int, optional
        Leads to read (positions in the header); all by default.

    Returns
    -------
    signal : ndarray
        float32 ``(n_leads, n_samples)`` in physical units (as the header says, usually mV).
    meta : dict
        See :func:`read_header_meta`.

    Raises
    ------
    RecordError
        Missing header or signal file, truncated signal file, header/signal mismatch,
        no sampling frequency, or non-finite samples.

    Examples
    --------
    >>> signal, meta = read_record("../shared/data/fixture/cinc2017/A00001")  # doctest: +SKIP
    >>> signal.shape, meta["fs"]                                                # doctest: +SKIP
    ((1, 9000), 300.0)
    """
    base = record_base(path)
    header = _header(base)
    if header is not None:
        _check_signal_files(base, header)
    record = _rdrecord(base, channels)
    name = os.path.basename(base)
    if record.p_signal is None:
        raise RecordError(name, "no samples were read")
    signal = np.ascontiguousarray(record.p_signal.T, dtype=np.float32)
    if header is not None and signal.shape[1] != header.sig_len:
        raise RecordError(name, f"the header says {header.sig_len} samples, the signal file holds "
                                f"{signal.shape[1]}")
    if not np.isfinite(signal).all():
        bad = np.argwhere(~np.isfinite(signal))[0]
        raise RecordError(name, f"non-finite sample (NaN or inf) in lead {bad[0]} at sample {bad[1]}")
    meta = _record_meta(header if header is not None else record, base)
    if channels is not None:
        meta["sig_name"] = [meta["sig_name"][c] for c in channels]
        meta["units"] = [meta["units"][c] for c in channels]
    return signal, meta


def read_annotation(path, ext="atr"):
    """Read a WFDB annotation file.

    Parameters
    ----------
    path : str or Path
        Record path with or without ``.hea``.
    ext : str
        Annotator extension: ``"atr"`` (MIT-BIH), ``"i"`` (LUDB lead I), ``"q1c"``...

    Returns
    -------
    dict
        ``sample`` (int64 sample indices at the record's fs), ``symbol`` and
        ``aux_note`` (str arrays; MIT-BIH's NUL padding of aux notes removed).
    """
    base = record_base(path)
    name = os.path.basename(base)
    file = f"{base}.{ext}"
    if not os.path.isfile(file):
        raise RecordError(name, f"annotation file not found: {file}")
    try:
        ann = wfdb.rdann(base, ext)
    except Exception as exc:
        raise RecordError(name, f"unreadable annotation file {file}: {type(exc).__name__}: {exc}") from exc
    return {"sample": np.asarray(ann.sample, dtype=np.int64),
            "symbol": np.asarray(ann.symbol, dtype=str),
            "aux_note": np.asarray([note.rstrip("\x00") for note in ann.aux_note], dtype=str)}
