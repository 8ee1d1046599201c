"""ECG forecasting: the next samples of a lead from a context window of its past (MIT-BIH).

The pipeline, as ``pipelines/mitdb_forecasting.yaml`` configures it:

1. **split** the records as the beat task does (DS1 to learn from, a few DS1 records to
   keep the epoch, DS2 to test: held-out records of other patients).
2. **prepare** every record once into an npz cache (resampled, band-passed, in mV);
   every lead is cut into windows of ``window.context + window.horizon`` seconds, the
   first part the network's input, the rest its target.
3. **train** a CNN whose head keeps time (``head_pooling: flatten``, one linear output
   per forecast sample) with the mean absolute error as the loss.
4. **validate** after each epoch: minus the MAE on the held-out records keeps the epoch.
5. **test** on the DS2 windows: the MAE (mV) of the forecast, of the naive
   **last-cycle repeat** (the context's last cycle, of the length between
   ``baseline.min_period`` and ``baseline.max_period`` seconds that best repeats the
   stretch before it, :func:`cycle_periods`, is repeated forward:
   :func:`last_cycle_repeat`) and
   of the last value held (:func:`persistence`); the headline is the ratio of the
   network's MAE to the last-cycle repeat's (below 1: better than the baseline), and
   the MAE at each forecast step.
6. **save** the model; ``ecg predict`` with it forecasts the ``horizon`` after the end
   of every lead of every record.

``predictions.csv`` holds one row per test record and lead: the window count and the
MAE of the network and of both baselines.
"""
import time
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ecg.config import StrictConfig
from ecg.tasks.base import RunDirectory, TaskConfig, adamw, fit
from ecg.tasks.beats import SplitConfig
from ecg.tasks.windows import PrepareConfig

RECORD_LABELS = False  # the reference is the record's own future


class WindowConfig(StrictConfig):
    """Context and forecast lengths, and the windows cut from each lead.

    Attributes
    ----------
    context : float
        Seconds of past the network sees.
    horizon : float
        Seconds it forecasts (``N`` samples at the network's rate).
    stride : float
        Seconds between the starts of successive windows of a lead.
    per_record : int, optional
        Training windows per record and lead, evenly spread (default all).
    evaluate_per_record : int
        Validation and test windows per record and lead, evenly spread.
    """

    context: float = Field(default=4.096, gt=0)
    horizon: float = Field(default=0.512, gt=0)
    stride: float = Field(default=1.0, gt=0)
    per_record: int = Field(default=400, gt=0)
    evaluate_per_record: int = Field(default=100, gt=0)


class BaselineConfig(StrictConfig):
    """The naive last-cycle repeat.

    Attributes
    ----------
    min_period, max_period : float
        Range in seconds of the last cycle's length (:func:`cycle_periods`; 200 to 30
        beats per minute).
    """

    min_period: float = Field(default=0.3, gt=0)
    max_period: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_period >= self.max_period:
            raise ValueError(f"baseline.min_period must be below max_period; got {self.min_period} and "
                             f"{self.max_period}")
        return self


class Config(TaskConfig):
    """Config of a forecasting task (see the module docstring and ``pipelines/mitdb_forecasting.yaml``)."""

    task: Literal["forecasting"]
    split: SplitConfig = SplitConfig()
    prepare: PrepareConfig = PrepareConfig(fs=125.0)
    window: WindowConfig = WindowConfig()
    baseline: BaselineConfig = BaselineConfig()

    @model_validator(mode="after")
    def _context_holds_a_period(self):
        if self.window.context < self.baseline.max_period * 2:
            raise ValueError(f"window.context={self.window.context} s must hold twice baseline.max_period "
                             f"({self.baseline.max_period} s) for the last-cycle baseline")
        return self


# --- the baselines ------------------------------------------------------------------------
def cycle_periods(context, fs, min_period=0.3, max_period=2.0):
    """Length of the last cycle of each context, in samples: the period ``T`` between
    ``min_period`` and ``max_period`` seconds whose last ``T`` samples best repeat the ``T``
    before them (least mean absolute difference, relative to the last cycle's mean
    absolute value); of lengths that repeat about as well (within 10 %), the shortest, so
    that twice the period is not taken for it.

    Matching the last cycle with the one before follows the most recent beat-to-beat
    interval, where an autocorrelation would give the context's mean period (and
    sometimes twice it).

    Parameters
    ----------
    context : numpy.ndarray
        ``(n, n_samples)``, at least ``2 * max_period`` seconds.
    fs : float
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        int64 ``(n,)``.

    Examples
    --------
    >>> t = np.arange(500) / 100
    >>> int(cycle_periods(np.sin(2 * np.pi * t / 0.8)[None], 100)[0])
    80
    """
    x = np.asarray(context, np.float64)
    n = x.shape[-1]
    lags = np.arange(max(int(round(min_period * fs)), 1), min(int(round(max_period * fs)), n // 2) + 1)
    mismatch = np.stack([np.mean(np.abs(x[:, n - T:] - x[:, n - 2 * T:n - T]), axis=-1)
                         / (np.mean(np.abs(x[:, n - T:]), axis=-1) + 1e-12) for T in lags], axis=1)
    near_best = mismatch <= mismatch.min(axis=1, keepdims=True) * 1.1 + 1e-9
    return lags[np.argmax(near_best, axis=1)]


def last_cycle_repeat(context, horizon, periods):
    """Forecast by repeating the last ``period`` samples of each context (the naive baseline).

    Examples
    --------
    >>> last_cycle_repeat(np.array([[0.0, 1, 2, 3, 4, 5]]), 5, np.array([3])).tolist()
    [[3.0, 4.0, 5.0, 3.0, 4.0]]
    """
    n = context.shape[-1]
    steps = np.arange(horizon)[None]
    periods = np.asarray(periods)[:, None]
    return np.take_along_axis(context, n - periods + steps % periods, axis=-1)


def persistence(context, horizon):
    """Forecast by holding the last value of each context."""
    return np.repeat(context[:, -1:], horizon, axis=-1)


# --- the steps ----------------------------------------------------------------------------
def lengths(window, fs):
    """``(context, horizon, stride)`` in samples at ``fs``."""
    return (int(round(window.context * fs)), int(round(window.horizon * fs)), max(int(round(window.stride * fs)), 1))


def split_windows(records, signals, fs, window, limit):
    """Contexts ``(n, 1, C)``, futures ``(n, H)`` and the record and lead of each window."""
    from ecg.tasks.windows import cut_windows

    context, horizon, stride = lengths(window, fs)
    parts, names, leads = [], [], []
    for record in records:
        windows = cut_windows(signals[record], context + horizon, step=stride, limit=limit)
        parts.append(windows)
        names += [record] * len(windows)
        leads += [i % signals[record].shape[0] for i in range(len(windows))]
    windows = np.concatenate(parts)
    keep = windows[:, 0, :context].std(axis=-1) > 1e-3  # flat stretches (a lead off) are left out
    windows = windows[keep]
    return (windows[:, :, :context], windows[:, 0, context:], np.array(names)[keep],
            np.array(leads, np.int64)[keep])


def forecast(model, contexts, batch_size=512):
    """The network's forecasts ``(n, H)`` for contexts ``(n, 1, C)``."""
    from ecg.tasks.windows import predict_windows

    return predict_windows(model, contexts, batch_size)


def window_errors(contexts, futures, predicted, fs, baseline):
    """Absolute errors ``(n, H)`` of the network, the last-cycle repeat and persistence."""
    c = contexts[:, 0].astype(np.float64)
    periods = cycle_periods(c, fs, baseline["min_period"], baseline["max_period"])
    horizon = futures.shape[-1]
    return {"model": np.abs(predicted - futures), "last_cycle": np.abs(last_cycle_repeat(c, horizon, periods) - futures),
            "persistence": np.abs(persistence(c, horizon) - futures)}


def error_report(errors, records, leads):
    """The test numbers and the per-record rows of ``predictions.csv``."""
    mae = {k: float(v.mean()) for k, v in errors.items()}
    report = {"mae": mae["model"], "mae_last_cycle": mae["last_cycle"], "mae_persistence": mae["persistence"],
              "mae_ratio_to_last_cycle": mae["model"] / mae["last_cycle"],
              "mae_ratio_to_persistence": mae["model"] / mae["persistence"],
              "mae_by_step": errors["model"].mean(axis=0).tolist(),
              "mae_last_cycle_by_step": errors["last_cycle"].mean(axis=0).tolist(), "windows": int(len(records))}
    rows = []
    for record in np.unique(records):
        for lead in np.unique(leads[records == record]):
            pick = (records == record) & (leads == lead)
            rows.append({"record": record, "lead": int(lead), "windows": int(pick.sum()),
                         **{f"mae_{k}": float(v[pick].mean()) for k, v in errors.items()}})
    return report, rows


def print_report(report, title, log):
    log(f"\n{title}")
    log(f"MAE {report['mae']:.4f} mV; last-cycle repeat {report['mae_last_cycle']:.4f} mV (ratio "
        f"{report['mae_ratio_to_last_cycle']:.3f}); last value held {report['mae_persistence']:.4f} mV (ratio "
        f"{report['mae_ratio_to_persistence']:.3f}); {report['windows']} windows")
    steps = report["mae_by_step"]
    marks = sorted({0, len(steps) // 4, len(steps) // 2, len(steps) - 1})
    log("MAE at forecast step " + ", ".join(f"{k + 1}: {steps[k]:.4f}" for k in marks))


def model_config(cfg, n_steps, fs):
    """The KerasBaseModel config of the forecaster."""
    context, horizon, _ = lengths(cfg.window, fs)
    return {"model": cfg.model, "task": "classification", "input_shape": (context, 1), "loss": "mae",
            "optimizer": adamw(cfg.train, n_steps), "seed": cfg.train.seed,
            "preprocess": [{"resample_signals": {"fs": fs}},
                           {"band_pass_signals": {"low": cfg.prepare.band_pass[0], "high": cfg.prepare.band_pass[1]}}],
            "info": {"task": "forecasting", "name": cfg.name, "dataset": cfg.data.dataset, "fs": fs,
                     "context": context, "horizon": horizon, "band_pass": list(cfg.prepare.band_pass),
                     "window": cfg.window.model_dump(), "baseline": cfg.baseline.model_dump()}}


def train_pipeline(dataset, model_cfg):
    from batchflow import V

    from ecg import KerasBaseModel

    return (dataset.p.init_model("net", KerasBaseModel, mode="dynamic", config=model_cfg)
            .init_variable("loss", []).train_on_batch("net", save_to=V("loss", mode="a")))


def run(cfg, run_dir, resume=False, log=print):
    """Train, validate, test against the baselines, save; return the metrics."""
    from ecg.data.datasets.base import make_subset
    from ecg.models.keras_model import KerasBaseModel
    from ecg.tasks.beats import start_run
    from ecg.tasks.windows import cache_signals, clean_recipe, read_signals, windows_dataset

    began = time.time()
    run_dir, spec, records = start_run(cfg, run_dir, log)
    cache_dir = run_dir / "cache" / "clean"
    everything = [r for part in records.values() for r in part]
    cache_signals(make_subset(spec.dataset, everything), clean_recipe(cfg.prepare), cache_dir, log)
    signals, fs = read_signals(everything, cache_dir)
    train_x, train_y, _, _ = split_windows(records["train"], signals, fs, cfg.window, cfg.window.per_record)
    val_x, val_y, _, _ = split_windows(records["validation"], signals, fs, cfg.window, cfg.window.evaluate_per_record)
    context, horizon, _ = lengths(cfg.window, fs)
    log(f"windows: {context} samples of context, {horizon} forecast ({fs:g} Hz); train {len(train_x)}, "
        f"validation {len(val_x)}")
    model_cfg = model_config(cfg, cfg.train.epochs * (len(train_x) // cfg.train.batch_size), fs)

    def make_pipeline(seed):
        return train_pipeline(windows_dataset(train_x, fs, targets=train_y), {**model_cfg, "seed": seed})

    def validate(net):
        mae = float(np.abs(forecast(net, val_x) - val_y).mean())
        return -mae, {"mae": mae}

    model, best_epoch, keeper = fit(make_pipeline, cfg, run_dir, validate, "minus the validation MAE (mV)", resume, log)

    test_x, test_y, test_records, test_leads = split_windows(records["test"], signals, fs, cfg.window,
                                                             cfg.window.evaluate_per_record)
    predicted = forecast(model, test_x)
    report, rows = error_report(window_errors(test_x, test_y, predicted, fs, cfg.baseline.model_dump()),
                                test_records, test_leads)
    print_report(report, f"test split {cfg.split.test} ({len(records['test'])} records), weights of epoch "
                         f"{best_epoch}:", log)
    model.config = model.config.model_copy(update={"info": {**model.config.info, "splits": records, "test": {
        "mae": report["mae"], "mae_ratio_to_last_cycle": report["mae_ratio_to_last_cycle"]}}})
    model_dir = run_dir / "model"
    model.save(model_dir)
    saved = KerasBaseModel({"path": str(model_dir)})
    diff = float(np.abs(forecast(saved, test_x[:256]) - predicted[:256]).max())
    run_dir.write_rows("predictions.csv", rows)
    plot_forecast(test_x, test_y, predicted, fs, cfg.baseline.model_dump(), run_dir / "plots" / "forecast_example.png",
                  cfg.name)
    metrics = {"name": cfg.name, "test": report, "best_epoch": best_epoch, "validation_best": keeper.best,
               "records": records, "windows": {"train": len(train_x), "validation": len(val_x), "test": len(test_x)},
               "saved_model_max_abs_diff": diff, "seconds": round(time.time() - began, 1)}
    run_dir.write_json("metrics.json", metrics)
    log(f"saved {model_dir}; done in {metrics['seconds']:.0f} s; run directory {run_dir.path}")
    return metrics


def plot_forecast(contexts, futures, predicted, fs, baseline, path, name, n=3):
    """A few test windows: the context's last seconds, the true future, the forecast and the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = np.linspace(0, len(contexts) - 1, n).astype(int)
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.2 * n), squeeze=False)
    for ax, i in zip(axes[:, 0], picks):
        c = contexts[i, 0].astype(np.float64)
        horizon = futures.shape[-1]
        naive = last_cycle_repeat(c[None], horizon, cycle_periods(c[None], fs, baseline["min_period"],
                                                                  baseline["max_period"]))[0]
        past = np.arange(-min(len(c), 2 * horizon + int(fs)), 0)
        ahead = np.arange(horizon)
        ax.plot(past / fs, c[past], color="k", lw=1, label="context")
        ax.plot(ahead / fs, futures[i], color="k", lw=1, ls=":", label="future")
        ax.plot(ahead / fs, predicted[i], color="C0", label="forecast")
        ax.plot(ahead / fs, naive, color="C1", alpha=0.7, label="last-cycle repeat")
        ax.set_ylabel("mV")
    axes[0, 0].set_title(f"{name}: test windows")
    axes[0, 0].legend(loc="upper left", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel("s from the forecast start")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate(model_dir, dataset, labels=None, log=print, out=None):
    """Metrics of a saved forecaster on WFDB records (``ecg evaluate``), windows cut as in its test."""
    import tempfile

    from ecg.models.keras_model import KerasBaseModel
    from ecg.tasks.windows import cache_signals, clean_recipe, read_signals

    model = KerasBaseModel({"path": str(model_dir)})
    info = model.config.info
    with tempfile.TemporaryDirectory() as cache_dir:
        cache_signals(dataset, clean_recipe(PrepareConfig(fs=info["fs"], band_pass=tuple(info["band_pass"]))),
                      cache_dir, log)
        names = [str(ix) for ix in dataset.indices]
        signals, fs = read_signals(names, cache_dir)
    window = WindowConfig(**info["window"])
    x, y, records, leads = split_windows(names, signals, fs, window, window.evaluate_per_record)
    report, rows = error_report(window_errors(x, y, forecast(model, x), fs, info["baseline"]), records, leads)
    print_report(report, f"{len(names)} records:", log)
    report["missing"] = {}
    if out is not None:
        out = RunDirectory(out)
        out.write_json("metrics.json", report)
        out.write_rows("predictions.csv", rows)
    return report


def predict(model_dir, dataset):
    """The forecast past the end of every lead of raw records, for ``ecg predict``.

    Returns
    -------
    tuple
        ``(header, rows, missing)``: ``record, lead, sample, value`` rows, ``sample``
        counted at the network's rate from the record's start (the first forecast sample
        is the record's length), ``value`` in the record's units; records shorter than
        the context are missing.
    """
    from ecg.errors import EcgError
    from ecg.models.keras_model import KerasBaseModel
    from ecg.recipes import recipe_steps

    model = KerasBaseModel({"path": str(model_dir)})
    context = model.config.info["context"]
    steps = recipe_steps(model.config.preprocess)
    rows, missing = [], {}
    for ix in dataset.indices:
        try:
            batch = dataset.create_batch(np.array([ix])).load(fmt="wfdb", components=["signal", "meta"])
            for name, kwargs in steps:
                batch = getattr(batch, name)(**kwargs)
        except EcgError as exc:
            missing[str(ix)] = str(exc)
            continue
        signal, meta = np.asarray(batch.signal[0], np.float32), batch.meta[0]
        n = signal.shape[-1]
        if n < context:
            missing[str(ix)] = f"{n} samples at {meta['fs']:g} Hz, shorter than the model's context of {context}"
            continue
        values = forecast(model, signal[:, None, n - context:])
        names = meta.get("sig_name") or [str(i) for i in range(len(signal))]
        rows += [[str(ix), names[lead], n + h, f"{v:.6f}"] for lead in range(len(signal))
                 for h, v in enumerate(values[lead])]
    return ["record", "lead", "sample", "value"], rows, missing
