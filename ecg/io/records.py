"""Read WFDB records (``.dat``, ``.mat`` as in CinC 2017, ``.edf``) and annotations.

Signals are returned as float32 ``(n_leads, n_samples)`` in physical units, equal to
``wfdb.rdrecord(path).p_signal.T`` cast to float32. Every failure raises
:class:`~ecg.errors.RecordError` naming the record and the problem; nothing wfdb
would silently guess (a default 250 Hz rate, an unknown signal format) is accepted.
"""
import os
import re
import warnings

import numpy as np
import wfdb
from wfdb.io._signal import DAT_FMTS

from ecg.errors import ConfigError, RecordError
from ecg.io.wfdb_fast import Header, parse_header, read_digital, to_physical

# Bytes per sample of the WFDB signal formats whose file size can be checked up front.
_BYTES_PER_SAMPLE = {"8": 1, "16": 2, "61": 2, "80": 1, "160": 2, "212": 1.5,
                     "310": 4 / 3, "311": 4 / 3, "24": 3, "32": 4}
_AGE = re.compile(r"<?\bage\b>?\s*[:=]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_SEX = re.compile(r"<?\bsex\b>?\s*[:=]\s*([A-Za-z]+)", re.IGNORECASE)
ON_FLAT = ("record", "warn", "error")


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
        ext = os.path.splitext(base)[1]
        if ext and os.path.isfile(base):
            raise RecordError(name, f"unknown record format {ext!r}: ecg reads WFDB records (a .hea header "
                                    "with .dat or .mat signal files) and EDF files (.edf)")
        raise RecordError(name, f"header file not found: {base}.hea")
    try:
        with open(base + ".hea", encoding="latin-1") as file:
            text = file.read()
    except OSError as exc:
        raise RecordError(name, f"unreadable header {base}.hea: {exc}") from exc
    _check_record_line(base, text)
    header = parse_header(text)
    if header is not None and header.fast:
        return header
    try:
        return wfdb.rdheader(base)
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on bad headers
        raise RecordError(name, f"unreadable header {base}.hea: {type(exc).__name__}: {exc}") from exc


def _check_record_line(base, text):
    """Check the sampling frequency on the record line of header ``text`` before it is parsed.

    wfdb assumes 250 Hz when the field is missing and also when it does not parse (a
    negative rate), which would silently give wrong times; here both are errors.
    """
    name = os.path.basename(base)
    lines = [line.split("#", 1)[0].split() for line in text.splitlines()]
    fields = next((line for line in lines if line), None)
    if fields is None:
        raise RecordError(name, f"header {base}.hea is empty")
    if len(fields) < 3:
        raise RecordError(name, f"header {base}.hea gives no sampling frequency on its record line "
                                f"{' '.join(fields)!r} (WFDB would assume 250 Hz): add the rate in Hz "
                                "after the number of signals")
    try:
        fs = float(re.split(r"[/(]", fields[2], maxsplit=1)[0])
    except ValueError:
        fs = None
    if fs is None or not np.isfinite(fs) or fs <= 0:
        raise RecordError(name, f"header {base}.hea has an invalid sampling frequency {fields[2]!r}: "
                                "expected a positive number of Hz")


def _check_signal_files(base, header):
    """Check that every signal file exists and holds as many samples as the header says."""
    name = os.path.basename(base)
    folder = os.path.dirname(base)
    if not header.n_sig:
        raise RecordError(name, "header lists no signals")
    described = len(header.file_name or [])
    if described != header.n_sig or len(header.fmt or []) != header.n_sig:
        raise RecordError(name, f"header declares {header.n_sig} signals but describes {described}: "
                                "one signal line per signal is needed")
    if header.fs is None or not header.fs > 0:
        raise RecordError(name, f"header has no valid sampling frequency (fs={header.fs})")
    if header.sig_len is None or header.sig_len <= 0:
        raise RecordError(name, "header gives no signal length")
    unknown = sorted({str(fmt) for fmt in header.fmt if str(fmt) not in DAT_FMTS})
    if unknown:
        raise RecordError(name, f"unknown signal format {unknown[0]!r} in {base}.hea: WFDB formats are "
                                f"{', '.join(DAT_FMTS)}")
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


def read_record(path, channels=None, on_flat="record"):
    """Read a record's signal and meta.

    Parameters
    ----------
    path : str or Path
        Record path: ``dir/A00001`` or ``dir/A00001.hea`` for WFDB (``.dat`` or ``.mat``
        signal files), ``dir/x.edf`` for EDF.
    channels : list of int, optional
        Leads to read (positions in the header); all by default.
    on_flat : {"record", "warn", "error"}
        What a flat lead (every sample equal, e.g. all zeros) does. Its position is
        always listed in ``meta["flat_leads"]``; ``"warn"`` also issues a
        ``RuntimeWarning``, ``"error"`` raises :class:`~ecg.errors.RecordError`. A flat
        lead is not an error by default because it is common and harmless in real
        multi-lead data (a lead switched off or disconnected in a 12-lead recording,
        PTB-XL has many), while a whole flat record is usually a bad one: pass
        ``on_flat="error"`` where every lead must carry a signal.

    Returns
    -------
    signal : ndarray
        float32 ``(n_leads, n_samples)`` in physical units (as the header says, usually mV).
    meta : dict
        See :func:`read_header_meta`, plus ``flat_leads``: positions (in ``signal``) of
        the flat leads, empty for most records.

    Raises
    ------
    RecordError
        Missing header or signal file, a path of an unknown format, a signal format
        wfdb does not know, truncated signal file, header/signal mismatch, a missing
        or invalid sampling frequency, non-finite samples, or (``on_flat="error"``) a
        flat lead.

    Examples
    --------
    >>> signal, meta = read_record("../shared/data/fixture/cinc2017/A00001")  # doctest: +SKIP
    >>> signal.shape, meta["fs"]                                                # doctest: +SKIP
    ((1, 9000), 300.0)
    """
    base = record_base(path)
    name = os.path.basename(base)
    header = _header(base)
    if header is not None:
        _check_signal_files(base, header)
    if isinstance(header, Header):
        digital, problem = read_digital(os.path.dirname(base), header, channels)
        if problem:
            raise RecordError(name, problem)
        signal = to_physical(digital, header, channels).astype(np.float32)
        record = header
    else:
        record = _rdrecord(base, channels)
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
    meta["flat_leads"] = _flat_leads(signal, meta, name, on_flat)
    return signal, meta


def _flat_leads(signal, meta, name, on_flat):
    """Positions of the leads whose samples are all equal; warn or raise as ``on_flat`` says."""
    if on_flat not in ON_FLAT:
        raise ConfigError(f"Expected on_flat in {ON_FLAT}. Received: on_flat={on_flat!r}.")
    flat = [int(i) for i in np.flatnonzero(signal.max(axis=1) == signal.min(axis=1))] if signal.shape[1] else []
    if flat and on_flat != "record":
        leads = [meta["sig_name"][i] if i < len(meta["sig_name"]) else str(i) for i in flat]
        problem = (f"flat lead(s) {leads} (every sample equal to {signal[flat[0], 0]:g}): the lead "
                   "is disconnected or empty")
        if on_flat == "error":
            raise RecordError(name, problem)
        warnings.warn(f"record {name!r}: {problem}", RuntimeWarning, stacklevel=3)
    return flat


def read_annotation(path, ext="atr", n_samples=None, with_chan=False):
    """Read a WFDB annotation file and check that it is consistent.

    Parameters
    ----------
    path : str or Path
        Record path with or without ``.hea``.
    ext : str
        Annotator extension: ``"atr"`` (MIT-BIH), ``"i"`` (LUDB lead I), ``"q1c"``...
    n_samples : int, optional
        Length of the record's signal in samples (``meta["n_samples"]``). When given,
        every annotation must lie in ``[0, n_samples)``.
    with_chan : bool
        Also return ``chan``, the signal each annotation refers to (the QT Database
        annotates leads separately).

    Returns
    -------
    dict
        ``sample`` (int64 sample indices at the record's fs, non-decreasing), ``symbol``
        and ``aux_note`` (str arrays; MIT-BIH's NUL padding of aux notes removed), one
        entry per annotation in each.

    Raises
    ------
    RecordError
        Naming the record and the file: the file is missing, unreadable or truncated
        (it does not end with WFDB's end-of-file marker), or it gives a different number
        of samples, symbols and aux notes, a negative sample, samples out of time order,
        or (with ``n_samples``) a sample beyond the end of the signal.
    ConfigError
        If ``n_samples`` is not a positive integer.

    Examples
    --------
    >>> ann = read_annotation("../shared/data/fixture/mitdb/100", "atr", n_samples=650000)  # doctest: +SKIP
    >>> ann["sample"][:3], ann["symbol"][:3]                                               # doctest: +SKIP
    (array([ 18,  77, 370]), array(['+', 'N', 'N'], dtype='<U1'))
    """
    if n_samples is not None and (isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer))
                                  or n_samples <= 0):
        raise ConfigError(f"Expected n_samples to be a positive number of samples or None. "
                          f"Received: n_samples={n_samples!r}.")
    base = record_base(path)
    name = os.path.basename(base)
    file = f"{base}.{ext}"
    if not os.path.isfile(file):
        raise RecordError(name, f"annotation file not found: {file}")
    _check_annotation_end(name, file)
    try:
        ann = wfdb.rdann(base, ext)
    except Exception as exc:
        raise RecordError(name, f"unreadable annotation file {file}: {type(exc).__name__}: {exc}") from exc
    sample = np.asarray(ann.sample, dtype=np.int64)
    _check_annotation_fields(name, file, sample, ann.symbol, ann.aux_note)
    _check_annotation_samples(name, file, sample, n_samples, ann.fs)
    out = {"sample": sample,
           "symbol": np.asarray(ann.symbol, dtype=str),
           "aux_note": np.asarray([note.rstrip("\x00") for note in ann.aux_note], dtype=str)}
    if with_chan:
        out["chan"] = np.broadcast_to(np.asarray(ann.chan, dtype=np.int64), sample.shape).copy()
    return out


def _check_annotation_end(name, file):
    """Check that ``file`` ends with WFDB's end-of-file marker, a zero 16-bit word.

    WFDB writers always end an annotation file with it, and ``wfdb.rdann`` drops the
    last word unread assuming it is that marker, so a file cut anywhere else would
    silently lose its last annotations.
    """
    try:
        with open(file, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - 2, 0))
            tail = handle.read(2)
    except OSError as exc:
        raise RecordError(name, f"unreadable annotation file {file}: {exc}") from exc
    if size % 2 or tail != b"\x00\x00":
        raise RecordError(name, f"annotation file {file} is truncated: it does not end with the WFDB "
                                f"end-of-file marker, a zero 16-bit word ({size} bytes); re-download it")


def _check_annotation_fields(name, file, sample, symbol, aux_note):
    """Check that there is one sample, one symbol and one aux note per annotation."""
    if not len(sample) == len(symbol) == len(aux_note):
        raise RecordError(name, f"corrupted annotation file {file}: it gives {len(sample)} samples, "
                                f"{len(symbol)} symbols and {len(aux_note)} aux notes, where each "
                                "annotation has one of each")


def _check_annotation_samples(name, file, sample, n_samples, fs):
    """Check that samples are non-negative, in time order and (given ``n_samples``) inside the signal."""
    negative = np.flatnonzero(sample < 0)
    if negative.size:
        k = negative[0]
        raise RecordError(name, f"corrupted annotation file {file}: annotation {k} is at negative sample "
                                f"{sample[k]}")
    backwards = np.flatnonzero(np.diff(sample) < 0)
    if backwards.size:
        k = backwards[0] + 1
        raise RecordError(name, f"corrupted annotation file {file}: annotation {k} at sample {sample[k]} "
                                f"comes before annotation {k - 1} at sample {sample[k - 1]}; annotations "
                                "must be in time order")
    if n_samples is not None and sample.size and sample[-1] >= n_samples:
        k = np.flatnonzero(sample >= n_samples)[0]
        resolution = f" (the annotation file's time resolution is {fs:g} Hz)" if fs else ""
        raise RecordError(name, f"annotation file {file} does not fit the signal: annotation {k} is at "
                                f"sample {sample[k]}, the signal has {n_samples} samples{resolution}; "
                                "the file belongs to another record, is at another sampling rate, or is "
                                "corrupted")
