"""Read WFDB records (``.dat``, ``.mat`` as in CinC 2017, multi-segment), EDF files and annotations.

Signals are returned as float32 ``(n_leads, n_samples)`` in physical units, equal to
``wfdb.rdrecord(path).p_signal.T`` cast to float32 (``tests/test_wfdb_conformance.py``
checks this on every record of wfdb-python's own sample data). Every failure raises
:class:`~ecg.errors.RecordError` naming the record and the problem; nothing wfdb would
silently guess is accepted: a default 250 Hz rate, gain 0 read as 200, a malformed
header field, a signal file of another size than its header describes, a ``.mat`` file
that is not the MAT v4 layout WFDB writes.
"""
import os
import re
import struct
import warnings

import numpy as np

from ecg.errors import ConfigError, RecordError
from ecg.io.annotations import AnnotationFileError, parse_annotations
from ecg.io.edf import read_edf, read_edf_header
from ecg.io.wfdb_fast import (BYTES, DECODED, HeaderError, expected_size, frame_bytes, parse_header,
                              read_digital, to_physical)

_AGE = re.compile(r"<?\bage\b>?\s*[:=]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_SEX = re.compile(r"<?\bsex\b>?\s*[:=]\s*([A-Za-z]+)", re.IGNORECASE)
ON_FLAT = ("record", "warn", "error")
INVALID_POLICIES = ("raise", "interpolate", "zero", "keep")
# MAT v4 type code (M*1000 + O*100 + P*10 + T) of the matrix WFDB writes for each format
_MAT4_TYPE = {"16": 30, "61": 1030, "80": 50, "32": 20}


def record_base(path):
    """Return ``path`` without a ``.hea`` extension (the name wfdb expects)."""
    path = os.fspath(path)
    return path[:-4] if path.endswith(".hea") else path


def _header(base, name=None):
    """The parsed header of record ``base``; errors name ``name`` (the record the user asked for)."""
    name = name or os.path.basename(base)
    if not os.path.isfile(base + ".hea"):
        ext = os.path.splitext(base)[1]
        if ext and os.path.isfile(base):
            raise RecordError(name, f"unknown record format {ext!r}: ecg reads WFDB records (a .hea header "
                                    "with .dat or .mat signal files) and EDF files (.edf)")
        raise RecordError(name, f"header file not found: {base}.hea")
    try:
        with open(base + ".hea", "rb") as file:
            text = file.read().decode("latin-1")
    except OSError as exc:
        raise RecordError(name, f"unreadable header {base}.hea: {exc}") from exc
    try:
        return parse_header(text)
    except HeaderError as exc:
        raise RecordError(name, f"header {base}.hea: {exc}") from None


def _check_signal_files(base, header, name=None):
    """Check every signal file of a single-segment record against its header.

    Each file must exist and have exactly the size the header describes (byte offset plus
    its signals' frames, several samples per frame and skew counted): a file longer than
    that means a header declaring too few signals or samples or the wrong format, which
    would otherwise be decoded into wrong values. A header without a signal length gets
    it from the file size. A ``.mat`` file must be the MAT v4 matrix ``val`` WFDB writes.
    """
    name = name or os.path.basename(base)
    folder = os.path.dirname(base)
    if not header.n_sig:
        raise RecordError(name, "header lists no signals")
    if all(f == "~" for f in header.file_name):
        raise RecordError(name, "the header has no signal file (~): it is the layout header of a "
                                "multi-segment record; read the multi-segment record instead")
    if "~" in header.file_name:
        raise RecordError(name, "a signal has no signal file (~): ecg does not read null signals")
    for file_name, signals in header.files().items():
        path = os.path.join(folder, file_name)
        if not os.path.isfile(path):
            raise RecordError(name, f"signal file not found: {path}")
        if file_name.endswith(".mat"):
            _check_mat(name, path, header, signals)
        fmt = header.fmt[signals[0]]
        if fmt not in BYTES:
            continue
        size = os.path.getsize(path)
        if header.sig_len is None:
            header.sig_len = _frames_in(name, path, header, signals, size)
        frames = header.sig_len
        smallest = expected_size(header, signals, frames)[0]
        largest = expected_size(header, signals, frames + max(header.skew[s] for s in signals))[1]
        described = (f"{frames} samples x {len(signals)} signals, format {fmt}"
                     + (f", byte offset {header.byte_offset[signals[0]]}" if header.byte_offset[signals[0]] else ""))
        if size < smallest:
            raise RecordError(name, f"signal file {path} is truncated: the header needs {smallest} bytes "
                                    f"({described}), the file has {size}")
        if size > largest:
            raise RecordError(name, f"signal file {path} holds {size} bytes, the header describes {smallest} "
                                    f"({described}): the header declares too few signals or samples, or the "
                                    "wrong format")
    if header.sig_len is None:
        raise RecordError(name, "header gives no signal length, and its signal files (FLAC) do not tell it")
    if header.sig_len == 0:
        raise RecordError(name, "header gives a signal length of 0 samples")


def _frames_in(name, path, header, signals, size):
    """The number of frames a file of ``size`` bytes holds (for a header without a length)."""
    frames = int((size - header.byte_offset[signals[0]]) // frame_bytes(header, signals))
    smallest, largest = expected_size(header, signals, frames)
    if not smallest <= size <= largest:
        raise RecordError(name, f"header gives no signal length, and signal file {path} ({size} bytes) "
                                "is not a whole number of frames")
    return frames


def _check_mat(name, path, header, signals):
    """Check that ``path`` is the MAT v4 file WFDB writes: one matrix ``val`` of the signals' samples.

    CinC-style ``.mat`` records are read as format 16 after the MAT preamble (the byte
    offset); MATLAB's own default files (v5, v7.3/HDF5), another variable first, or
    random bytes would be decoded into garbage.
    """
    with open(path, "rb") as file:
        head = file.read(128)
    if head[:6] == b"MATLAB" or head[:4] == b"\x89HDF":
        kind = head[:19].decode("latin-1") if head[:6] == b"MATLAB" else "HDF5"
        raise RecordError(name, f"{path} is a {kind!r} file: WFDB .mat records are MAT v4 files "
                                "(written by wfdb2mat or scipy.io.savemat(..., format='4'))")
    fmt, offset = header.fmt[signals[0]], header.byte_offset[signals[0]]
    if len(head) < 20:
        raise RecordError(name, f"{path} is truncated: {len(head)} bytes, less than a MAT v4 header")
    mat_type, rows, cols, imag, name_len = struct.unpack("<5i", head[:20])
    var = head[20:20 + name_len].split(b"\x00", 1)[0] if 0 < name_len <= 64 else b""
    samples = sum(header.samps_per_frame[s] for s in signals)
    problems = []
    if fmt in _MAT4_TYPE and mat_type != _MAT4_TYPE[fmt]:
        problems.append(f"matrix type {mat_type} (expected {_MAT4_TYPE[fmt]}: format {fmt})")
    if var != b"val":
        problems.append(f"first variable {var.decode('latin-1')!r} (expected 'val')")
    if imag != 0:
        problems.append("complex values")
    if rows != samples or cols < 0:
        problems.append(f"a {rows} x {cols} matrix (expected {samples} rows, one per signal)")
    elif header.sig_len is not None and cols != header.sig_len:
        problems.append(f"{cols} samples (the header says {header.sig_len})")
    if 20 + name_len != offset:
        problems.append(f"its data at byte {20 + name_len} (the header's byte offset is {offset})")
    if problems:
        raise RecordError(name, f"{path} is not the MAT v4 signal matrix its header describes: "
                                + ", ".join(problems))


def _read_single(base, header, channels, name=None):
    """float32 ``(n_channels, sig_len)`` of a checked single-segment record, NaN where invalid."""
    name = name or os.path.basename(base)
    try:
        digital = read_digital(os.path.dirname(base), header, channels)
    except Exception as exc:  # wfdb's reader (FLAC, difference formats) raises bare errors
        if all(header.fmt[c] in DECODED for c in (channels or range(header.n_sig))):
            raise
        raise RecordError(name, f"cannot read the signal ({type(exc).__name__}: {exc}); the signal file "
                                "may be corrupted or not match its header") from exc
    return to_physical(digital, header, channels)


def _segments(base, header, name):
    """The segment headers of multi-segment ``header`` (``None`` for a ``~`` gap), checked."""
    folder = os.path.dirname(base)
    segments = []
    for seg_name, seg_len in zip(header.seg_name, header.seg_len):
        if seg_name == "~":
            segments.append(None)
            continue
        seg = _header(os.path.join(folder, seg_name), name)
        if seg.n_seg is not None:
            raise RecordError(name, f"segment {seg_name} is itself a multi-segment record")
        if seg.sig_len is not None and seg_len and seg.sig_len != seg_len:
            raise RecordError(name, f"segment {seg_name} has {seg.sig_len} samples, the record's header "
                                    f"says {seg_len}")
        segments.append(seg)
    if header.seg_len[0] == 0 and segments[0] is None:
        raise RecordError(name, "variable-layout record without a layout header (its first segment is ~)")
    return segments


def _multi_layout(header, segments, name):
    """``(sig_name, units)`` of a multi-segment record: from its layout header or first segment."""
    first = segments[0]
    if header.seg_len[0] != 0:
        others = [s for s in segments if s is not None]
        if first is None or any(s.sig_name != first.sig_name for s in others):
            raise RecordError(name, "fixed-layout multi-segment record whose segments have different signals")
    return list(first.sig_name), list(first.units)


def _read_multi(base, header, segments, sig_name, channels, name):
    """Signals of a multi-segment record, as ``wfdb.rdrecord`` joins them (``m2s=True``).

    Fixed layout: the segments one after the other. Variable layout (first segment of
    length 0, the layout header): each segment's signals go to the layout's signals of
    the same name; signals absent from a segment, and ``~`` gaps, are invalid (NaN).
    """
    wanted = list(range(len(sig_name))) if channels is None else list(channels)
    signal = np.full((len(wanted), sum(header.seg_len)), np.nan, dtype=np.float32)
    start = 0
    for seg_name, seg_len, seg in zip(header.seg_name, header.seg_len, segments):
        if seg is not None and seg_len:
            if seg.fs != header.fs:
                raise RecordError(name, f"segment {seg_name} is sampled at {seg.fs:g} Hz, the record at "
                                        f"{header.fs:g} Hz")
            missing = [n for n in seg.sig_name if n not in sig_name]
            if missing:
                raise RecordError(name, f"segment {seg_name} has signals {missing} that its layout header "
                                        f"does not list ({sig_name})")
            seg_base = os.path.join(os.path.dirname(base), seg_name)
            _check_signal_files(seg_base, seg, name)
            rows = [(row, seg.sig_name.index(sig_name[c])) for row, c in enumerate(wanted)
                    if sig_name[c] in seg.sig_name]
            values = _read_single(seg_base, seg, [c for _, c in rows], name)
            for k, (row, _) in enumerate(rows):
                signal[row, start:start + seg_len] = values[k]
        start += seg_len
    return signal


def read_header_meta(path):
    """Read a record's header into the ``meta`` dict of :class:`~ecg.batch.EcgBatch`.

    Parameters
    ----------
    path : str or Path
        Record path with or without ``.hea``, or an ``.edf`` file.

    Returns
    -------
    dict
        ``record``, ``path``, ``fs`` (Hz), ``n_samples``, ``sig_name``, ``units`` and,
        where the header comments give them, ``age`` (years) and ``sex`` (``"M"``/``"F"``).
        ``n_samples`` is 0 when the header gives no length (it follows from the file size,
        which :func:`read_record` reads).

    Raises
    ------
    RecordError
        Missing or malformed header (see :func:`read_record`).
    """
    base = record_base(path)
    name = os.path.basename(base)
    if base.endswith(".edf"):
        header = read_edf_header(base)
        keep = [i for i, label in enumerate(header["label"]) if label != "EDF Annotations"]
        from ecg.io.edf import _units

        info = {"fs": header["samples"][keep[0]] / header["duration"] if keep else 0.0,
                "sig_len": max(header["n_records"], 0) * header["samples"][keep[0]] if keep else 0,
                "sig_name": [header["label"][i] for i in keep],
                "units": [_units(header["label"][i], header["units"][i]) for i in keep], "comments": []}
        return _record_meta(info, base)
    header = _header(base)
    info = {"fs": header.fs, "sig_len": header.sig_len or 0, "sig_name": header.sig_name,
            "units": header.units, "comments": header.comments}
    if header.n_seg is not None:
        info["sig_name"], info["units"] = _multi_layout(header, _segments(base, header, name), name)
    return _record_meta(info, base)


def _record_meta(info, base):
    """``meta`` from the record fields ``info`` (``fs``, ``sig_len``, ``sig_name``, ``units``, ``comments``)."""
    meta = {"record": os.path.basename(base).removesuffix(".edf"), "path": base, "fs": float(info["fs"] or 0),
            "n_samples": int(info["sig_len"] or 0), "sig_name": list(info["sig_name"] or []),
            "units": list(info["units"] or [])}
    meta.update(_parse_demographics(info["comments"]))
    return meta


def read_record(path, channels=None, on_flat="record", invalid="raise"):
    """Read a record's signal and meta.

    Parameters
    ----------
    path : str or Path
        Record path: ``dir/A00001`` or ``dir/A00001.hea`` for WFDB (``.dat`` or ``.mat``
        signal files, single- or multi-segment), ``dir/x.edf`` for EDF.
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
    invalid : {"raise", "interpolate", "zero", "keep"}
        What invalid samples do: WFDB's "no sample" value (the gaps of MIMIC-style
        records, the end of a skewed signal, the parts of a multi-segment record where
        a signal is absent). ``"raise"`` (default): a :class:`~ecg.errors.RecordError`.
        ``"interpolate"``: linear interpolation between the valid neighbours of each gap,
        the nearest valid value at the ends, 0 for a lead with no valid sample.
        ``"zero"``: 0. ``"keep"``: NaN, as ``wfdb.rdrecord`` returns them. In every case
        ``meta["invalid_runs"]`` lists the gaps as ``[lead, start, stop]`` (samples,
        ``stop`` excluded); :func:`invalid_mask` turns it into a boolean mask.

    Returns
    -------
    signal : ndarray
        float32 ``(n_leads, n_samples)`` in physical units (as the header says, usually mV).
    meta : dict
        See :func:`read_header_meta`, plus ``flat_leads`` (positions in ``signal`` of the
        flat leads, empty for most records) and ``invalid_runs``. Units and names equal
        wfdb's, except that headers are read as latin-1: a unit ``µV`` or ``°C`` keeps
        its first character (wfdb drops non-ASCII bytes, giving ``V``, or ``mV`` for a
        lone ``°``), and a variable-layout record has its layout header's units where
        wfdb gives ``None``.

    Raises
    ------
    RecordError
        Missing header or signal file; a path of an unknown format; a malformed header
        field, gain 0 or a signal format WFDB does not know; a signal file shorter or
        longer than its header describes; a ``.mat`` file that is not WFDB's MAT v4
        matrix; an EDF header that is inconsistent; a missing or invalid sampling
        frequency; invalid samples (``invalid="raise"``); or (``on_flat="error"``) a
        flat lead.
    ConfigError
        ``on_flat`` or ``invalid`` is not one of its values.

    Examples
    --------
    >>> signal, meta = read_record("../shared/data/fixture/cinc2017/A00001")  # doctest: +SKIP
    >>> signal.shape, meta["fs"]                                                # doctest: +SKIP
    ((1, 9000), 300.0)
    """
    if on_flat not in ON_FLAT:
        raise ConfigError(f"Expected on_flat in {ON_FLAT}. Received: on_flat={on_flat!r}.")
    if invalid not in INVALID_POLICIES:
        raise ConfigError(f"Expected invalid in {INVALID_POLICIES}. Received: invalid={invalid!r}.")
    base = record_base(path)
    name = os.path.basename(base)
    if channels is not None:
        channels = [int(c) for c in channels]
    if base.endswith(".edf"):
        signal, info = read_edf(base, channels)
        meta = _record_meta(info, base)
    else:
        header = _header(base)
        if header.n_seg is not None:
            segments = _segments(base, header, name)
            sig_name, units = _multi_layout(header, segments, name)
        else:
            sig_name = header.sig_name
        if channels is not None and any(not 0 <= c < len(sig_name) for c in channels):
            raise RecordError(name, f"channels {channels} are not all among the record's {len(sig_name)} signals")
        if header.n_seg is not None:
            signal = _read_multi(base, header, segments, sig_name, channels, name)
            info = {"fs": header.fs, "sig_len": signal.shape[1], "sig_name": sig_name, "units": units,
                    "comments": header.comments}
        else:
            _check_signal_files(base, header)
            signal = _read_single(base, header, channels)
            info = {"fs": header.fs, "sig_len": header.sig_len, "sig_name": header.sig_name,
                    "units": header.units, "comments": header.comments}
        meta = _record_meta(info, base)
        if channels is not None:
            meta["sig_name"] = [meta["sig_name"][c] for c in channels]
            meta["units"] = [meta["units"][c] for c in channels]
    meta["invalid_runs"] = _invalid(signal, invalid, name, meta["sig_name"])
    meta["flat_leads"] = _flat_leads(signal, meta, name, on_flat)
    return signal, meta


def invalid_mask(meta, n_samples=None):
    """Boolean ``(n_leads, n_samples)`` mask of the invalid samples listed in ``meta["invalid_runs"]``.

    Examples
    --------
    >>> invalid_mask({"invalid_runs": [[1, 2, 4]], "sig_name": ["a", "b"], "n_samples": 5}).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 0, 1, 1, 0]])
    """
    mask = np.zeros((len(meta["sig_name"]), n_samples or meta["n_samples"]), dtype=bool)
    for lead, start, stop in meta.get("invalid_runs", []):
        mask[lead, start:stop] = True
    return mask


def _invalid(signal, policy, name, sig_name):
    """Apply the invalid-sample ``policy`` to ``signal`` in place; return the runs ``[lead, start, stop]``."""
    bad = np.isnan(signal)
    if not bad.any():
        return []
    runs = []
    for lead in np.flatnonzero(bad.any(axis=1)):
        edges = np.diff(np.concatenate([[0], bad[lead].view(np.int8), [0]]))
        runs.extend([int(lead), int(a), int(b)] for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))
    if policy == "raise":
        lead, start, _ = runs[0]
        label = sig_name[lead] if lead < len(sig_name) and sig_name[lead] else str(lead)
        raise RecordError(name, f"non-finite sample (WFDB's invalid-sample value) in lead {lead} at sample "
                                f"{start} ({label!r}; {int(bad.sum())} invalid samples in {len(runs)} gaps): pass "
                                "invalid='interpolate', 'zero' or 'keep' to read such records")
    if policy == "zero":
        signal[bad] = 0
    elif policy == "interpolate":
        positions = np.arange(signal.shape[1])
        for lead in np.flatnonzero(bad.any(axis=1)):
            good = ~bad[lead]
            if good.any():
                signal[lead, ~good] = np.interp(positions[~good], positions[good], signal[lead, good])
            else:
                signal[lead] = 0
    return runs


def _parse_demographics(comments):
    meta = {}
    for line in comments or []:
        if "age" not in meta and (m := _AGE.search(line)):
            meta["age"] = float(m.group(1))
        if "sex" not in meta and (m := _SEX.search(line)):
            meta["sex"] = m.group(1).upper()[0]
    return meta


def _flat_leads(signal, meta, name, on_flat):
    """Positions of the leads whose valid samples are all equal (or none is valid); warn or raise."""
    if on_flat not in ON_FLAT:
        raise ConfigError(f"Expected on_flat in {ON_FLAT}. Received: on_flat={on_flat!r}.")
    if not signal.shape[1]:
        return []
    high, low = np.fmax.reduce(signal, axis=1), np.fmin.reduce(signal, axis=1)
    flat = [int(i) for i in np.flatnonzero((high == low) | np.isnan(high))]
    if flat and on_flat != "record":
        leads = [meta["sig_name"][i] if i < len(meta["sig_name"]) else str(i) for i in flat]
        problem = (f"flat lead(s) {leads} (every sample equal to {high[flat[0]]:g}): the lead "
                   "is disconnected or empty")
        if on_flat == "error":
            raise RecordError(name, problem)
        warnings.warn(f"record {name!r}: {problem}", RuntimeWarning, stacklevel=3)
    return flat


def read_annotation(path, ext="atr", n_samples=None, with_chan=False):
    """Read a WFDB annotation file and check that it is complete and consistent.

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
        entry per annotation in each. Samples, symbols and aux notes equal
        ``wfdb.rdann``'s, except that a label code with no symbol in wfdb's table (wfdb
        gives ``nan``) has the placeholder ``"[code]"``, e.g. ``"[42]"``, as the WFDB C
        library prints it.

    Raises
    ------
    RecordError
        Naming the record and the file: the file is missing or unreadable; it is cut
        (it ends inside a field, or without WFDB's end-of-file word); an annotation has a
        field twice; a negative sample, samples out of time order, or (with
        ``n_samples``) a sample beyond the end of the signal.
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
    try:
        with open(file, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise RecordError(name, f"unreadable annotation file {file}: {exc}") from exc
    try:
        ann = parse_annotations(data)
    except AnnotationFileError as exc:
        raise RecordError(name, f"annotation file {file} {exc}; re-download it") from None
    _check_annotation_samples(name, file, ann["sample"], n_samples, ann["fs"])
    out = {"sample": ann["sample"], "symbol": ann["symbol"],
           "aux_note": np.asarray([note.rstrip("\x00") for note in ann["aux_note"]], dtype=str)}
    if with_chan:
        out["chan"] = ann["chan"]
    return out


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
