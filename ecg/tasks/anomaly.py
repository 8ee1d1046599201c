"""Beat anomaly detection: a score per heartbeat, learnt from normal beats only (MIT-BIH).

The pipeline, as ``pipelines/mitdb_anomaly.yaml`` configures it:

1. **split** the records as the beat task does (:mod:`ecg.tasks.beats`): DS1 to learn
   from, a few DS1 records held out to choose the epoch and calibrate the score, DS2 to
   test (other patients).
2. **prepare** the beats once into an npz cache with the beat task's recipe (resample,
   band-pass, R peaks, normalisation, a window around every reference beat and its RR
   features normalised by the record's rhythm).
3. **train** a convolutional autoencoder (:mod:`ecg.models.autoencoder`) on the
   **normal (AAMI N) beats** of the training records only: it learns to give back the
   clean beat window from a slightly noisy one (a denoising autoencoder, noise of
   :func:`ecg.ops.augment.noise_at_snr`). No abnormal beat and no abnormal label is
   used for any step: the epoch is kept by the validation records' normal beats
   (their mean reconstruction error) and the score is calibrated on them.
4. **score** every beat with two parts, each a one-class model of normal beats:

   * ``reconstruction``: the mean squared error of the autoencoder's output, in log;
   * ``rr``: the squared Mahalanobis distance of the beat's RR features
     (``score.rr_features``) from the Gaussian fitted to the normal training beats, in
     log (``log(1 + d2)``): premature S beats look normal but come early.

   Each part is standardised by its mean and SD over the normal validation beats, and
   the anomaly score is the sum of the parts named in ``score.parts``. The threshold of
   the ``anomalous`` flag is the ``score.specificity`` quantile of the normal validation
   beats' scores.
5. **test** on every DS2 beat: AUROC and the sensitivity at 95 % specificity for
   abnormal beats (S, V, F, Q against N) of the score and of each part, the AUROC of
   each class against N, and the sensitivity and specificity of the calibrated flag.
6. **save** the autoencoder with its recipe (detected beats, what ``ecg predict``
   gives an unseen record) and the one-class statistics in its config.

``predictions.csv`` holds one row per DS2 beat: ``record, sample`` (at the record's
rate), ``true`` (AAMI class), the parts, ``score`` and ``anomalous``.
"""
import time
from typing import Literal, Optional

import numpy as np
from pydantic import Field, field_validator

from ecg.config import StrictConfig
from ecg.ops.beats import BEAT_RR_FEATURES
from ecg.tasks.base import RunDirectory, TaskConfig, adamw, fit
from ecg.tasks.beats import PrepareConfig as BeatPrepareConfig
from ecg.tasks.beats import SplitConfig

RECORD_LABELS = False  # the reference is each record's .atr
PARTS = ("reconstruction", "rr")


class PrepareConfig(BeatPrepareConfig):
    """The beat task's preprocessing (:class:`ecg.tasks.beats.PrepareConfig`), at 250 Hz by
    default so that the window (0.256 s + 0.448 s, 176 samples) fits the autoencoder's
    down-sampling."""

    fs: float = Field(default=250.0, gt=0)
    before: float = Field(default=0.256, ge=0)
    after: float = Field(default=0.448, gt=0)


class ScoreConfig(StrictConfig):
    """How a beat's anomaly score is made.

    Attributes
    ----------
    parts : list of str
        Parts summed into the score, each standardised on normal validation beats.
    rr_features : list of str
        RR features of the ``rr`` part (columns of :data:`ecg.ops.beats.BEAT_RR_FEATURES`).
    specificity : float
        Specificity on normal validation beats of the ``anomalous`` flag's threshold.
    """

    parts: list[Literal["reconstruction", "rr"]] = list(PARTS)
    rr_features: list[str] = ["pre_rr_norm", "post_rr_norm", "pre_local", "post_pre"]
    specificity: float = Field(default=0.95, gt=0, lt=1)

    @field_validator("rr_features")
    @classmethod
    def _known(cls, names):
        unknown = sorted(set(names) - set(BEAT_RR_FEATURES))
        if unknown or not names:
            raise ValueError(f"unknown RR feature(s) {unknown}; the features are {list(BEAT_RR_FEATURES)}")
        return names

    @field_validator("parts")
    @classmethod
    def _some(cls, parts):
        if not parts:
            raise ValueError(f"name at least one part of {list(PARTS)}")
        return parts


class AugmentConfig(StrictConfig):
    """Training augmentation of the normal beats.

    Attributes
    ----------
    scale : tuple of float, optional
        Amplitude factor range (input and target alike).
    noise_snr_db : tuple of float
        SNR range in dB of the noise on the autoencoder's input (the target is the clean beat).
    """

    scale: Optional[tuple[float, float]] = (0.8, 1.2)
    noise_snr_db: tuple[float, float] = (15.0, 30.0)


class Config(TaskConfig):
    """Config of a beat anomaly task (see the module docstring and ``pipelines/mitdb_anomaly.yaml``).

    Attributes
    ----------
    normal : list of str
        AAMI classes the autoencoder learns from (``N``); every other class is abnormal.
    reported : list of str
        Classes of the per-class AUROC table.
    """

    task: Literal["anomaly"]
    normal: list[str] = ["N"]
    reported: list[str] = ["S", "V", "F", "Q"]
    prepare: PrepareConfig = PrepareConfig()
    split: SplitConfig = SplitConfig()
    augment: AugmentConfig = AugmentConfig()
    score: ScoreConfig = ScoreConfig()


# --- the one-class scores -----------------------------------------------------------------
def reconstruct(model, windows, batch_size=2048):
    """The autoencoder's output for beat windows ``(n, n_leads, length)``, in the same layout."""
    outputs = [np.asarray(model.predict_on_batch(np.ascontiguousarray(windows[i:i + batch_size].transpose(0, 2, 1))))
               for i in range(0, len(windows), batch_size)]
    return np.concatenate(outputs).transpose(0, 2, 1) if outputs else np.zeros_like(windows)


def reconstruction_error(model, windows):
    """log of the mean squared reconstruction error of each beat window, ``(n,)``."""
    error = np.mean((reconstruct(model, windows).astype(np.float64) - windows) ** 2, axis=(1, 2))
    return np.log(error + 1e-12)


def fit_gaussian(features):
    """Mean and precision matrix of features ``(n, d)`` (NaN rows left out; a small ridge)."""
    features = np.asarray(features, np.float64)
    features = features[np.isfinite(features).all(axis=1)]
    mean = features.mean(axis=0)
    cov = np.atleast_2d(np.cov(features, rowvar=False)) + 1e-6 * np.eye(features.shape[1])
    return {"mean": mean.tolist(), "precision": np.linalg.inv(cov).tolist()}


def rr_distance(features, gaussian):
    """``log(1 + d2)``, ``d2`` the squared Mahalanobis distance of each row from ``gaussian``.

    A row with a missing feature (a record's first or last beat) gets the distance of
    its missing features set to the mean.
    """
    mean, precision = np.asarray(gaussian["mean"]), np.asarray(gaussian["precision"])
    x = np.asarray(features, np.float64)
    x = np.where(np.isfinite(x), x, mean) - mean
    return np.log1p(np.einsum("ij,jk,ik->i", x, precision, x))


def score_parts(model, windows, features, info):
    """``{part: (n,)}`` of every part, raw (before the standardisation)."""
    columns = [BEAT_RR_FEATURES.index(name) for name in info["rr_features"]]
    return {"reconstruction": reconstruction_error(model, windows),
            "rr": rr_distance(np.asarray(features)[:, columns], info["rr_gaussian"])}


def anomaly_score(parts, info):
    """The score: the sum of the standardised parts named in ``info["parts"]``."""
    return sum((parts[p] - info["calibration"][p][0]) / info["calibration"][p][1] for p in info["parts"])


def detection_report(y_true, scores, specificity=0.95):
    """AUROC and sensitivity at ``specificity`` of each score for ``y_true`` (True: abnormal)."""
    from ecg.metrics import auroc, sensitivity_at_specificity

    report = {}
    for name, score in scores.items():
        sens, threshold = sensitivity_at_specificity(y_true, score, specificity)
        report[name] = {"auroc": auroc(y_true, score), f"sensitivity_at_{round(100 * specificity)}_specificity": sens,
                        "threshold": threshold}
    return report


def scores_report(labels, parts, score, info, reported):
    """Every test number: the abnormal-vs-normal report, per-class AUROC, the calibrated flag."""
    from ecg.metrics import auroc

    normal = np.isin(labels, info["normal"])
    known = labels != ""
    abnormal = ~normal & known
    keep = normal | abnormal
    report = detection_report(abnormal[keep], {"score": score[keep], **{p: v[keep] for p, v in parts.items()}})
    per_class = {}
    for name in reported:
        pick = normal | (labels == name)
        if (labels == name).any():
            per_class[name] = {"n": int((labels == name).sum()), "auroc": auroc(labels[pick] == name, score[pick])}
    flag = score >= info["threshold"]
    report["per_class"] = per_class
    report["flag"] = {"threshold": info["threshold"], "sensitivity": float(flag[abnormal].mean()),
                      "specificity": float(1 - flag[normal].mean())}
    report["n_beats"] = {"normal": int(normal.sum()), "abnormal": int(abnormal.sum())}
    return report


def print_report(report, title, log):
    log(f"\n{title}")
    for name in ("score", *PARTS):
        row = report[name]
        log(f"{name:>15}: AUROC {row['auroc']:.4f}, sensitivity at 95 % specificity "
            f"{100 * row['sensitivity_at_95_specificity']:.1f} %")
    log("AUROC of each class against N: " + ", ".join(f"{c} {r['auroc']:.4f} ({r['n']} beats)"
                                                      for c, r in report["per_class"].items()))
    flag = report["flag"]
    log(f"flag (threshold from normal validation beats): sensitivity {100 * flag['sensitivity']:.1f} %, "
        f"specificity {100 * flag['specificity']:.1f} %")


# --- the steps ----------------------------------------------------------------------------
def model_config(cfg, n_steps):
    """The KerasBaseModel config of the autoencoder."""
    from ecg.tasks.beats import prepare_recipe

    return {"model": cfg.model, "task": "segmentation", "loss": "mse", "optimizer": adamw(cfg.train, n_steps),
            "seed": cfg.train.seed, "preprocess": prepare_recipe(cfg, "rpeaks"),
            "info": {"task": "anomaly", "name": cfg.name, "dataset": cfg.data.dataset, "fs": cfg.prepare.fs,
                     "normal": list(cfg.normal), "reported": list(cfg.reported), "parts": list(cfg.score.parts),
                     "rr_features": list(cfg.score.rr_features), "specificity": cfg.score.specificity}}


def train_pipeline(cfg, dataset, model_cfg):
    """Normal beats, amplitude-scaled, made slightly noisy: the clean beat is the target."""
    from batchflow import V

    from ecg import KerasBaseModel

    pipeline = (dataset.p.init_model("net", KerasBaseModel, mode="dynamic", config=model_cfg)
                .init_variable("loss", []))
    if cfg.augment.scale is not None:
        pipeline = pipeline.scale_amplitude(*cfg.augment.scale)
    return (pipeline.add_noise_at_snr(tuple(cfg.augment.noise_snr_db), clean_target=True)
            .train_on_batch("net", save_to=V("loss", mode="a")))


def calibrate(info, parts):
    """Mean and SD of each part on normal beats, and the threshold at the specificity asked for."""
    calibration = {p: [float(np.mean(v)), float(max(np.std(v), 1e-6))] for p, v in parts.items()}
    info = {**info, "calibration": calibration}
    score = anomaly_score(parts, info)
    return {**info, "threshold": float(np.quantile(score, info["specificity"]))}


def run(cfg, run_dir, resume=False, log=print):
    """Train on normal beats, calibrate on normal validation beats, test on DS2, save."""
    from ecg.data.datasets.base import make_subset
    from ecg.models.keras_model import KerasBaseModel
    from ecg.tasks.beats import Beats, cache_records, prepare_recipe, start_run

    began = time.time()
    run_dir, spec, records = start_run(cfg, run_dir, log)
    cache_dir = run_dir / "cache" / "reference"
    everything = make_subset(spec.dataset, [r for part in records.values() for r in part])
    cache_records(everything, prepare_recipe(cfg, "atr"), cache_dir, log)
    beats = {split: Beats(names, cache_dir) for split, names in records.items()}
    train, validation, test = beats["train"], beats["validation"], beats["test"]
    normal = np.isin(train.label, cfg.normal)
    val_normal = np.isin(validation.label, cfg.normal)
    log(f"normal training beats: {int(normal.sum())} (of {len(train)}; the others are not used), "
        f"normal validation beats: {int(val_normal.sum())}; window {train.signal.shape[-1]} samples")
    model_cfg = model_config(cfg, cfg.train.epochs * (int(normal.sum()) // cfg.train.batch_size))
    val_windows = validation.signal[val_normal]

    def make_pipeline(seed):
        return train_pipeline(cfg, train.dataset(normal), {**model_cfg, "seed": seed})

    def validate(net):
        error = reconstruction_error(net, val_windows)
        return -float(np.mean(error)), {"median_log_error": float(np.median(error))}

    model, best_epoch, keeper = fit(make_pipeline, cfg, run_dir, validate,
                                    "minus the mean log reconstruction error of normal validation beats", resume, log)

    info = {**model.config.info, "rr_gaussian": fit_gaussian(
        train.features[normal][:, [BEAT_RR_FEATURES.index(n) for n in cfg.score.rr_features]])}
    info = calibrate(info, score_parts(model, val_windows, validation.features[val_normal], info))
    parts = score_parts(model, test.signal, test.features, info)
    score = anomaly_score(parts, info)
    report = scores_report(test.label, parts, score, info, cfg.reported)
    print_report(report, f"test split {cfg.split.test} ({len(records['test'])} records, {len(test)} beats), "
                         f"weights of epoch {best_epoch}:", log)
    model.config = model.config.model_copy(update={"info": {**info, "splits": records, "test": {
        "auroc": report["score"]["auroc"],
        "sensitivity_at_95_specificity": report["score"]["sensitivity_at_95_specificity"]}}})
    model_dir = run_dir / "model"
    model.save(model_dir)
    saved = KerasBaseModel({"path": str(model_dir)})
    diff = float(np.abs(score_parts(saved, val_windows[:256], validation.features[val_normal][:256], info)
                        ["reconstruction"] - score_parts(model, val_windows[:256], validation.features[val_normal][:256],
                                                         info)["reconstruction"]).max())
    scale = spec.fs / test.fs
    flag = score >= info["threshold"]
    rows = [{"record": r, "sample": int(round(s * scale)), "true": t, "reconstruction": float(a), "rr": float(b),
             "score": float(v), "anomalous": int(f)}
            for r, s, t, a, b, v, f in zip(test.record, test.sample, test.label, parts["reconstruction"], parts["rr"],
                                           score, flag)]
    run_dir.write_rows("predictions.csv", rows)
    plot_scores(score, test.label, cfg.normal, info["threshold"], run_dir / "plots" / "anomaly_scores.png", cfg.name)
    metrics = {"name": cfg.name, "test": {"auroc": report["score"]["auroc"],
                                          "sensitivity_at_95_specificity": report["score"][
                                              "sensitivity_at_95_specificity"], "report": report},
               "best_epoch": best_epoch, "validation_best": keeper.best, "records": records,
               "beats": {k: len(v) for k, v in beats.items()}, "normal_training_beats": int(normal.sum()),
               "saved_model_max_abs_diff": diff, "seconds": round(time.time() - began, 1)}
    run_dir.write_json("metrics.json", metrics)
    log(f"saved {model_dir}; done in {metrics['seconds']:.0f} s; run directory {run_dir.path}")
    return metrics


def plot_scores(score, labels, normal, threshold, path, name):
    """Histogram of the anomaly score of normal and abnormal beats, and the threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    is_normal = np.isin(labels, normal)
    bins = np.linspace(np.percentile(score, 0.5), np.percentile(score, 99.5), 80)
    ax.hist(score[is_normal], bins=bins, alpha=0.6, density=True, label=f"normal ({int(is_normal.sum())})")
    ax.hist(score[~is_normal & (labels != "")], bins=bins, alpha=0.6, density=True,
            label=f"abnormal ({int((~is_normal & (labels != '')).sum())})")
    ax.axvline(threshold, color="k", linestyle="--", label="threshold")
    ax.set(xlabel="anomaly score", ylabel="density", title=f"{name}: test beats")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def score_records(model, dataset):
    """Detect the beats of raw records with a saved model's recipe and score them.

    Returns
    -------
    dict
        Record name -> ``(samples, parts, score)``: the detected beats (samples at the
        record's own rate), ``{part: (n,)}`` and the anomaly score ``(n,)``.
    """
    from ecg.io import read_header_meta
    from ecg.recipes import apply_recipe

    info = model.config.info
    pipeline = apply_recipe(dataset.p.load(fmt="wfdb", components=["signal", "meta"]), model.config.preprocess)
    out = {}
    for batch in pipeline.gen_batch(batch_size=1, n_epochs=1, shuffle=False, drop_last=False):
        for ix, meta, windows, features in zip(batch.indices, batch.meta, batch.signal, batch.features):
            samples = np.asarray(meta["beat_samples"])
            if not len(samples):
                out[str(ix)] = (samples.astype(np.int64), {p: np.zeros(0) for p in PARTS}, np.zeros(0))
                continue
            scale = read_header_meta(meta["path"])["fs"] / meta["fs"]
            parts = score_parts(model, np.asarray(windows, np.float32), np.asarray(features), info)
            out[str(ix)] = (np.round(samples * scale).astype(np.int64), parts, anomaly_score(parts, info))
    return out


def evaluate(model_dir, dataset, labels=None, log=print, out=None):
    """Metrics of a saved anomaly model on WFDB records with ``.atr`` beat labels (``ecg evaluate``):
    the beats its recipe detects, each given the class of the reference beat it matches
    (within 150 ms); detections that match none are left out.

    Returns
    -------
    dict
        The test report of :func:`scores_report`, and ``missing``.
    """
    from ecg.io import read_annotation, read_header_meta
    from ecg.io.records import record_base
    from ecg.metrics import match_positions
    from ecg.models.keras_model import KerasBaseModel
    from ecg.ops.beats import aami_classes

    model = KerasBaseModel({"path": str(model_dir)})
    info = model.config.info
    found = score_records(model, dataset)
    all_labels, all_parts, all_scores, rows, missing = [], {p: [] for p in PARTS}, [], [], {}
    for ix in dataset.indices:
        ix = str(ix)
        if ix not in found or not len(found[ix][0]):
            missing[ix] = "no beat detected"
            continue
        path = record_base(dataset.index.get_fullpath(ix))
        ann = read_annotation(path, "atr")
        classes = aami_classes(ann["symbol"])
        reference, ref_labels = np.asarray(ann["sample"])[classes != ""], classes[classes != ""]
        samples, parts, score = found[ix]
        ref_index, det_index = match_positions(reference, samples, 0.15 * read_header_meta(path)["fs"])
        all_labels.append(ref_labels[ref_index])
        all_scores.append(score[det_index])
        for p in PARTS:
            all_parts[p].append(parts[p][det_index])
        rows += [{"record": ix, "sample": int(samples[d]), "true": ref_labels[r], "score": float(score[d])}
                 for r, d in zip(ref_index, det_index)]
    labels_all = np.concatenate(all_labels)
    report = scores_report(labels_all, {p: np.concatenate(v) for p, v in all_parts.items()},
                         np.concatenate(all_scores), info, info["reported"])
    print_report(report, f"{len(dataset)} records, detected beats matched to their .atr beats:", log)
    report["missing"] = missing
    if out is not None:
        out = RunDirectory(out)
        out.write_json("metrics.json", report)
        out.write_rows("predictions.csv", rows)
    return report


def predict(model_dir, dataset):
    """Anomaly scores of the detected beats of raw records for ``ecg predict``.

    Returns
    -------
    tuple
        ``(header, rows, missing)``: ``record, sample, score, anomalous, reconstruction,
        rr`` per detected beat (``sample`` at the record's own rate), and the records
        without a beat.
    """
    from ecg.models.keras_model import KerasBaseModel

    model = KerasBaseModel({"path": str(model_dir)})
    threshold = model.config.info["threshold"]
    found = score_records(model, dataset)
    rows = [[ix, int(s), f"{v:.6f}", int(v >= threshold), f"{a:.6f}", f"{b:.6f}"]
            for ix, (samples, parts, score) in found.items()
            for s, v, a, b in zip(samples, score, parts["reconstruction"], parts["rr"])]
    missing = {str(ix): "no beat detected" for ix in dataset.indices
               if str(ix) not in found or len(found[str(ix)][0]) == 0}
    return ["record", "sample", "score", "anomalous", "reconstruction", "rr"], rows, missing
