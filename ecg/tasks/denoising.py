"""ECG denoising: a network that takes noisy ECG and gives back the clean ECG (MIT-BIH).

The pipeline, as ``pipelines/mitdb_denoising.yaml`` configures it:

1. **split** the MIT-BIH records by patient as the beat task does (de Chazal's DS1 to
   learn from, a few DS1 records held out to choose the epoch, DS2 to test, so that no
   test record is ever seen in training).
2. **prepare** every record once into an npz cache: resampled to the network's rate and
   band-passed (0.5-40 Hz by default). That is the **clean** reference, in mV. Each lead
   is one single-lead item; the leads are cut into windows of ``window.length`` seconds.
3. **train** a 1-D U-Net (linear output, mean squared error) on windows made noisy
   afresh in every batch: a random mixture of baseline wander, muscle artefact,
   electrode motion and power-line noise at an SNR drawn in ``noise.snr_db``
   (:func:`ecg.ops.augment.noise_at_snr`). The MIT-BIH Noise Stress Test Database is
   not in the local mirror, so the noise comes from the seeded synthetic generators of
   :mod:`ecg.ops.augment`, not from recorded noise.
4. **validate** after each epoch on noisy windows of the held-out records (one fixed
   draw): the mean output SNR keeps the best epoch.
5. **test** on the DS2 windows made noisy with fixed seeds at each SNR of
   ``test.snr_db`` (-6, 0, 6, 12 dB), with the mixture and with each kind alone: output
   SNR, SNR improvement (dB), RMSE (mV) and PRD (%) per window
   (:mod:`ecg.metrics`), averaged over windows; beside them the same numbers for a
   zero-phase Butterworth band-pass of the noisy window with the clean reference's
   cut-offs, the classical filter any learned denoiser has to beat.
6. **save** the model; ``ecg predict`` with it writes a denoised WFDB record per input
   record (every lead, at the network's rate, in mV).

``predictions.csv`` holds one row per test record, lead, SNR and noise: the window
means of the input and output SNR, RMSE and PRD.
"""
import os
import shutil
import tempfile
import time
from typing import Literal, Optional

import numpy as np
from pydantic import Field, field_validator

from ecg.config import StrictConfig
from ecg.errors import EcgError
from ecg.ops.augment import NOISE_KINDS
from ecg.tasks.base import RunDirectory, TaskConfig, adamw, fit
from ecg.tasks.beats import SplitConfig
from ecg.tasks.windows import PrepareConfig

RECORD_LABELS = False  # the reference is the record itself, made noisy


class NoiseConfig(StrictConfig):
    """The noise the network learns to remove.

    Attributes
    ----------
    kinds : list of str
        Noise kinds mixed with random weights (``bw``, ``ma``, ``em``, ``pl``).
    snr_db : tuple of float
        Range of the SNR of a training window, in dB, drawn per window.
    powerline_freq : float
        Mains frequency in Hz (MIT-BIH was recorded in the USA: 60).
    """

    kinds: list[Literal["bw", "ma", "em", "pl"]] = list(NOISE_KINDS)
    snr_db: tuple[float, float] = (-6.0, 18.0)
    powerline_freq: float = Field(default=60.0, gt=0)

    @field_validator("kinds")
    @classmethod
    def _some_kind(cls, kinds):
        if not kinds:
            raise ValueError("name at least one noise kind of bw, ma, em, pl")
        return kinds


class WindowConfig(StrictConfig):
    """Training and scoring windows.

    Attributes
    ----------
    length : float
        Window length in seconds; in samples a multiple of the U-Net's down-sampling.
    per_record : int, optional
        Training windows per record and lead, evenly spread (default all, no overlap).
    evaluate_per_record : int
        Validation and test windows per record and lead, evenly spread.
    standardize : bool
        Divide each noisy window by its SD before the network and multiply the output
        back (the target is divided too): one amplitude scale for the network, and a
        loss that weighs every window alike rather than the loudest ones most.
    """

    length: float = Field(default=4.096, gt=0)
    per_record: Optional[int] = Field(default=None, gt=0)
    evaluate_per_record: int = Field(default=50, gt=0)
    standardize: bool = False


class EvalConfig(StrictConfig):
    """The test protocol.

    Attributes
    ----------
    snr_db : list of float
        Input SNRs of the test, in dB.
    seed : int
        Seed of the test noise (the same draw for every model).
    """

    snr_db: list[float] = [-6.0, 0.0, 6.0, 12.0]
    seed: int = 0


class AugmentConfig(StrictConfig):
    """Augmentation of the clean training windows (before the noise).

    Attributes
    ----------
    scale : tuple of float, optional
        Amplitude factor range (clean target and noisy input alike).
    """

    scale: Optional[tuple[float, float]] = (0.5, 2.0)


class Config(TaskConfig):
    """Config of a denoising task (see the module docstring and ``pipelines/mitdb_denoising.yaml``)."""

    task: Literal["denoising"]
    split: SplitConfig = SplitConfig()
    prepare: PrepareConfig = PrepareConfig()
    noise: NoiseConfig = NoiseConfig()
    window: WindowConfig = WindowConfig()
    augment: AugmentConfig = AugmentConfig()
    test: EvalConfig = EvalConfig()


# --- the steps ----------------------------------------------------------------------------
def window_samples(cfg, fs):
    """Window length in samples (checked against the U-Net's down-sampling)."""
    from ecg.errors import ConfigError
    from ecg.tasks.delineation import step_multiple

    length, multiple = int(round(cfg.window.length * fs)), step_multiple(cfg.model)
    if length % multiple:
        raise ConfigError(f"window.length={cfg.window.length} s is {length} samples at {fs:g} Hz, not a multiple "
                          f"of the network's down-sampling {multiple}: use {length // multiple * multiple / fs:g} s")
    return length


def windows_of(records, signals, length, limit):
    """Windows ``(n, 1, length)`` of ``records`` and the record and lead of each."""
    from ecg.tasks.windows import cut_windows

    parts, names, leads = [], [], []
    for record in records:
        windows = cut_windows(signals[record], length, limit=limit)
        n_leads = signals[record].shape[0]
        parts.append(windows)
        names += [record] * len(windows)
        leads += [i % n_leads for i in range(len(windows))]
    windows = np.concatenate(parts)
    keep = windows.std(axis=-1)[:, 0] > 1e-3  # flat stretches (a lead off) have no SNR
    return windows[keep], np.array(names)[keep], np.array(leads, np.int64)[keep]


def make_noisy(clean, fs, snr_db, kinds, powerline_freq, seed):
    """``clean + noise`` at ``snr_db`` with a fixed seed (validation and test draws)."""
    from ecg.ops.augment import noise_at_snr

    noise = noise_at_snr(clean, fs, np.random.default_rng(seed), snr_db, kinds, powerline_freq)
    return (clean + noise).astype(np.float32)


def denoise_windows(model, noisy):
    """The network's output for windows ``(n, 1, length)``, in the same layout (each window
    standardised first and scaled back when the model was trained so)."""
    from ecg.tasks.windows import predict_windows

    if not (model.config.info or {}).get("standardize"):
        return predict_windows(model, noisy).transpose(0, 2, 1)
    scale = np.maximum(noisy.std(axis=(1, 2), keepdims=True), 1e-6)
    return predict_windows(model, (noisy / scale).astype(np.float32)).transpose(0, 2, 1) * scale


def window_scores(clean, noisy, denoised):
    """Per-window input and output SNR (dB), SNR improvement, RMSE and PRD."""
    from ecg.metrics import prd, rmse, snr_db

    clean, noisy, denoised = (np.asarray(a, np.float64)[:, 0] for a in (clean, noisy, denoised))
    out = snr_db(clean, denoised)
    into = snr_db(clean, noisy)
    return {"input_snr_db": into, "output_snr_db": out, "snr_improvement_db": out - into,
            "rmse": rmse(clean, denoised), "prd": prd(clean, denoised)}


def mean_scores(scores):
    return {k: float(np.mean(v)) for k, v in scores.items()}


def conditions(snrs, kinds):
    """``(name, snr, kinds)`` of every test condition: the mixture, then each kind alone."""
    mixture = [("+".join(kinds), snr, list(kinds)) for snr in snrs]
    return mixture + ([(kind, snr, [kind]) for kind in kinds for snr in snrs] if len(kinds) > 1 else [])


def evaluate_windows(model, clean, records, leads, fs, info, snrs, seed, band):
    """Every test number of a denoiser on clean windows, and the rows of ``predictions.csv``."""
    from ecg.ops.filters import band_pass

    table, rows = [], []
    kinds = list(info["noise_kinds"])
    for k, (name, snr, used) in enumerate(conditions(snrs, kinds)):
        noisy = make_noisy(clean, fs, snr, used, info["powerline_freq"], [seed, k])
        net = window_scores(clean, noisy, denoise_windows(model, noisy))
        filt = window_scores(clean, noisy, band_pass(noisy.astype(np.float64), fs, *band))
        table.append({"noise": name, "snr_db": snr, **mean_scores(net),
                      "band_pass": {k2: v for k2, v in mean_scores(filt).items() if k2 != "input_snr_db"}})
        for record in np.unique(records):
            for lead in np.unique(leads[records == record]):
                pick = (records == record) & (leads == lead)
                rows.append({"record": record, "lead": int(lead), "noise": name, "snr_db": snr,
                             "windows": int(pick.sum()),
                             **{key: float(np.mean(v[pick])) for key, v in net.items()},
                             "band_pass_output_snr_db": float(np.mean(filt["output_snr_db"][pick]))})
    return table, rows


def print_table(table, log):
    log(f"{'noise':>12} {'SNR in':>7} {'SNR out':>8} {'improv.':>8} {'RMSE mV':>8} {'PRD %':>7} | band-pass: "
        f"{'SNR out':>8} {'PRD %':>7}")
    for row in table:
        bp = row["band_pass"]
        log(f"{row['noise']:>12} {row['input_snr_db']:7.2f} {row['output_snr_db']:8.2f} "
            f"{row['snr_improvement_db']:8.2f} {row['rmse']:8.4f} {row['prd']:7.1f} |            "
            f"{bp['output_snr_db']:8.2f} {bp['prd']:7.1f}")


def model_config(cfg, n_steps, fs):
    """The KerasBaseModel config of the task's network."""
    from ecg.tasks.delineation import step_multiple

    return {"model": cfg.model, "task": "segmentation", "input_shape": (None, 1), "loss": "mse",
            "optimizer": adamw(cfg.train, n_steps), "seed": cfg.train.seed,
            "preprocess": [{"resample_signals": {"fs": fs}}],
            "info": {"task": "denoising", "name": cfg.name, "dataset": cfg.data.dataset, "fs": fs,
                     "step_multiple": step_multiple(cfg.model), "band_pass": list(cfg.prepare.band_pass),
                     "noise_kinds": list(cfg.noise.kinds), "powerline_freq": cfg.noise.powerline_freq,
                     "window": cfg.window.length, "test_snr_db": list(cfg.test.snr_db), "test_seed": cfg.test.seed,
                     "evaluate_per_record": cfg.window.evaluate_per_record,
                     "standardize": cfg.window.standardize}}


def train_pipeline(cfg, dataset, model_cfg):
    """Clean windows, amplitude-scaled, made noisy afresh: the clean window is the target."""
    from batchflow import V

    from ecg import KerasBaseModel

    pipeline = (dataset.p.init_model("net", KerasBaseModel, mode="dynamic", config=model_cfg)
                .init_variable("loss", []))
    if cfg.augment.scale is not None:
        pipeline = pipeline.scale_amplitude(*cfg.augment.scale)
    pipeline = pipeline.add_noise_at_snr(tuple(cfg.noise.snr_db), cfg.noise.kinds, cfg.noise.powerline_freq,
                                         clean_target=True)
    if cfg.window.standardize:
        pipeline = pipeline.standardize_amplitude(with_target=True)
    return pipeline.train_on_batch("net", save_to=V("loss", mode="a"))


# --- the run ------------------------------------------------------------------------------
def run(cfg, run_dir, resume=False, log=print):
    """Train, validate, test at every SNR, save; return the metrics."""
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
    length = window_samples(cfg, fs)
    train, _, _ = windows_of(records["train"], signals, length, cfg.window.per_record)
    val_clean, _, _ = windows_of(records["validation"], signals, length, cfg.window.evaluate_per_record)
    val_noisy = make_noisy(val_clean, fs, tuple(cfg.noise.snr_db), cfg.noise.kinds, cfg.noise.powerline_freq,
                           [cfg.test.seed, 1_000_000])
    log(f"windows of {length} samples ({cfg.window.length:g} s at {fs:g} Hz): train {len(train)}, "
        f"validation {len(val_clean)}")
    model_cfg = model_config(cfg, cfg.train.epochs * (len(train) // cfg.train.batch_size), fs)

    def make_pipeline(seed):
        return train_pipeline(cfg, windows_dataset(train, fs), {**model_cfg, "seed": seed})

    def validate(net):
        scores = window_scores(val_clean, val_noisy, denoise_windows(net, val_noisy))
        return float(np.mean(scores["output_snr_db"])), {"rmse": float(np.mean(scores["rmse"]))}

    model, best_epoch, keeper = fit(make_pipeline, cfg, run_dir, validate, "validation output SNR (dB)", resume, log)

    test_clean, test_records, test_leads = windows_of(records["test"], signals, length,
                                                      cfg.window.evaluate_per_record)
    table, rows = evaluate_windows(model, test_clean, test_records, test_leads, fs, model.config.info,
                                   cfg.test.snr_db, cfg.test.seed, cfg.prepare.band_pass)
    log(f"\ntest split {cfg.split.test} ({len(records['test'])} records, {len(test_clean)} windows), "
        f"weights of epoch {best_epoch}:")
    print_table(table, log)
    mixture = {row["snr_db"]: row for row in table if row["noise"] == "+".join(cfg.noise.kinds)}
    model.config = model.config.model_copy(update={"info": {**model.config.info, "splits": records, "test": {
        f"output_snr_db_at_{snr:g}": row["output_snr_db"] for snr, row in mixture.items()}}})
    model_dir = run_dir / "model"
    model.save(model_dir)
    saved = KerasBaseModel({"path": str(model_dir)})
    diff = float(np.abs(denoise_windows(saved, val_noisy[:64]) - denoise_windows(model, val_noisy[:64])).max())
    run_dir.write_rows("predictions.csv", rows)
    metrics = {"name": cfg.name, "test": {"table": table, **{f"output_snr_db_at_{snr:g}": row["output_snr_db"]
                                                             for snr, row in mixture.items()},
                                          **{f"snr_improvement_db_at_{snr:g}": row["snr_improvement_db"]
                                             for snr, row in mixture.items()}},
               "noise_source": "synthetic (ecg.ops.augment.noise_signals); the MIT-BIH Noise Stress Test "
                               "Database is not in the mirror",
               "best_epoch": best_epoch, "validation_best": keeper.best, "records": records,
               "windows": {"train": len(train), "validation": len(val_clean), "test": len(test_clean)},
               "saved_model_max_abs_diff": diff, "seconds": round(time.time() - began, 1)}
    run_dir.write_json("metrics.json", metrics)
    log(f"saved {model_dir}; done in {metrics['seconds']:.0f} s; run directory {run_dir.path}")
    return metrics


def evaluate(model_dir, dataset, labels=None, log=print, out=None):
    """Metrics of a saved denoiser on WFDB records (``ecg evaluate``): each record, prepared as
    in training (resampled, band-passed), is the clean reference, made noisy with the model's
    test seeds at its test SNRs.

    Returns
    -------
    dict
        ``table`` (one row per noise and SNR, as in training), ``missing``.
    """
    from ecg.models.keras_model import KerasBaseModel
    from ecg.tasks.windows import cache_signals, clean_recipe, read_signals

    model = KerasBaseModel({"path": str(model_dir)})
    info = model.config.info
    prepare = PrepareConfig(fs=info["fs"], band_pass=tuple(info["band_pass"]))
    with tempfile.TemporaryDirectory() as cache_dir:
        cache_signals(dataset, clean_recipe(prepare), cache_dir, log)
        names = [str(ix) for ix in dataset.indices]
        signals, fs = read_signals(names, cache_dir)
    length = int(round(info["window"] * fs))
    clean, records, leads = windows_of(names, signals, length, info["evaluate_per_record"])
    table, rows = evaluate_windows(model, clean, records, leads, fs, info, info["test_snr_db"], info["test_seed"],
                                   prepare.band_pass)
    log(f"{len(names)} records, {len(clean)} windows:")
    print_table(table, log)
    report = {"table": table, "missing": {}}
    if out is not None:
        out = RunDirectory(out)
        out.write_json("metrics.json", report)
        out.write_rows("predictions.csv", rows)
    return report


def denoise_record(model, signal, multiple):
    """Denoise every lead of one record ``(n_leads, n_samples)`` at the network's rate, whole."""
    from ecg.ops.segments import pad

    n = signal.shape[-1]
    padded = -(-n // multiple) * multiple
    x = np.stack([pad(lead[None], padded, mode="edge") for lead in signal]).transpose(0, 2, 1)
    scale = np.ones((len(x), 1, 1))
    if (model.config.info or {}).get("standardize"):
        scale = np.maximum(signal.std(axis=-1), 1e-6)[:, None, None]     # each lead by its SD
    return (np.asarray(model.predict_on_batch(np.ascontiguousarray(x / scale, np.float32))) * scale)[:, :n, 0]


def write_record(folder, name, signal, fs, sig_name, units):
    """Write ``signal`` ``(n_leads, n_samples)`` as WFDB record ``folder/name`` (format 16), atomically.

    Both files are written into a temporary folder beside ``folder`` and renamed into place.
    """
    import wfdb

    os.makedirs(folder, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=folder, prefix=f".{name}.tmp-")
    try:
        p_signal = np.asarray(signal, np.float64).T
        wfdb.wrsamp(name, fs=float(fs), units=list(units), sig_name=list(sig_name), p_signal=p_signal,
                    fmt=["16"] * p_signal.shape[1], write_dir=tmp)
        for ext in ("dat", "hea"):        # the header last: a reader finds a record only when complete
            os.replace(os.path.join(tmp, f"{name}.{ext}"), os.path.join(folder, f"{name}.{ext}"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def records_folder(out):
    """Folder of the denoised records of ``ecg predict --out OUT``: ``OUT`` without its extension."""
    root, ext = os.path.splitext(os.fspath(out))
    return root if ext else f"{root}_denoised"


def predict(model_dir, dataset, out):
    """Denoise raw records for ``ecg predict``: one WFDB record per input record.

    Parameters
    ----------
    model_dir : str or Path
        A model folder saved by :func:`run`.
    dataset : EcgDataset
        WFDB records.
    out : str
        The ``--out`` CSV; the records go to :func:`records_folder` of it.

    Returns
    -------
    tuple
        ``(header, rows, missing)``: one row per written record (``record, path, fs,
        n_samples, leads``) and the records that got none, with the reason.
    """
    from ecg.models.keras_model import KerasBaseModel
    from ecg.recipes import recipe_steps

    model = KerasBaseModel({"path": str(model_dir)})
    multiple = model.config.info.get("step_multiple", 1)
    steps = recipe_steps(model.config.preprocess)
    folder = records_folder(out)
    rows, missing = [], {}
    for ix in dataset.indices:
        try:
            batch = dataset.create_batch(np.array([ix])).load(fmt="wfdb", components=["signal", "meta"])
            for name, kwargs in steps:
                batch = getattr(batch, name)(**kwargs)
        except EcgError as exc:
            missing[str(ix)] = str(exc)
            continue
        meta, signal = batch.meta[0], np.asarray(batch.signal[0], np.float32)
        denoised = denoise_record(model, signal, multiple)
        n_leads = signal.shape[0]
        write_record(folder, str(ix), denoised, meta["fs"], meta.get("sig_name") or [f"lead{i}" for i in range(n_leads)],
                     meta.get("units") or ["mV"] * n_leads)
        rows.append([str(ix), os.path.join(folder, str(ix)), f"{meta['fs']:g}", signal.shape[-1], n_leads])
    return ["record", "path", "fs", "n_samples", "leads"], rows, missing
