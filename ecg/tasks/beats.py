"""Beat classification, one AAMI class per heartbeat (MIT-BIH, inter-patient DS1 -> DS2).

The protocol is de Chazal et al. (IEEE TBME 51(7), 2004): the network learns from the
DS1 records only, keeps its epoch on DS1 records held out by record, and is scored
once on the 22 DS2 records, each a different patient (see :mod:`ecg.data.datasets.mitdb`).
The pipeline, as ``pipelines/mitdb_beats.yaml`` configures it:

1. **prepare** every record once into an npz cache: resample, band-pass, R peaks
   (Pan-Tompkins with the timing refinement of :func:`ecg.ops.rpeaks.refine_r_peaks`),
   amplitude normalisation over the whole record, a window around every beat
   (:meth:`~ecg.batch.preprocessing.PreprocessingMixin.beat_signals`) and its RR
   features normalised by the record's own rhythm
   (:func:`ecg.ops.beats.beat_rr_features`). Training and validation beats sit on the
   reference marks (``.atr``), the literature's protocol.
2. **train** a small CNN on the beat windows of both leads with the RR features in a
   feature input (:mod:`ecg.models.fusion`), class weights, amplitude augmentation and
   AdamW on a cosine schedule; the beats of the training records are one in-memory
   dataset, shuffled every epoch.
3. **validate** after each epoch on the held-out DS1 records (macro F1 of the scored
   classes N, S, V) and keep the best epoch; no DS2 record is used for any choice.
4. **evaluate** on the test records twice: on the reference beat positions, and on the
   beats our own detector finds (detections matched to reference beats within
   ``tolerance``; an unmatched detection is a false positive of its predicted class, a
   missed beat a false negative of its true class). Per-class Se, +P, F1 (AAMI tables),
   macro F1 of N, S, V, and the R-peak timing error per class.
5. **save** the model with its recipe (detected beats: what an unseen record gets);
   the detected-beat evaluation runs through the saved model from the raw records.
"""
import sys
import time
from typing import Literal, Optional, Union

import numpy as np
from pydantic import Field

from ecg.config import StrictConfig
from ecg.errors import ConfigError
from ecg.tasks.base import RunDirectory, TaskConfig, adamw, fit

NO_BEAT = "-"
RECORD_LABELS = False  # the reference is each record's .atr
"""Pseudo-class of the detected-beat tables: the true class of an unmatched detection
and the predicted class of a missed beat."""


class PrepareConfig(StrictConfig):
    """Preprocessing, run once into the cache and saved as the model's recipe.

    Attributes
    ----------
    fs : float
        Rate the records are resampled to first, in Hz (MIT-BIH: 360, so none).
    band_pass : tuple of float
        Band-pass cut-offs in Hz of the signal the network sees.
    normalize : {"robust", "zscore", "minmax"}
        Amplitude normalisation per lead over the whole record (before the beats are cut).
    leads : list of str, optional
        Leads the network sees, by name (``select_leads``); default all, in file order.
    detect_lead : int or str
        Lead of the R-peak detector (``"MLII"``).
    refine_window : float
        Half-width in seconds of the R-peak timing refinement
        (:func:`ecg.ops.rpeaks.refine_r_peaks`); 0 turns it off.
    before, after : float
        Beat window before and from each beat, in seconds.
    n_local : int
        RR intervals in the local average of the RR features.
    templates : bool
        Give the network each record's median beat beside every beat (extra leads).
    """

    fs: float = Field(default=360.0, gt=0)
    band_pass: tuple[float, float] = (0.5, 40.0)
    normalize: Literal["robust", "zscore", "minmax"] = "robust"
    leads: Optional[list[str]] = None
    detect_lead: Union[int, str] = "MLII"
    refine_window: float = Field(default=0.1, ge=0)
    before: float = Field(default=0.25, ge=0)
    after: float = Field(default=0.45, gt=0)
    n_local: int = Field(default=10, ge=1)
    templates: bool = False


class SplitConfig(StrictConfig):
    """Which records train, validate and test.

    Attributes
    ----------
    train : str
        Split of the dataset the network learns from (MIT-BIH: ``DS1``).
    test : str
        Split it is scored on, once (``DS2``).
    validation : list of str
        Records of the ``train`` split held out for the choice of the epoch.
    """

    train: str = "DS1"
    test: str = "DS2"
    validation: list[str] = ["101", "106", "118", "215", "220"]


class AugmentConfig(StrictConfig):
    """Training augmentations of the beat windows.

    Attributes
    ----------
    scale : tuple of float, optional
        Amplitude factor range.
    noise_snr_db : float, optional
        Add Gaussian noise at this SNR (dB) to half of the beats.
    """

    scale: Optional[tuple[float, float]] = (0.8, 1.2)
    noise_snr_db: Optional[float] = None


class Config(TaskConfig):
    """Config of a beat task (see the module docstring and ``pipelines/mitdb_beats.yaml``).

    Attributes
    ----------
    classes : list of str
        Classes the network predicts, in output order (beats of other classes, e.g. Q,
        are left out of training and counted in the test tables as they fall).
    scored : list of str
        Classes whose mean F1 is the headline score (N, S, V).
    reported : list of str
        Classes of the test tables (the five AAMI classes).
    class_weight : {"sqrt", "balanced", "none"}
        Loss weight of a class: inverse square root of its frequency, inverse
        frequency, or 1.
    features : dict
        The feature branch (:class:`ecg.models.keras_model.FeatureInput` keys except the
        statistics, which come from the training beats).
    tolerance : float
        Largest distance in seconds of a detection from the reference beat it finds.
    """

    task: Literal["beats"]
    classes: list[str] = ["N", "S", "V", "F"]
    scored: list[str] = ["N", "S", "V"]
    reported: list[str] = ["N", "S", "V", "F", "Q"]
    prepare: PrepareConfig = PrepareConfig()
    split: SplitConfig = SplitConfig()
    augment: AugmentConfig = AugmentConfig()
    class_weight: Literal["sqrt", "balanced", "none"] = "sqrt"
    features: dict = {"units": 32, "hidden": 64, "dropout": 0.3}
    tolerance: float = Field(default=0.15, gt=0)


# --- the steps ----------------------------------------------------------------------------
def prepare_recipe(cfg, ext="rpeaks"):
    """The preprocessing recipe, beats cut around ``ext``: ``"rpeaks"`` (detected, the saved
    model's recipe) or ``"atr"`` (the reference beat labels)."""
    p = cfg.prepare
    low, high = p.band_pass
    conf = {"refine_window": p.refine_window} if p.refine_window > 0 else None
    recipe = [{"resample_signals": {"fs": p.fs}}]
    if p.leads:
        recipe.append({"select_leads": {"names": list(p.leads)}})
    recipe += [{"band_pass_signals": {"low": low, "high": high}},
               {"find_r_peaks": {"lead": p.detect_lead, **({"conf": conf} if conf else {})}}]
    if ext != "rpeaks":
        recipe.append({"keep_beats": {"ext": ext}})
    return recipe + [{"normalize_signals": {"method": p.normalize}},
                     {"beat_signals": {"before": p.before, "after": p.after, "ext": ext}},
                     {"beat_rr_features": {"n_local": p.n_local}}] + ([{"beat_templates": {}}] if p.templates else [])


def dataset_def(cfg):
    """The task's :class:`~ecg.data.datasets.EcgDatasetDef` (downloaded if needed)."""
    from ecg.data.datasets import get_dataset

    return get_dataset(cfg.data.dataset, cfg.data.path, dest=cfg.data.downloads, mirror=cfg.data.mirror)


def split_records(cfg, spec):
    """``{"train", "validation", "test"}`` -> record names; validation records come from the train split."""
    for key in ("train", "test"):
        if getattr(cfg.split, key) not in spec.splits:
            raise ConfigError(f"split.{key}={getattr(cfg.split, key)!r} is not a split of {spec.name}; "
                              f"its splits are {sorted(spec.splits)}")
    train = list(spec.splits[cfg.split.train])
    outside = sorted(set(cfg.split.validation) - set(train))
    if outside:
        raise ConfigError(f"split.validation: records {outside} are not in the {cfg.split.train} split "
                          f"({train}); validation records must come from the training split")
    records = {"train": [r for r in train if r not in cfg.split.validation],
               "validation": [r for r in train if r in cfg.split.validation],
               "test": list(spec.splits[cfg.split.test])}
    if cfg.data.limit:
        records = {k: v[:cfg.data.limit] for k, v in records.items()}
    empty = [k for k, v in records.items() if not v]
    if empty:
        raise ConfigError(f"no {' or '.join(empty)} records: check split.validation and data.limit")
    return records


def start_run(cfg, run_dir, log):
    """Open a run over named record splits: ``(run_dir, spec, records)``.

    The run directory (a :class:`RunDirectory`) gets the resolved ``config.yaml``; the
    dataset is found or downloaded (:func:`dataset_def`), split by :func:`split_records`,
    and the split sizes are logged.
    """
    run_dir = RunDirectory(run_dir)
    run_dir.write_yaml("config.yaml", cfg.model_dump(mode="json"))
    spec = dataset_def(cfg)
    records = split_records(cfg, spec)
    log(f"{cfg.name}: " + ", ".join(f"{k} {len(v)} records" for k, v in records.items()))
    return run_dir, spec, records


def cache_records(dataset, recipe, cache_dir, log, ann_ext="atr"):
    """Run the load (signal, meta and annotation ``ann_ext``) + ``recipe`` over ``dataset``
    once, into ``<cache_dir>/<record>.npz``.

    One record per batch, so that a lead named in the recipe may sit at another
    position in each record (MIT-BIH 114 has MLII second).
    """
    import os

    from ecg.recipes import apply_recipe

    missing = [ix for ix in dataset.indices if not os.path.isfile(os.path.join(cache_dir, f"{ix}.npz"))]
    if not missing:
        return
    began = time.time()
    subset = dataset.create_subset(dataset.index.create_subset(np.array(missing)))
    pipeline = apply_recipe(subset.p.load(fmt="wfdb", components=["signal", "meta", "annotation"],
                                          ann_ext=ann_ext), recipe)
    pipeline = pipeline.dump(dst=str(cache_dir), fmt="npz", components=["signal", "meta", "features"])
    pipeline.run(batch_size=1, n_epochs=1, shuffle=False, drop_last=False, bar=sys.stderr.isatty())
    log(f"prepared {len(missing)} records into {cache_dir} ({time.time() - began:.0f} s)")


class Beats:
    """The beats of some records, from the cache: windows, RR features, positions, classes.

    Attributes
    ----------
    signal : numpy.ndarray of float32, shape (n_beats, n_leads, window)
    features : numpy.ndarray of float32, shape (n_beats, n_features)
    record : numpy.ndarray of str, shape (n_beats,)
    sample : numpy.ndarray of int64, shape (n_beats,)
        Beat positions at the prepared rate.
    label : numpy.ndarray of str, shape (n_beats,)
        AAMI class of each beat (from its reference label).
    fs : float
        The prepared rate in Hz.
    """

    def __init__(self, records, cache_dir):
        from ecg.io import read_npz
        from ecg.ops.beats import aami_classes

        parts = [read_npz(f"{cache_dir}/{record}.npz") for record in records]
        self.signal = np.concatenate([p["signal"] for p in parts]).astype(np.float32)
        self.features = np.concatenate([p["features"] for p in parts]).astype(np.float32)
        self.record = np.concatenate([np.full(len(p["signal"]), r) for r, p in zip(records, parts)])
        self.sample = np.concatenate([np.asarray(p["meta"]["beat_samples"], np.int64) for p in parts])
        self.label = aami_classes(np.concatenate([np.asarray(p["meta"]["beat_symbols"], str) for p in parts]))
        self.fs = float(parts[0]["meta"]["fs"])

    def __len__(self):
        return len(self.label)

    def dataset(self, keep=None):
        """A batchflow dataset of the beats (``keep``: a boolean mask), one beat per item."""
        from batchflow import Dataset, DatasetIndex

        from ecg.batch import EcgBatch
        from ecg.batch.base import object_array

        keep = np.ones(len(self), bool) if keep is None else np.asarray(keep)
        metas = {r: {"record": str(r), "fs": self.fs} for r in np.unique(self.record)}
        meta = object_array([metas[r] for r in self.record[keep]])
        preloaded = (self.signal[keep], object_array([None] * int(keep.sum())), meta, self.label[keep],
                     self.features[keep])
        return Dataset(DatasetIndex(np.arange(int(keep.sum()))), batch_class=EcgBatch, preloaded=preloaded)


def model_config(cfg, n_steps, features_stats, weights):
    """The KerasBaseModel config of the task's network."""
    mean, std = features_stats
    return {"model": cfg.model, "optimizer": adamw(cfg.train, n_steps), "seed": cfg.train.seed,
            "preprocess": prepare_recipe(cfg, "rpeaks"), "class_weight": weights,
            "feature_input": dict(cfg.features, mean=mean, std=std),
            "info": {"task": "beats", "name": cfg.name, "dataset": cfg.data.dataset, "classes": cfg.classes,
                     "scored": cfg.scored, "reported": cfg.reported, "tolerance": cfg.tolerance}}


def train_pipeline(cfg, dataset, model_cfg):
    """The training pipeline over a dataset of beats, in the seed's chain style."""
    from batchflow import V

    from ecg import KerasBaseModel

    pipeline = (dataset.p
                .init_model("net", KerasBaseModel, mode="dynamic", config=model_cfg)
                .init_variable("loss", []))
    if cfg.augment.scale is not None:
        pipeline = pipeline.scale_amplitude(*cfg.augment.scale)
    if cfg.augment.noise_snr_db is not None:
        pipeline = pipeline.add_gaussian_noise(cfg.augment.noise_snr_db, p=0.5)
    return (pipeline.one_hot_labels(cfg.classes)
            .train_on_batch("net", save_to=V("loss", mode="a")))


def predict_beats(source, dataset, batch_size=2048):
    """Probabilities ``(n_beats, n_classes)`` of a dataset of beats, in its order."""
    from batchflow import V

    pipeline = (dataset.p.import_model("net", source).init_variable("prediction", {})
                .predict_on_batch("net", save_to=V("prediction", mode="u"), by_record=True))
    pipeline.run(batch_size=min(batch_size, len(dataset)), n_epochs=1, shuffle=False, drop_last=False)
    predictions = pipeline.v("prediction")
    return np.stack([predictions[ix] for ix in dataset.indices])


def predict_records(model, dataset):
    """Detect and classify the beats of raw records with a saved model and its recipe.

    Parameters
    ----------
    model : KerasBaseModel
        A model of this task (its recipe cuts beats around detected R peaks).
    dataset : EcgDataset
        WFDB records.

    Returns
    -------
    dict
        Record name -> ``(samples, probabilities)``: the detected beats, in samples at
        the record's own rate, and their class probabilities ``(n_beats, n_classes)``.
    """
    from ecg.io import read_header_meta
    from ecg.recipes import apply_recipe

    pipeline = apply_recipe(dataset.p.import_model("net", model).load(fmt="wfdb", components=["signal", "meta"]),
                            model.config.preprocess)
    pipeline = pipeline.predict_on_batch("net")
    out = {}
    for batch in pipeline.gen_batch(batch_size=1, n_epochs=1, shuffle=False, drop_last=False):
        for ix, meta, probs in zip(batch.indices, batch.meta, batch.predictions):
            scale = read_header_meta(meta["path"])["fs"] / meta["fs"]
            samples = np.round(np.asarray(meta["beat_samples"]) * scale).astype(np.int64)
            out[str(ix)] = (samples, np.asarray(probs).reshape(len(samples), -1))
    return out


def match_detections(reference, ref_labels, detected, pred_labels, tolerance):
    """Pair detected beats with reference beats; the class pairs of the detected-beat tables.

    Parameters
    ----------
    reference, detected : array-like of int
        Beat positions in samples.
    ref_labels, pred_labels : array-like of str
        The true class of each reference beat and the predicted class of each detection.
    tolerance : float
        Largest distance of a pair, in samples.

    Returns
    -------
    true, predicted : numpy.ndarray of str
        One entry per matched pair, per unmatched detection (true :data:`NO_BEAT`) and
        per missed reference beat (predicted :data:`NO_BEAT`).
    ref_index, det_index : numpy.ndarray of int64
        The matched pairs (positions in ``reference`` and ``detected``).

    Examples
    --------
    >>> true, pred, _, _ = match_detections([100, 400, 700], ["N", "V", "S"], [105, 395, 900],
    ...                                     ["N", "N", "S"], tolerance=54)
    >>> true.tolist(), pred.tolist()
    (['N', 'V', '-', 'S'], ['N', 'N', 'S', '-'])
    """
    from ecg.metrics import match_positions

    ref_labels, pred_labels = np.asarray(ref_labels, str), np.asarray(pred_labels, str)
    ref_index, det_index = match_positions(reference, detected, tolerance)
    false_positive = np.setdiff1d(np.arange(len(pred_labels)), det_index)
    missed = np.setdiff1d(np.arange(len(ref_labels)), ref_index)
    true = np.concatenate([ref_labels[ref_index], np.full(len(false_positive), NO_BEAT), ref_labels[missed]])
    predicted = np.concatenate([pred_labels[det_index], pred_labels[false_positive], np.full(len(missed), NO_BEAT)])
    return true, predicted, ref_index, det_index


def timing_table(errors_ms, labels, classes):
    """Timing error of matched detections per class: ``{class: {n, median, median_abs, p95_abs, over_25ms}}``.

    Examples
    --------
    >>> timing_table([0.0, 2.8, -90.0], ["N", "N", "V"], ["N", "V"])["V"]["median_abs"]
    90.0
    """
    errors_ms, labels = np.asarray(errors_ms, np.float64), np.asarray(labels, str)
    table = {}
    for name in classes:
        e = errors_ms[labels == name]
        table[name] = ({"n": int(e.size), "median": float(np.median(e)), "median_abs": float(np.median(np.abs(e))),
                        "p95_abs": float(np.percentile(np.abs(e), 95)),
                        "over_25ms": float(np.mean(np.abs(e) > 25))} if e.size else {"n": 0})
    return table


def scores(cfg, true, predicted):
    """AAMI table (dict of class -> TP, FN, FP, Se, +P, F1) and macro F1 of the scored classes.

    ``true``/``predicted`` hold class names; :data:`NO_BEAT` is a column and row of the
    confusion matrix but not a row of the table.
    """
    from ecg.metrics import aami_report

    names = list(cfg.reported) + [c for c in cfg.classes if c not in cfg.reported]
    with_none = names + [NO_BEAT]
    index = {c: i for i, c in enumerate(with_none)}
    unknown = sorted((set(true) | set(predicted)) - set(index))
    if unknown:
        raise ConfigError(f"classes {unknown} are not among reported {cfg.reported} or classes {cfg.classes}")
    y_true = np.array([index[c] for c in true], np.int64)
    y_pred = np.array([index[c] for c in predicted], np.int64)
    table = aami_report(y_true, y_pred, classes=with_none)
    from ecg.metrics import confusion_matrix

    cm = confusion_matrix(y_true, y_pred, num_classes=len(with_none))
    rows = {c: {k: (int(v) if k in ("TP", "FN", "FP", "TN") else float(v)) for k, v in table.loc[c].items()}
            for c in names}
    macro = float(np.mean([rows[c]["F1"] for c in cfg.scored]))
    has_none = bool(cm[-1].sum() or cm[:, -1].sum())
    return {"table": rows, "macro_f1": macro, "scored": list(cfg.scored),
            "confusion_matrix": (cm if has_none else cm[:-1, :-1]).tolist(),
            "confusion_classes": with_none if has_none else names, "n_beats": int(len(true))}


def print_report(report, title, log):
    log(f"\n{title}")
    log(f"{'class':>6} {'TP':>6} {'FN':>6} {'FP':>6} {'Se %':>6} {'+P %':>6} {'F1':>6}")
    for name, row in report["table"].items():
        log(f"{name:>6} {row['TP']:6d} {row['FN']:6d} {row['FP']:6d} {100 * row['Se']:6.1f} "
            f"{100 * row['+P']:6.1f} {row['F1']:6.3f}")
    log(f"macro F1 ({', '.join(report['scored'])}) {report['macro_f1']:.4f}")


def evaluate_detected(cfg, model, dataset):
    """Metrics on the beats our detector finds in raw records, matched to their ``.atr`` beats.

    Returns
    -------
    tuple
        ``(report, rows, timing)``: the :func:`scores` report, one predictions row per
        matched, unmatched or missed beat, and the :func:`timing_table` of the matched
        detections.
    """
    from ecg.io import read_annotation, read_header_meta
    from ecg.io.records import record_base
    from ecg.ops.beats import aami_classes

    found = predict_records(model, dataset)
    true_all, pred_all, rows, errors, error_labels = [], [], [], [], []
    for ix in dataset.indices:
        ix = str(ix)
        path = record_base(dataset.index.get_fullpath(ix))
        ann = read_annotation(path, "atr")
        labels = aami_classes(ann["symbol"])
        reference, ref_labels = np.asarray(ann["sample"])[labels != ""], labels[labels != ""]
        samples, probs = found.get(ix, (np.zeros(0, np.int64), np.zeros((0, len(cfg.classes)))))
        predicted = np.array(cfg.classes)[probs.argmax(axis=1)] if len(probs) else np.zeros(0, str)
        fs = read_header_meta(path)["fs"]
        true, pred, ref_index, det_index = match_detections(reference, ref_labels, samples, predicted,
                                                            cfg.tolerance * fs)
        true_all.append(true)
        pred_all.append(pred)
        errors.append((samples[det_index] - reference[ref_index]) / fs * 1000)
        error_labels.append(ref_labels[ref_index])
        fp = np.setdiff1d(np.arange(len(samples)), det_index)
        missed = np.setdiff1d(np.arange(len(reference)), ref_index)
        positions = np.concatenate([samples[det_index], samples[fp], reference[missed]])
        rows += [{"beats": "detected", "record": ix, "sample": int(s), "true": t, "predicted": p}
                 for s, t, p in zip(positions, true, pred)]
    report = scores(cfg, np.concatenate(true_all), np.concatenate(pred_all))
    timing = timing_table(np.concatenate(errors), np.concatenate(error_labels), cfg.reported)
    return report, rows, timing


# --- the run ------------------------------------------------------------------------------
def run(cfg, run_dir, resume=False, log=print):
    """Train, validate, test on reference and detected beats, save; return the metrics."""
    from ecg.data.datasets.base import make_subset
    from ecg.plot import plot_confusion_matrix
    from ecg.tasks.rhythm import class_weights

    began = time.time()
    run_dir, spec, records = start_run(cfg, run_dir, log)
    cache_dir = run_dir / "cache" / "reference"
    everything = make_subset(spec.dataset, [r for part in records.values() for r in part])
    cache_records(everything, prepare_recipe(cfg, "atr"), cache_dir, log)

    beats = {split: Beats(names, cache_dir) for split, names in records.items()}
    train = beats["train"]
    keep = np.isin(train.label, cfg.classes)
    counts = {c: int((train.label == c).sum()) for c in cfg.classes}
    log(f"training beats: {counts} ({int((~keep).sum())} of other classes left out)")
    stats = (train.features[keep].mean(axis=0).tolist(), np.maximum(train.features[keep].std(axis=0), 1e-6).tolist())
    weights = class_weights(train.label[keep], cfg.classes, cfg.class_weight)
    steps = cfg.train.epochs * (int(keep.sum()) // cfg.train.batch_size)
    model_cfg = model_config(cfg, steps, stats, weights)
    validation = beats["validation"]
    val_keep = np.isin(validation.label, cfg.reported)
    val_set = validation.dataset(val_keep)

    def make_pipeline(seed):
        return train_pipeline(cfg, train.dataset(keep), {**model_cfg, "seed": seed})

    def validate(net):
        probs = predict_beats(net, val_set)
        report = scores(cfg, validation.label[val_keep], np.array(cfg.classes)[probs.argmax(axis=1)])
        return report["macro_f1"], {c: report["table"][c]["F1"] for c in cfg.scored}

    model, best_epoch, keeper = fit(make_pipeline, cfg, run_dir, validate, f"validation macro F1 ({', '.join(cfg.scored)})",
                                    resume, log)

    test = beats["test"]
    test_keep = np.isin(test.label, cfg.reported)
    probs = predict_beats(model, test.dataset(test_keep))
    predicted = np.array(cfg.classes)[probs.argmax(axis=1)]
    reference = scores(cfg, test.label[test_keep], predicted)
    print_report(reference, f"test split {cfg.split.test} ({len(records['test'])} records), reference beats, "
                            f"weights of epoch {best_epoch}:", log)

    model.config = model.config.model_copy(update={"info": {**model.config.info, "splits": records, "test": {
        "reference_macro_f1": reference["macro_f1"],
        **{f"reference_{c}_f1": reference["table"][c]["F1"] for c in cfg.scored}}}})
    model_dir = run_dir / "model"
    model.save(model_dir)
    from ecg import KerasBaseModel

    saved = KerasBaseModel({"path": str(model_dir)})
    diff = float(np.abs(predict_beats(saved, test.dataset(test_keep)) - probs).max())
    detected, detected_rows, timing = evaluate_detected(cfg, saved, make_subset(spec.dataset, records["test"]))
    print_report(detected, f"test split {cfg.split.test}, beats found by the detector (saved model, raw records):",
                 log)
    log("R-peak timing error of matched detections (ms): " + ", ".join(
        f"{c} median |e| {t['median_abs']:.1f}, p95 {t['p95_abs']:.1f}, >25 ms {100 * t['over_25ms']:.1f} %"
        for c, t in timing.items() if t["n"]))
    for report, name in ((reference, "reference"), (detected, "detected")):
        plot_confusion_matrix(np.array(report["confusion_matrix"]), report["confusion_classes"],
                              run_dir / "plots" / f"confusion_matrix_{name}.png",
                              title=f"{cfg.name}: {cfg.split.test}, {name} beats")
    scale = spec.fs / test.fs
    rows = [{"beats": "reference", "record": r, "sample": int(round(s * scale)), "true": t, "predicted": p,
             **{f"p_{c}": float(v) for c, v in zip(cfg.classes, pr)}}
            for r, s, t, p, pr in zip(test.record[test_keep], test.sample[test_keep], test.label[test_keep],
                                      predicted, probs)]
    run_dir.write_rows("predictions.csv", rows + detected_rows,
                       columns=["beats", "record", "sample", "true", "predicted"] + [f"p_{c}" for c in cfg.classes])
    metrics = {"name": cfg.name, "test": {"reference": reference, "detected": detected, "rpeak_timing_ms": timing},
               "best_epoch": best_epoch, "validation_best": keeper.best, "records": records,
               "beats": {k: len(v) for k, v in beats.items()}, "class_weight": weights,
               "saved_model_max_abs_diff": diff, "seconds": round(time.time() - began, 1)}
    run_dir.write_json("metrics.json", metrics)
    log(f"saved {model_dir}; done in {metrics['seconds']:.0f} s; run directory {run_dir.path}")
    return metrics


def evaluate(model_dir, dataset, labels=None, log=print, out=None):
    """Metrics of a saved beat model on WFDB records with ``.atr`` beat labels (``ecg evaluate``).

    The beats are those the model's recipe detects; each record's ``.atr`` is the
    reference (``labels`` is not used: the labels are per beat).

    Returns
    -------
    dict
        The :func:`scores` report of the detected beats, ``rpeak_timing_ms``, and
        ``missing`` (records without a prediction, with the reason).
    """
    from ecg.models.keras_model import KerasBaseModel
    from ecg.plot import plot_confusion_matrix

    model = KerasBaseModel({"path": str(model_dir)})
    info = model.config.info
    cfg = Config.model_construct(classes=info["classes"], scored=info["scored"], reported=info["reported"],
                                 tolerance=info.get("tolerance", 0.15), name=info.get("name", "model"))
    report, rows, timing = evaluate_detected(cfg, model, dataset)
    print_report(report, f"{len(dataset)} records, detected beats:", log)
    report["rpeak_timing_ms"] = timing
    report["missing"] = {}
    if out is not None:
        out = RunDirectory(out)
        out.write_json("metrics.json", report)
        out.write_rows("predictions.csv", rows)
        plot_confusion_matrix(np.array(report["confusion_matrix"]), report["confusion_classes"],
                              out / "plots" / "confusion_matrix.png", title=f"{cfg.name}: {len(dataset)} records")
    return report


def predict(model_dir, dataset):
    """Beat labels of raw records for ``ecg predict``: one row per detected beat.

    Parameters
    ----------
    model_dir : str or Path
        A model folder saved by :func:`run`.
    dataset : EcgDataset
        WFDB records.

    Returns
    -------
    tuple
        ``(header, rows, missing)``: the CSV header ``record, sample, label, p_<class>...``
        (``sample`` at the record's own rate), one row per beat, and the records that got
        no row with the reason.
    """
    from ecg.models.keras_model import KerasBaseModel

    model = KerasBaseModel({"path": str(model_dir)})
    classes = model.config.info["classes"]
    found = predict_records(model, dataset)
    rows = [[ix, int(s), classes[int(np.argmax(p))], *(f"{v:.6f}" for v in p)]
            for ix, (samples, probs) in found.items() for s, p in zip(samples, probs)]
    missing = {str(ix): "no beat detected" for ix in dataset.indices
               if str(ix) not in found or len(found[str(ix)][0]) == 0}
    return ["record", "sample", "label", *(f"p_{c}" for c in classes)], rows, missing
