"""Read ECG waveforms from DICOM files (12-lead ECG, general ECG and other waveform IODs).

A DICOM waveform object holds one or more multiplex groups (``WaveformSequence``): a
rhythm strip, often a group of median beats. Each group has its sampling frequency, its
channels (``ChannelDefinitionSequence``: lead, sensitivity, baseline, units) and the
interleaved samples. :func:`read_dicom` decodes one group into the same signal and
``meta`` as :func:`ecg.io.read_record` gives for a WFDB record, with the same errors.

The samples are decoded here from the standard's elements (PS3.3 C.10.9): physical
value = sample x ``ChannelSensitivity`` x ``ChannelSensitivityCorrectionFactor`` +
``ChannelBaseline``, in the units of ``ChannelSensitivityUnitsSequence`` (UCUM), then
converted to ``units``. pydicom (``pydicom.dcmread``) parses the file.
"""
import os
import re

import numpy as np

from ecg.errors import ConfigError, RecordError
from ecg.io.records import _flat_leads
from ecg.ops.leads import UNIT_EXPONENT, unit_factor

# WaveformSampleInterpretation -> numpy dtype (little endian, as the file's transfer syntax has it)
_DTYPES = {"SB": "<i1", "UB": "<u1", "SS": "<i2", "US": "<u2", "SL": "<i4", "UL": "<u4", "SV": "<i8", "UV": "<u8"}
_AGE_UNITS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def record_name(path):
    """The record name of a DICOM file: its file name without ``.dcm``."""
    name = os.path.basename(os.fspath(path))
    return name[:-4] if name.lower().endswith(".dcm") else name


def _lead_name(channel, k):
    """``"II"`` from a channel whose source means ``"Lead II"`` (``"Lead I (Einthoven)"``: ``"I"``)."""
    label = channel.get("ChannelLabel")
    if label:
        return str(label)
    source = channel.get("ChannelSourceSequence")
    meaning = str(source[0].get("CodeMeaning", "")) if source else ""
    meaning = re.sub(r"\s*\(.*\)$", "", meaning).strip()
    return meaning.removeprefix("Lead ").strip() or str(k)


def _unit(channel):
    units = channel.get("ChannelSensitivityUnitsSequence")
    return str(units[0].get("CodeValue", "")) if units else ""


def _age(value):
    match = re.fullmatch(r"(\d{1,3})([DWMY])", str(value or "").strip())
    return float(int(match.group(1)) * _AGE_UNITS[match.group(2)]) if match else None


def read_dicom(path, group=0, channels=None, on_flat="record", units="mV"):
    """Read one multiplex group of a DICOM waveform file: its signal and ``meta``.

    Parameters
    ----------
    path : str or Path
        The DICOM file (``.dcm`` or any name).
    group : int
        Position of the multiplex group in ``WaveformSequence`` (0: the first, the
        rhythm strip of a 12-lead ECG).
    channels : list of int, optional
        Leads to read (positions in the group); all by default.
    on_flat : {"record", "warn", "error"}
        What a flat lead does, as in :func:`ecg.io.read_record`.
    units : str or None
        Voltage unit of the returned samples (``"mV"``, ``"uV"``...; see
        :data:`ecg.ops.leads.UNIT_EXPONENT`); ``None`` keeps each channel's own unit.

    Returns
    -------
    signal : numpy.ndarray
        float32 ``(n_leads, n_samples)`` in ``units``.
    meta : dict
        ``record``, ``path``, ``fs`` (Hz), ``n_samples``, ``sig_name`` (``"I"``,
        ``"aVR"``... from each channel's source), ``units``, ``flat_leads``,
        ``invalid_runs`` (empty: a padding sample is an error) and, where
        the file has them, ``age`` (years) and ``sex`` (``"M"``/``"F"``/``"O"``).

    Raises
    ------
    RecordError
        The file is missing, is not DICOM, holds no waveform or no group ``group``, an
        element the samples need is missing, the data is shorter than the group says,
        a sample encoding is not linear (mu-law, A-law), a unit cannot be converted to
        ``units``, a sample is a padding value (missing), or (``on_flat="error"``) a
        lead is flat.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> signal, meta = read_dicom(get_testdata_file("waveform_ecg.dcm"))
    >>> signal.shape, meta["fs"], meta["sig_name"][:4], meta["units"][0], meta["age"], meta["sex"]
    ((12, 10000), 1000.0, ['I', 'II', 'III', 'aVR'], 'mV', 42.0, 'F')
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = os.fspath(path)
    name = record_name(path)
    if units is not None and units not in UNIT_EXPONENT:
        raise ConfigError(f"Expected units in {tuple(UNIT_EXPONENT)} or None. Received: units={units!r}.")
    if not os.path.isfile(path):
        raise RecordError(name, f"DICOM file not found: {path}")
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise RecordError(name, f"{path} is not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    waveforms = ds.get("WaveformSequence")
    if not waveforms:
        raise RecordError(name, f"{path} holds no waveform (no WaveformSequence): is it an ECG object?")
    if not 0 <= group < len(waveforms):
        raise RecordError(name, f"has {len(waveforms)} waveform group(s), not group {group}")
    item = waveforms[group]
    needed = ["SamplingFrequency", "NumberOfWaveformChannels", "NumberOfWaveformSamples",
              "WaveformBitsAllocated", "WaveformSampleInterpretation", "WaveformData"]
    missing = [key for key in needed if key not in item]
    if missing:
        raise RecordError(name, f"waveform group {group} of {path} lacks {', '.join(missing)}")
    fs = float(item.SamplingFrequency)
    if not np.isfinite(fs) or fs <= 0:
        raise RecordError(name, f"waveform group {group} has an invalid sampling frequency {fs}")
    interpretation = str(item.WaveformSampleInterpretation)
    if interpretation not in _DTYPES:
        raise RecordError(name, f"sample interpretation {interpretation!r} (mu-law, A-law) is not supported: "
                                f"ecg reads the linear encodings {', '.join(_DTYPES)}")
    dtype = np.dtype(_DTYPES[interpretation])
    if int(item.WaveformBitsAllocated) != 8 * dtype.itemsize:
        raise RecordError(name, f"{item.WaveformBitsAllocated} bits allocated do not match the sample "
                                f"interpretation {interpretation!r}")
    n_channels, n_samples = int(item.NumberOfWaveformChannels), int(item.NumberOfWaveformSamples)
    data = bytes(item.WaveformData)
    expected = n_channels * n_samples * dtype.itemsize
    if len(data) < expected or n_channels < 1 or n_samples < 1:
        raise RecordError(name, f"waveform group {group} of {path} is truncated: {n_channels} channels x "
                                f"{n_samples} samples need {expected} bytes, the data has {len(data)}")
    raw = np.frombuffer(data[:expected], dtype=dtype).reshape(n_samples, n_channels).T
    definitions = list(item.get("ChannelDefinitionSequence") or [])
    if len(definitions) != n_channels:
        raise RecordError(name, f"waveform group {group} has {n_channels} channels but defines "
                                f"{len(definitions)}: one ChannelDefinitionSequence item per channel is needed")
    picked = list(range(n_channels)) if channels is None else list(channels)
    bad = [c for c in picked if not 0 <= c < n_channels]
    if bad:
        raise RecordError(name, f"has {n_channels} leads, no lead {bad[0]}")
    signal = np.empty((len(picked), n_samples), dtype=np.float64)
    names, lead_units = [], []
    padding = item.get("WaveformPaddingValue")
    for row, c in enumerate(picked):
        channel = definitions[c]
        values = raw[c].astype(np.float64)
        if padding is not None:
            pad = np.frombuffer(bytes(padding), dtype=dtype)[0] if isinstance(padding, bytes) else padding
            values[raw[c] == pad] = np.nan
        sensitivity = float(channel.get("ChannelSensitivity", 1.0))
        correction = float(channel.get("ChannelSensitivityCorrectionFactor", 1.0))
        signal[row] = values * sensitivity * correction + float(channel.get("ChannelBaseline", 0.0))
        unit = _unit(channel)
        if units is not None and unit != units:
            if unit not in UNIT_EXPONENT:
                raise RecordError(name, f"lead {c} is in {unit or 'no unit'!r}, which cannot be converted to "
                                        f"{units!r}: pass units=None to keep it")
            signal[row] *= unit_factor(unit, units)
            unit = units
        names.append(_lead_name(channel, c))
        lead_units.append(unit)
    if not np.isfinite(signal).all():
        lead, sample = np.argwhere(~np.isfinite(signal))[0]
        raise RecordError(name, f"non-finite or padding (missing) sample in lead {lead} at sample {sample}")
    signal = signal.astype(np.float32)
    meta = {"record": name, "path": path, "fs": fs, "n_samples": n_samples, "sig_name": names,
            "units": lead_units}
    age, sex = _age(ds.get("PatientAge")), str(ds.get("PatientSex") or "").strip().upper()[:1]
    if age is not None:
        meta["age"] = age
    if sex in ("M", "F", "O"):
        meta["sex"] = sex
    meta["invalid_runs"] = []  # an invalid (padding or non-finite) sample is an error above
    meta["flat_leads"] = _flat_leads(signal, meta, name, on_flat)
    return signal, meta
