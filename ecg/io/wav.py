"""Read ECG signals stored as WAV files (:func:`scipy.io.wavfile.read`).

A WAV file holds interleaved integer (or float) samples and a sampling rate, but no
gain, unit or lead name: those are given to :func:`read_wav` (as a WFDB header would
give them, physical value = ``(sample - baseline) / gain``). The signal and ``meta`` are
those :func:`ecg.io.read_record` gives for a WFDB record, with the same errors.
"""
import os

import numpy as np
from scipy.io import wavfile

from ecg.errors import ConfigError, RecordError
from ecg.io.records import _flat_leads


def record_name(path):
    """The record name of a WAV file: its file name without ``.wav``."""
    name = os.path.basename(os.fspath(path))
    return name[:-4] if name.lower().endswith(".wav") else name


def _per_lead(value, n_leads, what):
    values = np.broadcast_to(np.asarray(value, dtype=np.float64), (n_leads,)) if np.ndim(value) == 0 \
        else np.asarray(value, dtype=np.float64)
    if values.shape != (n_leads,) or not np.isfinite(values).all():
        raise ConfigError(f"Expected {what} as one finite number or one per lead ({n_leads}). Received: {value!r}.")
    return values


def read_wav(path, gain=1.0, baseline=0.0, units="mV", sig_name=None, channels=None, on_flat="record"):
    """Read a WAV file's signal and ``meta``.

    Parameters
    ----------
    path : str or Path
        The ``.wav`` file.
    gain : float or sequence of float
        Sample units per physical unit (WFDB's ADC gain), one for all leads or one per
        channel of the file; float WAV files are usually already physical (gain 1).
    baseline : float or sequence of float
        Sample value of 0 physical units.
    units : str or sequence of str
        Physical unit of the leads (``"mV"``).
    sig_name : sequence of str, optional
        Lead names, one per channel of the file; ``"0"``, ``"1"``... by default.
    channels : list of int, optional
        Leads to read (channel positions); all by default.
    on_flat : {"record", "warn", "error"}
        What a flat lead does, as in :func:`ecg.io.read_record`.

    Returns
    -------
    signal : numpy.ndarray
        float32 ``(n_leads, n_samples)`` in physical units.
    meta : dict
        ``record``, ``path``, ``fs`` (Hz, the file's rate), ``n_samples``, ``sig_name``,
        ``units``, ``invalid_runs`` (empty: an invalid sample is an error), ``flat_leads``.

    Raises
    ------
    RecordError
        The file is missing, not a WAV file scipy reads, holds no sample, a
        non-finite sample, or (``on_flat="error"``) a flat lead.
    ConfigError
        ``gain`` (not positive), ``baseline``, ``units`` or ``sig_name`` do not fit the
        file's channels.

    Examples
    --------
    >>> signal, meta = read_wav("A00001.wav", gain=1000.0)   # doctest: +SKIP
    >>> signal.shape, meta["fs"], meta["units"]               # doctest: +SKIP
    ((1, 9000), 300.0, ['mV'])
    """
    path = os.fspath(path)
    name = record_name(path)
    if not os.path.isfile(path):
        raise RecordError(name, f"WAV file not found: {path}")
    try:
        rate, data = wavfile.read(path)
    except Exception as exc:  # scipy raises ValueError, EOFError, even UnboundLocalError on bad files
        raise RecordError(name, f"{path} is not a readable WAV file ({type(exc).__name__}: {exc})") from exc
    data = data.reshape(len(data), -1).T if data.ndim == 1 else data.T
    n_all, n_samples = data.shape
    if not n_samples:
        raise RecordError(name, f"{path} holds no sample")
    if not rate or rate <= 0:
        raise RecordError(name, f"{path} has an invalid sampling rate {rate}")
    gains = _per_lead(gain, n_all, "gain")
    if (gains <= 0).any():
        raise ConfigError(f"Expected positive gains (sample units per physical unit). Received: gain={gain!r}.")
    baselines = _per_lead(baseline, n_all, "baseline")
    all_units = [units] * n_all if isinstance(units, str) else [str(u) for u in units]
    names = [str(k) for k in range(n_all)] if sig_name is None else [str(n) for n in sig_name]
    if len(all_units) != n_all or len(names) != n_all:
        raise ConfigError(f"Expected units and sig_name for the {n_all} channels of {path}. "
                          f"Received: {len(all_units)} units, {len(names)} names.")
    picked = list(range(n_all)) if channels is None else list(channels)
    bad = [c for c in picked if not 0 <= c < n_all]
    if bad:
        raise RecordError(name, f"has {n_all} leads, no lead {bad[0]}")
    signal = ((data[picked].astype(np.float64) - baselines[picked, None]) / gains[picked, None])
    if not np.isfinite(signal).all():
        lead, sample = np.argwhere(~np.isfinite(signal))[0]
        raise RecordError(name, f"non-finite sample (NaN or inf) in lead {lead} at sample {sample}")
    signal = signal.astype(np.float32)
    meta = {"record": name, "path": path, "fs": float(rate), "n_samples": int(n_samples),
            "sig_name": [names[c] for c in picked], "units": [all_units[c] for c in picked]}
    meta["invalid_runs"] = []  # an invalid (padding or non-finite) sample is an error above
    meta["flat_leads"] = _flat_leads(signal, meta, name, on_flat)
    return signal, meta
