"""Whole-record signals cut into windows: what the denoising and forecasting tasks share.

Both tasks learn from stretches of continuous ECG rather than from labels: each record
is prepared once into an npz cache (:func:`cache_signals`), every lead becomes an item of
its own (the networks are single-lead and lead-agnostic), and the leads are cut into
windows (:func:`cut_windows`) that an in-memory batchflow dataset serves
(:func:`windows_dataset`).
"""
import numpy as np
from pydantic import Field

from ecg.config import StrictConfig


class PrepareConfig(StrictConfig):
    """The clean signal: resampled, band-passed, in the record's units (mV).

    Attributes
    ----------
    fs : float
        Rate the network sees, in Hz.
    band_pass : tuple of float
        Band-pass cut-offs in Hz of the clean signal (removes the record's own
        baseline wander and mains hum, so that the reference is clean).
    """

    fs: float = Field(default=250.0, gt=0)
    band_pass: tuple[float, float] = (0.5, 40.0)


def clean_recipe(prepare):
    """Recipe of the clean signal: resample to ``prepare.fs``, then band-pass."""
    low, high = prepare.band_pass
    return [{"resample_signals": {"fs": prepare.fs}}, {"band_pass_signals": {"low": low, "high": high}}]


def cache_signals(dataset, recipe, cache_dir, log):
    """Load every record of ``dataset``, apply ``recipe``, dump ``<cache_dir>/<record>.npz`` once."""
    from ecg.tasks.beats import cache_records

    cache_records(dataset, recipe, cache_dir, log)


def read_signals(records, cache_dir):
    """``{record: float32 (n_leads, n_samples)}`` and the rate in Hz, from the cache."""
    from ecg.io import read_npz

    parts = {str(r): read_npz(f"{cache_dir}/{r}.npz") for r in records}
    fs = {float(p["meta"]["fs"]) for p in parts.values()}
    return {r: np.asarray(p["signal"], np.float32) for r, p in parts.items()}, fs.pop()


def cut_windows(signal, length, step=None, limit=None):
    """Windows of ``length`` samples of every lead, one item per lead and window.

    Parameters
    ----------
    signal : numpy.ndarray
        ``(n_leads, n_samples)``.
    length : int
        Window length in samples.
    step : int, optional
        Samples between window starts (default ``length``: no overlap).
    limit : int, optional
        Keep at most this many windows per lead, evenly spread over the record.

    Returns
    -------
    numpy.ndarray
        ``(n_windows * n_leads, 1, length)``, lead by lead within each window.

    Examples
    --------
    >>> cut_windows(np.arange(20.0).reshape(2, 10), 4).shape
    (4, 1, 4)
    >>> cut_windows(np.arange(10.0)[None], 4, step=2, limit=2)[:, 0, 0].tolist()
    [0.0, 6.0]
    """
    step = step or length
    starts = np.arange(0, signal.shape[-1] - length + 1, step)
    if limit is not None and len(starts) > limit:
        starts = starts[np.round(np.linspace(0, len(starts) - 1, limit)).astype(np.int64)]
    windows = np.stack([signal[:, s:s + length] for s in starts]) if len(starts) else np.zeros(
        (0, signal.shape[0], length), signal.dtype)
    return windows.reshape(-1, 1, length)


def windows_dataset(windows, fs, targets=None, name="window"):
    """A batchflow dataset of windows ``(n, 1, length)``, one window per item.

    ``targets`` (optional, one per window) become the ``target`` component.
    """
    from batchflow import Dataset, DatasetIndex

    from ecg.batch import EcgBatch
    from ecg.batch.base import object_array

    n = len(windows)
    meta = object_array([{"record": f"{name}_{i}", "fs": float(fs)} for i in range(n)])
    nones = object_array([None] * n)
    target = nones if targets is None else object_array(list(targets))
    return Dataset(DatasetIndex(np.arange(n)), batch_class=EcgBatch,
                   preloaded=(np.asarray(windows, np.float32), nones, meta, target, nones))


def predict_windows(model, windows, batch_size=256):
    """The network's outputs for windows ``(n, 1, length)``, in batches, as one array."""
    outputs = [model.predict_on_batch(np.ascontiguousarray(windows[i:i + batch_size].transpose(0, 2, 1)))
               for i in range(0, len(windows), batch_size)]
    return np.concatenate(outputs) if outputs else np.zeros((0,))
