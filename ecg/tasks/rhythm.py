"""Rhythm classification, one label per record (PhysioNet/CinC 2017: N, A, O, ~).

The pipeline, as ``pipelines/cinc2017.yaml`` configures it:

1. **prepare** every record once into an npz cache: band-pass, R peaks on the filtered
   signal and the record's RR/HRV features (:mod:`ecg.ops.hrv`), resampling to a lower
   rate, robust normalisation. The same steps are the saved model's recipe.
2. **train** a 1-D ResNet with a feature input (:mod:`ecg.models.fusion`) on one random
   window of ``window.length`` seconds per record and epoch (records shorter than a
   window are wrap-padded), with amplitude augmentation, class weights (inverse square
   root of the class frequency) and AdamW on a cosine schedule.
3. **validate** after each epoch on the validation split (windows every
   ``window.step`` seconds, probabilities averaged per record) and keep the epoch with
   the best Challenge F1; the test split is never used for a choice.
4. **evaluate** on the test split: Challenge F1 (mean F1 of N, A, O), 4-class macro F1,
   per-class table, confusion matrix, and AF-vs-rest macro F1 from the same model.
5. **save** the model with its recipe, and predict the test records again from raw
   files with the saved model, to check that the deployment path gives the same numbers.
"""
import sys
import time
from typing import Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from ecg.config import StrictConfig
from ecg.errors import ConfigError
from ecg.tasks.base import RunDirectory, TaskConfig, adamw, fit

RECORD_LABELS = True  # one class per record, from a REFERENCE.csv


class PrepareConfig(StrictConfig):
    """Preprocessing, run once into the cache and saved as the model's recipe.

    Attributes
    ----------
    band_pass : tuple of float
        Band-pass cut-offs in Hz.
    fs : float
        Sampling rate the network sees, in Hz.
    normalize : {"robust", "zscore", "minmax"}
        Per-record amplitude normalisation.
    features : bool
        Compute RR/HRV features (R peaks on lead 0) for the network's feature input.
    clip : float, optional
        Clip the normalised signal to ``[-clip, clip]``. Median/IQR-normalised R peaks
        reach 10-40; clipped, an int8 export's input grid is finer (see
        ``augment.uniform_noise``).
    """

    band_pass: tuple[float, float] = (0.5, 40.0)
    fs: float = Field(default=100.0, gt=0)
    normalize: Literal["robust", "zscore", "minmax"] = "robust"
    features: bool = True
    clip: Optional[float] = Field(default=None, gt=0)


class WindowConfig(StrictConfig):
    """Windows of the record the network sees.

    Attributes
    ----------
    length : float
        Window length in seconds.
    step : float
        Distance between prediction windows in seconds (a record's probabilities are
        the mean over its windows).
    """

    length: float = Field(default=30.0, gt=0)
    step: float = Field(default=15.0, gt=0)


class AugmentConfig(StrictConfig):
    """Training augmentations (see the EcgBatch augmentation actions).

    Attributes
    ----------
    scale : tuple of float, optional
        Amplitude factor range.
    noise_snr_db : float, optional
        Add Gaussian noise at this SNR (dB) to half of the windows.
    uniform_noise : float, optional
        Add noise uniform in ``[-uniform_noise, uniform_noise]`` to every window: with
        half the step of an int8 input grid (or more), the network learns to ignore the
        rounding of an int8 export's input.
    """

    scale: Optional[tuple[float, float]] = (0.8, 1.2)
    noise_snr_db: Optional[float] = None
    uniform_noise: Optional[float] = Field(default=None, gt=0)


class TreesConfig(StrictConfig):
    """Boosted trees on the RR/HRV features, blended into the network's probabilities.

    After training, a :class:`sklearn.ensemble.GradientBoostingClassifier` is fitted on
    the training records' features; the blend weight (the trees' share of the
    probabilities) is the one of ``weights`` with the best validation Challenge F1 (0:
    no trees). The trees become weights of the saved network (:mod:`ecg.models.trees`).

    Attributes
    ----------
    n_estimators, max_depth, learning_rate, subsample : as in scikit-learn
    weights : list of float
        Blend weights tried on the validation split.
    """

    n_estimators: int = Field(default=300, ge=1)
    max_depth: int = Field(default=3, ge=1)
    learning_rate: float = Field(default=0.05, gt=0)
    subsample: float = Field(default=0.8, gt=0, le=1)
    weights: list[float] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


class Config(TaskConfig):
    """Config of a rhythm task (see the module docstring and ``pipelines/cinc2017.yaml``).

    Attributes
    ----------
    classes : list of str
        Class names in output order.
    scored : list of str
        Classes whose mean F1 is the headline score (CinC 2017: N, A, O).
    positive : str
        The class of the one-vs-rest score (AF).
    class_weight : {"sqrt", "balanced", "none"}
        Loss weight of a class: inverse square root of its frequency, inverse
        frequency, or 1.
    features : dict
        The feature branch (:class:`ecg.models.keras_model.FeatureInput` keys except the
        statistics, which come from the training split).
    trees : TreesConfig, optional
        Boosted trees on the features, blended into the output (needs
        ``prepare.features``).
    """

    task: Literal["rhythm"]
    classes: list[str]
    scored: list[str]
    positive: str
    prepare: PrepareConfig = PrepareConfig()
    window: WindowConfig = WindowConfig()
    augment: AugmentConfig = AugmentConfig()
    class_weight: Literal["sqrt", "balanced", "none"] = "sqrt"
    features: dict = {"units": 32, "hidden": 64, "dropout": 0.3}
    trees: Optional[TreesConfig] = None

    @model_validator(mode="after")
    def _check_trees(self):
        if self.trees is not None and not self.prepare.features:
            raise ValueError("trees need the RR/HRV features: set prepare.features to true")
        return self


# --- the steps ----------------------------------------------------------------------------
def prepare_recipe(cfg):
    """The preprocessing recipe: cached once, saved with the model, replayed by ``ecg predict``."""
    low, high = cfg.prepare.band_pass
    recipe = [{"band_pass_signals": {"low": low, "high": high}}]
    if cfg.prepare.features:
        recipe += [{"find_r_peaks": {"lead": 0}}, {"rr_features": {"ext": "rpeaks"}}]
    recipe += [{"resample_signals": {"fs": cfg.prepare.fs}},
               {"normalize_signals": {"method": cfg.prepare.normalize}}]
    if cfg.prepare.clip is not None:
        recipe += [{"clip_signals": {"low": -cfg.prepare.clip, "high": cfg.prepare.clip}}]
    return recipe


def window_samples(cfg):
    """Window length and prediction step in samples at the network's rate."""
    return int(round(cfg.window.length * cfg.prepare.fs)), int(round(cfg.window.step * cfg.prepare.fs))


def predict_recipe(cfg):
    """Windows of a whole record for prediction: wrap-pad to one window, then overlapping windows."""
    length, step = window_samples(cfg)
    return [{"pad_signals": {"length": length, "mode": "wrap"}},
            {"split_signals": {"length": length, "step": step}}]


def dataset_def(cfg):
    """The task's :class:`~ecg.data.datasets.EcgDatasetDef` (downloaded if needed)."""
    from ecg.data.datasets import get_dataset

    kwargs = {"seed": cfg.data.split_seed} if cfg.data.dataset == "cinc2017" else {}
    return get_dataset(cfg.data.dataset, cfg.data.path, dest=cfg.data.downloads, mirror=cfg.data.mirror,
                       **kwargs)


def split_subset(spec, split, limit):
    """The records of ``split``, at most ``limit`` of them (a stratified-enough head of the list)."""
    from ecg.data.datasets.base import make_subset

    records = list(spec.splits[split])
    if limit:
        records = records[:limit]
    return make_subset(spec.dataset, records)


def cache_records(dataset, recipe, cache_dir, log):
    """Run the load + ``recipe`` over ``dataset`` once, into ``<cache_dir>/<record>.npz``."""
    import os

    from ecg.recipes import apply_recipe

    missing = [ix for ix in dataset.indices if not os.path.isfile(os.path.join(cache_dir, f"{ix}.npz"))]
    if not missing:
        return
    began = time.time()
    subset = dataset.create_subset(dataset.index.create_subset(np.array(missing)))
    pipeline = apply_recipe(subset.p.load(fmt="wfdb", components=["signal", "meta"]), recipe)
    components = ["signal", "meta", "features"] if any("rr_features" in step for step in recipe) else \
        ["signal", "meta"]
    pipeline = pipeline.dump(dst=str(cache_dir), fmt="npz", components=components)
    pipeline.run(batch_size=min(64, len(subset)), n_epochs=1, shuffle=False, drop_last=False,
                 bar=sys.stderr.isatty())
    log(f"prepared {len(missing)} records into {cache_dir} ({time.time() - began:.0f} s)")


def cached_features(dataset, cache_dir):
    """The cached feature vectors of ``dataset``'s records, ``(n_records, n_features)``."""
    from ecg.io import read_npz

    return np.stack([read_npz(f"{cache_dir}/{ix}.npz")["features"] for ix in dataset.indices])


def feature_statistics(dataset, cache_dir):
    """Mean and SD of each feature over the cached records of ``dataset``."""
    rows = cached_features(dataset, cache_dir)
    return rows.mean(axis=0).tolist(), np.maximum(rows.std(axis=0), 1e-6).tolist()


def blend_trees(cfg, model, sets, labels, cache_dir, log):
    """Fit the boosted trees, choose their blend weight on validation; return ``(model, summary)``.

    ``model`` is returned as it is when the best weight is 0.
    """
    from sklearn.ensemble import GradientBoostingClassifier

    from ecg.metrics import challenge_f1
    from ecg.models.keras_model import KerasBaseModel

    began = time.time()
    y = {split: np.array([cfg.classes.index(label) for label in labels[split]]) for split in labels}
    x = {split: cached_features(sets[split], cache_dir) for split in ("train", "validation", "test")}
    trees = GradientBoostingClassifier(n_estimators=cfg.trees.n_estimators, max_depth=cfg.trees.max_depth,
                                       learning_rate=cfg.trees.learning_rate, subsample=cfg.trees.subsample,
                                       random_state=cfg.train.seed).fit(x["train"], y["train"])
    if len(trees.classes_) != len(cfg.classes):
        raise ConfigError(f"trees: the training split lacks classes "
                          f"{[c for i, c in enumerate(cfg.classes) if i not in trees.classes_]}")
    net_val = predict_cached(cfg, model, sets["validation"], cache_dir)
    tree_val = trees.predict_proba(x["validation"])
    grid = sorted(set(float(w) for w in cfg.trees.weights))
    values = [challenge_f1(y["validation"], (1 - w) * net_val + w * tree_val, classes=cfg.classes,
                           scored=tuple(cfg.scored)) for w in grid]
    weight = grid[int(np.argmax(values))]
    tree_test = trees.predict_proba(x["test"])
    alone = scores(cfg, labels["test"], tree_test)
    # reported only (the weight is chosen on validation): the test scores at every weight of the grid
    net_test = predict_cached(cfg, model, sets["test"], cache_dir)
    by_weight = {str(w): {k: scores(cfg, labels["test"], (1 - w) * net_test + w * tree_test)[k]
                          for k in ("challenge_f1", f"{cfg.positive}_vs_rest_macro_f1")} for w in grid}
    summary = {"weight": weight, "validation": dict(zip(map(str, grid), values)), "test_by_weight": by_weight,
               "trees_alone_test": {k: alone[k] for k in ("challenge_f1", "macro_f1",
                                                          f"{cfg.positive}_vs_rest_macro_f1")},
               "seconds": round(time.time() - began, 1)}
    log(f"boosted trees ({cfg.trees.n_estimators} x depth {cfg.trees.max_depth}, {summary['seconds']:.0f} s): "
        "validation Challenge F1 by blend weight " + ", ".join(f"{w:g}: {v:.4f}" for w, v in zip(grid, values))
        + f"; kept {weight:g} (trees alone on test: Challenge F1 {alone['challenge_f1']:.4f})")
    if weight > 0:
        model = KerasBaseModel.with_trees(model, trees, weight)
    return model, summary


def class_weights(labels, classes, kind):
    """Class name -> loss weight, normalised so the mean weight of a training record is 1."""
    counts = np.array([(labels == c).sum() for c in classes], dtype=np.float64)
    if kind == "none":
        return None
    if (counts == 0).any():
        raise ConfigError(f"class_weight: classes {[c for c, n in zip(classes, counts) if n == 0]} "
                          "have no training record")
    weights = counts.sum() / counts if kind == "balanced" else np.sqrt(counts.sum() / counts)
    weights *= counts.sum() / (weights * counts).sum()
    return {c: float(w) for c, w in zip(classes, weights)}


def model_config(cfg, n_steps, features_stats, weights):
    """The KerasBaseModel config of the task's network."""
    config = {"model": cfg.model, "optimizer": adamw(cfg.train, n_steps), "seed": cfg.train.seed,
              "preprocess": prepare_recipe(cfg) + predict_recipe(cfg), "class_weight": weights,
              "info": {"task": "rhythm", "name": cfg.name, "dataset": cfg.data.dataset,
                       "classes": cfg.classes, "scored": cfg.scored, "positive": cfg.positive}}
    if features_stats is not None:
        mean, std = features_stats
        config["feature_input"] = dict(cfg.features, mean=mean, std=std)
    return config


def train_pipeline(cfg, train_set, cache_dir, reference, model_cfg):
    """The training pipeline, in the seed's chain style."""
    from batchflow import V

    from ecg import KerasBaseModel

    length, _ = window_samples(cfg)
    components = ["signal", "meta", "features"] if cfg.prepare.features else ["signal", "meta"]
    pipeline = (train_set.p
                .init_model("net", KerasBaseModel, mode="dynamic", config=model_cfg)
                .init_variable("loss", [])
                .load(src=str(cache_dir), fmt="npz", components=components, memory=True)
                .load(src=str(reference), fmt="csv", components="target", classes=cfg.classes)
                .pad_signals(length, mode="wrap")
                .random_crop_signals(length))
    if cfg.augment.scale is not None:
        pipeline = pipeline.scale_amplitude(*cfg.augment.scale)
    if cfg.augment.noise_snr_db is not None:
        pipeline = pipeline.add_gaussian_noise(cfg.augment.noise_snr_db, p=0.5)
    if cfg.augment.uniform_noise is not None:
        pipeline = pipeline.add_uniform_noise(cfg.augment.uniform_noise)
    return (pipeline.one_hot_labels(cfg.classes)
            .train_on_batch("net", save_to=V("loss", mode="a")))


def predict_cached(cfg, source, dataset, cache_dir, batch_size=64):
    """Probabilities ``(n_records, n_classes)`` of ``dataset`` (in its order) from the cache."""
    from batchflow import V

    from ecg.recipes import apply_recipe

    components = ["signal", "meta", "features"] if cfg.prepare.features else ["signal", "meta"]
    pipeline = (dataset.p.import_model("net", source).init_variable("prediction", {})
                .load(src=str(cache_dir), fmt="npz", components=components, memory=True))
    pipeline = apply_recipe(pipeline, predict_recipe(cfg))
    pipeline = pipeline.predict_on_batch("net", save_to=V("prediction", mode="u"), aggregate="mean",
                                         by_record=True)
    pipeline.run(batch_size=min(batch_size, len(dataset)), n_epochs=1, shuffle=False, drop_last=False)
    predictions = pipeline.v("prediction")
    return np.stack([predictions[ix] for ix in dataset.indices])


def one_vs_rest_f1(cfg, labels, probs, threshold=None):
    """Macro F1 of ``positive`` vs rest: argmax decision, or ``P(positive) >= threshold``."""
    from ecg.metrics import f1_score

    positive = cfg.classes.index(cfg.positive)
    y_true = np.array([cfg.classes.index(label) for label in labels]) == positive
    probs = np.asarray(probs)
    y_pred = probs.argmax(axis=1) == positive if threshold is None else probs[:, positive] >= threshold
    return f1_score(y_true.astype(int), y_pred.astype(int), num_classes=2)


def best_threshold(cfg, labels, probs):
    """The ``P(positive)`` threshold with the best one-vs-rest macro F1 (on validation records)."""
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    values = [one_vs_rest_f1(cfg, labels, probs, t) for t in grid]
    return float(grid[int(np.argmax(values))])


def scores(cfg, labels, probs, threshold=None):
    """Every metric of the task for string ``labels`` and probabilities ``probs``.

    ``threshold`` (chosen on validation records) adds the one-vs-rest score of the
    decision ``P(positive) >= threshold`` beside the argmax one.
    """
    from ecg.metrics import challenge_f1, classification_report

    y_true = np.array([cfg.classes.index(label) for label in labels])
    report = classification_report(y_true, probs, classes=cfg.classes)
    report["challenge_f1"] = challenge_f1(y_true, probs, classes=cfg.classes, scored=tuple(cfg.scored))
    report[f"{cfg.positive}_vs_rest_macro_f1"] = one_vs_rest_f1(cfg, labels, probs)
    if threshold is not None:
        report[f"{cfg.positive}_threshold"] = threshold
        report[f"{cfg.positive}_vs_rest_macro_f1_at_threshold"] = one_vs_rest_f1(cfg, labels, probs, threshold)
    return report


def print_report(report, cfg, log):
    log(f"{'class':>8} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>7}")
    for name in cfg.classes:
        row = report[name]
        log(f"{name:>8} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f} {row['support']:7d}")
    log(f"Challenge F1 ({', '.join(cfg.scored)}) {report['challenge_f1']:.4f} | macro F1 "
        f"{report['macro_f1']:.4f} | {cfg.positive} vs rest macro F1 "
        f"{report[f'{cfg.positive}_vs_rest_macro_f1']:.4f} | accuracy {report['accuracy']:.4f}")
    if f"{cfg.positive}_threshold" in report:
        log(f"{cfg.positive} vs rest macro F1 with P({cfg.positive}) >= {report[f'{cfg.positive}_threshold']:.2f} "
            f"(threshold chosen on validation): {report[f'{cfg.positive}_vs_rest_macro_f1_at_threshold']:.4f}")


# --- the run ------------------------------------------------------------------------------
def run(cfg, run_dir, resume=False, log=print):
    """Train, validate, test, save and re-predict; return the test metrics (see the module docstring)."""
    from ecg.plot import plot_confusion_matrix
    from ecg.recipes import predict_dataset

    began = time.time()
    run_dir = RunDirectory(run_dir)
    run_dir.write_yaml("config.yaml", cfg.model_dump(mode="json"))
    spec = dataset_def(cfg)
    sets = {split: split_subset(spec, split, cfg.data.limit) for split in ("train", "validation", "test")}
    log(f"{cfg.name}: " + ", ".join(f"{k} {len(v)} records" for k, v in sets.items()))
    cache_dir = run_dir / "cache"
    recipe = prepare_recipe(cfg)
    for subset in sets.values():
        cache_records(subset, recipe, cache_dir, log)

    labels = {split: spec.labels.loc[list(ds.indices), "label"].to_numpy() for split, ds in sets.items()}
    stats = feature_statistics(sets["train"], cache_dir) if cfg.prepare.features else None
    weights = class_weights(labels["train"], cfg.classes, cfg.class_weight)
    steps = cfg.train.epochs * (len(sets["train"]) // cfg.train.batch_size)
    model_cfg = model_config(cfg, steps, stats, weights)
    reference = spec.root / "REFERENCE.csv"

    def make_pipeline(seed):
        return train_pipeline(cfg, sets["train"], cache_dir, reference, {**model_cfg, "seed": seed})

    def validate(net):
        report = scores(cfg, labels["validation"], predict_cached(cfg, net, sets["validation"], cache_dir))
        return report["challenge_f1"], {"macro_f1": report["macro_f1"], **{c: report[c]["f1"] for c in cfg.classes}}

    model, best_epoch, keeper = fit(make_pipeline, cfg, run_dir, validate, "validation Challenge F1", resume, log)
    trees = None
    if cfg.trees is not None:
        model, trees = blend_trees(cfg, model, sets, labels, cache_dir, log)
        if trees["weight"] > 0:
            best_epoch = f"{best_epoch if isinstance(best_epoch, str) else f'epoch {best_epoch}'} " \
                         f"+ boosted trees (weight {trees['weight']:g})"

    threshold = best_threshold(cfg, labels["validation"], predict_cached(cfg, model, sets["validation"], cache_dir))
    probs = predict_cached(cfg, model, sets["test"], cache_dir)
    report = scores(cfg, labels["test"], probs, threshold)
    members = [scores(cfg, labels["test"], predict_cached(cfg, m, sets["test"], cache_dir), threshold)
               for m in getattr(keeper, "models", [])]
    for k, member in enumerate(members):
        log(f"member {k + 1} alone: Challenge F1 {member['challenge_f1']:.4f}, macro F1 {member['macro_f1']:.4f}, "
            f"{cfg.positive} vs rest {member[f'{cfg.positive}_vs_rest_macro_f1']:.4f}")
    kept = f"epoch {best_epoch}" if isinstance(best_epoch, int) else best_epoch
    log(f"\ntest split ({len(sets['test'])} records), weights of {kept}:")
    print_report(report, cfg, log)
    plot_confusion_matrix(np.array(report["confusion_matrix"]), cfg.classes, run_dir / "plots" / "confusion_matrix.png",
                          title=f"{cfg.name}: test split")

    model.config = model.config.model_copy(update={"info": {
        **model.config.info, "threshold": threshold,
        "splits": {split: [str(ix) for ix in ds.indices] for split, ds in sets.items()}, "test": {
            "challenge_f1": report["challenge_f1"], "macro_f1": report["macro_f1"],
            f"{cfg.positive}_vs_rest_macro_f1": report[f"{cfg.positive}_vs_rest_macro_f1"],
            f"{cfg.positive}_vs_rest_macro_f1_at_threshold":
                report[f"{cfg.positive}_vs_rest_macro_f1_at_threshold"]}}})
    model_dir = run_dir / "model"
    model.save(model_dir)
    saved = predict_dataset(model_dir, sets["test"])
    missing = sorted(saved.missing)
    order = [list(saved.records).index(ix) for ix in sets["test"].indices if ix in saved.records]
    diff = float(np.abs(saved.probabilities[order] - probs[[i for i, ix in enumerate(sets["test"].indices)
                                                            if ix in saved.records]]).max())
    log(f"saved {model_dir}; predicting the raw test records with it differs by {diff:.2e}"
        f"{f', {len(missing)} records missing: {missing[:5]}' if missing else ''}")
    run_dir.write_rows("predictions.csv", [
        {"record": ix, "label": label, "prediction": cfg.classes[int(np.argmax(p))],
         **{f"p_{c}": float(v) for c, v in zip(cfg.classes, p)}}
        for ix, label, p in zip(sets["test"].indices, labels["test"], probs)])
    metrics = {"name": cfg.name, "test": report, "best_epoch": best_epoch,
               **({"members": {**keeper.members, "test": [
                   {k: m[k] for k in ("challenge_f1", "macro_f1", f"{cfg.positive}_vs_rest_macro_f1",
                                      f"{cfg.positive}_vs_rest_macro_f1_at_threshold")} for m in members]}}
                  if members else {}),
               **({"trees": trees} if trees is not None else {}),
               "validation_best": keeper.best, "records": {k: len(v) for k, v in sets.items()},
               "saved_model_max_abs_diff": diff, "seconds": round(time.time() - began, 1)}
    run_dir.write_json("metrics.json", metrics)
    log(f"done in {metrics['seconds']:.0f} s; run directory {run_dir.path}")
    return metrics


def evaluate(model_dir, dataset, labels, log=print, out=None):
    """Metrics of a saved rhythm model on labelled records (``ecg evaluate``).

    Parameters
    ----------
    model_dir : str or Path
        A model folder saved by :func:`run`.
    dataset : EcgDataset
        The records.
    labels : dict or pandas.Series
        Record name -> class name; records without a label are left out and reported.
    out : str or Path, optional
        Folder for ``metrics.json``, ``predictions.csv`` and the confusion matrix plot.

    Returns
    -------
    dict
        The report of :func:`scores`, plus ``missing`` (records without a prediction or
        label, with the reason).
    """
    from ecg.models.keras_model import KerasBaseModel
    from ecg.plot import plot_confusion_matrix
    from ecg.recipes import predict_dataset

    info = KerasBaseModel({"path": str(model_dir)}).config.info
    cfg = Config.model_construct(classes=info["classes"], scored=info["scored"], positive=info["positive"],
                                 name=info.get("name", "model"))
    saved = predict_dataset(model_dir, dataset)
    missing = dict(saved.missing)
    rows = [(ix, p) for ix, p in zip(saved.records, saved.probabilities) if ix in labels]
    missing.update({ix: "no label" for ix in saved.records if ix not in labels})
    unknown = {ix: f"label {labels[ix]!r} is not a class of the model" for ix, _ in rows
               if labels[ix] not in cfg.classes}
    missing.update(unknown)
    rows = [(ix, p) for ix, p in rows if ix not in unknown]
    if not rows:
        raise ConfigError(f"no record has both a prediction and a label of the classes {cfg.classes}")
    report = scores(cfg, [labels[ix] for ix, _ in rows], np.stack([p for _, p in rows]), info.get("threshold"))
    print_report(report, cfg, log)
    report["missing"] = missing
    if out is not None:
        out = RunDirectory(out)
        out.write_json("metrics.json", report)
        out.write_rows("predictions.csv", [{"record": ix, "label": labels[ix],
                                            "prediction": cfg.classes[int(np.argmax(p))]} for ix, p in rows])
        plot_confusion_matrix(np.array(report["confusion_matrix"]), cfg.classes, out / "plots" / "confusion_matrix.png",
                              title=f"{cfg.name}: {len(rows)} records")
    return report
