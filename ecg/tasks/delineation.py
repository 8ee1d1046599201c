"""P, QRS and T delineation, one mask per lead (LUDB).

The pipeline, as ``pipelines/ludb_delineation.yaml`` configures it:

1. **split** the records 80/20 into train and test (seeded, stratified by rhythm), and
   carve the validation records out of the training part; the test records are never
   used for a choice.
2. **prepare** every record once into an npz cache of single-lead items: band-pass,
   resampling to the network's rate, per-lead normalisation, then one item per lead
   (:meth:`~ecg.batch.leads.LeadsMixin.unstack_leads`), each with its own annotation
   file (LUDB's ``.i`` ... ``.v6``). The steps before the unstacking are the saved
   model's recipe.
3. **train** a 1-D U-Net on random windows of ``window.length`` seconds of each lead,
   taken inside the stretch that the lead's annotator delineated
   (:meth:`~ecg.batch.leads.LeadsMixin.crop_to_annotated`): LUDB leaves the first and
   last second or two of most records out, and those samples are unknown, not
   background. Time warping, amplitude scaling, noise and baseline wander augment
   the windows; AdamW on a cosine schedule.
4. **predict** whole leads (padded to a multiple of the U-Net's down-sampling), take
   the most probable class per sample and clean the mask into waves
   (:func:`ecg.ops.masks.clean_mask`: merge split waves, drop fragments).
5. **score** at the database's own rate (500 Hz) against masks read straight from the
   annotation files, inside each lead's annotated stretch only: a predicted wave counts
   when its centre lies in it (:func:`ecg.ops.masks.keep_waves_within`). Wave onsets and
   offsets are matched within ``tolerance`` (150 ms) with
   :func:`ecg.metrics.delineation_report` (Se, +P, F1, mean and SD of the error in ms,
   per boundary and pooled per wave), and the per-sample F1 of P, QRS and T is computed
   on the annotated samples. After each epoch the validation score (the mean of the
   wave F1 and the sample F1, averaged over P, QRS and T) keeps the best epoch.
6. **save** the model with its recipe, and predict the test records again from the raw
   files with the saved model, to check that the deployment path gives the same masks.

``predictions.csv`` holds one row per predicted wave of every test lead: ``record``,
``lead``, ``wave``, ``onset`` and ``offset`` (samples at the record's rate, offset
included), and ``scored`` (the wave is inside the annotated stretch).
"""
import time
from typing import Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from ecg.config import StrictConfig
from ecg.errors import ConfigError
from ecg.tasks.base import RunDirectory, TaskConfig, adamw, fit

WAVES = ("P", "QRS", "T")
RECORD_LABELS = False  # the reference is each record's per-lead annotation files


class SplitConfig(StrictConfig):
    """Record split: the test part first, then the validation part out of the rest.

    Attributes
    ----------
    test : float
        Fraction of the records in the test split.
    validation : float
        Fraction of all records moved from the training part to the validation split.
    """

    test: float = Field(default=0.2, gt=0, lt=1)
    validation: float = Field(default=0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _check_train_left(self):
        if self.test + self.validation >= 1:
            raise ValueError(f"split.test + split.validation must leave training records; "
                             f"got {self.test} + {self.validation}")
        return self


class PrepareConfig(StrictConfig):
    """Preprocessing, run once into the cache and saved as the model's recipe.

    Attributes
    ----------
    band_pass : tuple of float
        Band-pass cut-offs in Hz.
    fs : float
        Sampling rate the network sees, in Hz.
    normalize : {"zscore", "robust", "minmax"}
        Per-lead amplitude normalisation over the whole record.
    """

    band_pass: tuple[float, float] = (0.5, 40.0)
    fs: float = Field(default=250.0, gt=0)
    normalize: Literal["zscore", "robust", "minmax"] = "zscore"


class WindowConfig(StrictConfig):
    """Training windows.

    Attributes
    ----------
    length : float
        Window length in seconds, at most the shortest annotated stretch (LUDB: 4.4 s);
        in samples it must be a multiple of the U-Net's down-sampling.
    """

    length: float = Field(default=4.096, gt=0)


class AugmentConfig(StrictConfig):
    """Training augmentations (see the EcgBatch augmentation actions); ``None`` turns one off.

    Attributes
    ----------
    warp : float, optional
        Largest local speed change of a smooth time warp (masks move with the samples).
    scale : tuple of float, optional
        Amplitude factor range.
    noise_snr_db : float, optional
        Gaussian noise at this SNR (dB), on half of the windows.
    baseline_wander : float, optional
        Amplitude of slow baseline sinusoids (in units of the normalised signal), on half
        of the windows.
    flip : float, optional
        Probability of inverting a window's polarity.
    """

    warp: Optional[float] = Field(default=0.1, gt=0, lt=1)
    scale: Optional[tuple[float, float]] = (0.7, 1.3)
    noise_snr_db: Optional[float] = 20.0
    baseline_wander: Optional[float] = Field(default=0.3, gt=0)
    flip: Optional[float] = Field(default=None, gt=0, le=1)


class PostConfig(StrictConfig):
    """Post-processing of predicted masks (:func:`ecg.ops.masks.clean_mask`).

    Attributes
    ----------
    min_duration : tuple of float
        Shortest P, QRS and T wave kept, in seconds.
    max_gap : float
        Longest gap closed between two runs of one wave class, in seconds.
    """

    min_duration: tuple[float, float, float] = (0.02, 0.03, 0.04)
    max_gap: float = Field(default=0.1, ge=0)


class Config(TaskConfig):
    """Config of a delineation task (see the module docstring and ``pipelines/ludb_delineation.yaml``).

    Attributes
    ----------
    leads : list of str
        Leads used, each with an annotation file of its name.
    tolerance : float
        Largest distance of a matched onset or offset, in seconds.
    """

    task: Literal["delineation"]
    leads: list[str] = ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"]
    split: SplitConfig = SplitConfig()
    prepare: PrepareConfig = PrepareConfig()
    window: WindowConfig = WindowConfig()
    augment: AugmentConfig = AugmentConfig()
    post: PostConfig = PostConfig()
    tolerance: float = Field(default=0.15, gt=0)

    @model_validator(mode="after")
    def _check_dataset(self):
        if self.data.dataset != "ludb":
            raise ValueError(f"data.dataset: the delineation task reads per-lead wave annotations, which "
                             f"only 'ludb' has; got {self.data.dataset!r}")
        return self


# --- the steps ----------------------------------------------------------------------------
def prepare_recipe(cfg):
    """The preprocessing recipe: cached once, saved with the model, replayed on raw records."""
    low, high = cfg.prepare.band_pass
    return [{"select_leads": {"names": list(cfg.leads)}},
            {"band_pass_signals": {"low": low, "high": high}},
            {"resample_signals": {"fs": cfg.prepare.fs}},
            {"normalize_signals": {"method": cfg.prepare.normalize}}]


def step_multiple(model):
    """Input lengths the network takes are multiples of this (a U-Net's down-sampling), else 1."""
    from ecg.models.factory import architecture_params

    params = architecture_params(model["name"], model.get("params", {}), "segmentation")
    if hasattr(params, "pool_size") and hasattr(params, "filters"):
        return params.pool_size ** (len(params.filters) - 1)
    return 1


def window_samples(cfg):
    """Training window length in samples at the network's rate (checked against the U-Net)."""
    length, multiple = int(round(cfg.window.length * cfg.prepare.fs)), step_multiple(cfg.model)
    if length % multiple:
        raise ConfigError(f"window.length={cfg.window.length} s is {length} samples at {cfg.prepare.fs:g} Hz, "
                          f"not a multiple of the network's down-sampling {multiple}: use "
                          f"{length // multiple * multiple / cfg.prepare.fs:g} s")
    return length


def dataset_def(cfg):
    """LUDB's :class:`~ecg.data.datasets.EcgDatasetDef` with the task's train/validation/test split."""
    from ecg.data.datasets import check_disjoint, get_dataset, split_records

    spec = get_dataset(cfg.data.dataset, cfg.data.path, dest=cfg.data.downloads, mirror=cfg.data.mirror,
                       fractions={"train": 1 - cfg.split.test, "test": cfg.split.test}, seed=cfg.data.split_seed)
    train = spec.splits["train"]
    share = cfg.split.validation / (1 - cfg.split.test)
    carved = split_records(train, {"train": 1 - share, "validation": share}, seed=cfg.data.split_seed,
                           stratify=spec.labels.loc[train, "rhythm"])
    spec.splits = {"train": carved["train"], "validation": carved["validation"], "test": spec.splits["test"]}
    check_disjoint(spec.splits)
    for split, records in spec.splits.items():
        if not records:
            raise ConfigError(f"split {split!r} has no record of the {len(spec.dataset)} under {spec.root}: "
                              "use more records or other split fractions")
    return spec


def split_subset(spec, split, limit):
    """The records of ``split``, at most ``limit`` of them."""
    from ecg.data.datasets.base import make_subset

    records = list(spec.splits[split])
    return make_subset(spec.dataset, records[:limit] if limit else records)


def lead_names(records, leads):
    """``{item: (record, lead)}`` of the single-lead items ``f"{record}_{lead}"`` (as ``unstack_leads`` names them)."""
    return {f"{record}_{lead}": (str(record), lead) for record in records for lead in leads}


def lead_items(records, leads):
    """An :class:`~ecg.data.dataset.EcgDataset` of the single-lead items of ``records``."""
    from batchflow import DatasetIndex

    from ecg.data.dataset import EcgDataset

    return EcgDataset(index=DatasetIndex(np.array(list(lead_names(records, leads)))))


def cache_leads(dataset, cfg, cache_dir, log):
    """Load + recipe + ``unstack_leads`` over ``dataset`` once, into ``<cache_dir>/<record>_<lead>.npz``."""
    import os
    import sys

    from ecg.recipes import apply_recipe

    missing = [ix for ix in dataset.indices
               if not all(os.path.isfile(os.path.join(cache_dir, f"{ix}_{lead}.npz")) for lead in cfg.leads)]
    if not missing:
        return
    began = time.time()
    subset = dataset.create_subset(dataset.index.create_subset(np.array(missing)))
    pipeline = subset.p.load(fmt="wfdb", components=["signal", "meta", "annotation"], ann_ext=list(cfg.leads))
    pipeline = (apply_recipe(pipeline, prepare_recipe(cfg)).unstack_leads("lead")
                .dump(dst=str(cache_dir), fmt="npz", components=["signal", "meta", "annotation"]))
    pipeline.run(batch_size=min(16, len(subset)), n_epochs=1, shuffle=False, drop_last=False,
                 bar=sys.stderr.isatty())
    log(f"prepared {len(missing)} records ({len(missing) * len(cfg.leads)} leads) into {cache_dir} "
        f"({time.time() - began:.0f} s)")


def model_config(cfg, n_steps):
    """The KerasBaseModel config of the task's network."""
    return {"model": cfg.model, "task": "segmentation", "input_shape": (None, 1),
            "optimizer": adamw(cfg.train, n_steps), "seed": cfg.train.seed, "preprocess": prepare_recipe(cfg),
            "info": {"task": "delineation", "name": cfg.name, "dataset": cfg.data.dataset, "waves": list(WAVES),
                     "leads": list(cfg.leads), "fs": cfg.prepare.fs, "step_multiple": step_multiple(cfg.model),
                     "post": cfg.post.model_dump(mode="json"), "tolerance": cfg.tolerance}}


def train_pipeline(cfg, items, cache_dir, model_cfg):
    """The training pipeline: a random window inside each lead's annotated stretch, augmented."""
    from batchflow import V

    from ecg import KerasBaseModel

    aug = cfg.augment
    pipeline = (items.p
                .init_model("net", KerasBaseModel, mode="dynamic", config=model_cfg)
                .init_variable("loss", [])
                .load(src=str(cache_dir), fmt="npz", components=["signal", "meta", "annotation"], memory=True)
                .annotation_to_mask("lead")
                .crop_to_annotated()
                .random_crop_signals(window_samples(cfg)))
    if aug.warp is not None:
        pipeline = pipeline.warp_time(aug.warp)
    if aug.scale is not None:
        pipeline = pipeline.scale_amplitude(*aug.scale)
    if aug.flip is not None:
        pipeline = pipeline.flip_polarity(p=aug.flip)
    if aug.noise_snr_db is not None:
        pipeline = pipeline.add_gaussian_noise(aug.noise_snr_db, p=0.5)
    if aug.baseline_wander is not None:
        pipeline = pipeline.add_baseline_wander(aug.baseline_wander, p=0.5)
    return pipeline.train_on_batch("net", save_to=V("loss", mode="a"))


def predict_batch(model, batch, multiple):
    """Most probable class per sample ``{item: int8 mask}`` of a batch of single-lead items.

    Each signal is edge-padded at its end to a multiple of ``multiple`` samples, and its
    mask cut back to the signal's length.
    """
    from ecg.ops.segments import pad

    out = {}
    lengths = {sig.shape[-1] for sig in batch.signal}
    for length in sorted(lengths):
        positions = [i for i, sig in enumerate(batch.signal) if sig.shape[-1] == length]
        padded = -(-length // multiple) * multiple
        x = np.stack([pad(batch.signal[i], padded, mode="edge") for i in positions])
        probs = model.predict_on_batch(batch.model_inputs(x))
        for i, p in zip(positions, probs):
            out[batch.indices[i]] = p[:length].argmax(axis=-1).astype(np.int8)
    return out


def predict_cached(model, items, cache_dir, multiple, batch_size=64):
    """Masks ``{item: int8 (n_samples,)}`` at the network's rate, for the cached ``items``."""
    masks = {}
    for start in range(0, len(items), batch_size):
        batch = items.create_batch(items.indices[start:start + batch_size]).load(
            src=str(cache_dir), fmt="npz", components=["signal", "meta"], memory=True)
        masks.update(predict_batch(model, batch, multiple))
    return masks


def predict_records(model_dir, dataset, batch_size=8):
    """Masks ``{f"{record}_{lead}": int8 mask}`` of raw records, by a saved model and its recipe.

    ``model_dir`` is a saved model's folder, or a model object (a
    :class:`~ecg.models.keras_model.KerasBaseModel`, or an exported file opened by
    :func:`ecg.export.load_exported`).

    Returns
    -------
    tuple
        ``(masks, model)``: masks at the network's rate, before post-processing.
    """
    from ecg.models.keras_model import KerasBaseModel
    from ecg.recipes import recipe_steps

    model = model_dir if hasattr(model_dir, "predict_on_batch") else KerasBaseModel({"path": str(model_dir)})
    multiple = model.config.info.get("step_multiple", 1)
    steps = recipe_steps(model.config.preprocess)
    masks = {}
    for start in range(0, len(dataset), batch_size):
        batch = dataset.create_batch(dataset.indices[start:start + batch_size]).load(
            fmt="wfdb", components=["signal", "meta"])
        for name, kwargs in steps:
            batch = getattr(batch, name)(**kwargs)
        masks.update(predict_batch(model, batch.unstack_leads(), multiple))
    return masks, model


def reference_masks(dataset, leads):
    """The annotated masks of every lead of ``dataset``'s records, at their own rate: ``{item: mask}``."""
    from ecg.data.datasets import ludb

    out = {}
    for ix in dataset.indices:
        path = dataset.index.get_fullpath(ix)
        for lead, mask in zip(leads, ludb.read_masks(path[:-4] if path.endswith(".hea") else path, leads=leads)):
            out[f"{ix}_{lead}"] = mask
    return out


def cleaned(masks, fs, post):
    """:func:`ecg.ops.masks.clean_mask` of every mask."""
    from ecg.ops.masks import clean_mask

    return {ix: clean_mask(m, fs, post.min_duration, post.max_gap) for ix, m in masks.items()}


def scored_leads(references, predictions, fs, ref_fs):
    """Per scored lead: ``(item, reference, prediction at ref_fs, annotated span)``.

    Leads whose reference holds no wave (nothing annotated) are left out.
    """
    from ecg.ops.masks import annotated_span, resample_mask

    for ix, reference in references.items():
        span = annotated_span(reference)
        if span is not None:
            yield ix, reference, resample_mask(predictions[ix], fs, ref_fs, n_samples=reference.size), span


def scores(references, predictions, fs, ref_fs, tolerance):
    """Every metric of the task: predicted masks at ``fs`` against reference masks at ``ref_fs``.

    Parameters
    ----------
    references : dict
        Item -> reference mask at ``ref_fs`` (0 outside the annotated stretch).
    predictions : dict
        Item -> cleaned predicted mask at ``fs``.
    fs, ref_fs : float
        Rates of the predictions and of the references, in Hz.
    tolerance : float
        Largest distance of a matched onset or offset, in seconds.

    Returns
    -------
    dict
        ``waves``: per wave, ``onset`` and ``offset`` (the columns of
        :func:`ecg.metrics.delineation_scores`) and ``Se``, ``+P``, ``F1`` of both
        pooled; ``sample_f1``: per-sample F1 per wave on the annotated samples of all
        leads; their means over P, QRS and T, ``wave_f1`` and ``sample_f1_mean``, and
        ``score``, the mean of the two; ``leads``, the number of leads scored;
        ``lead_sample_f1``: item -> the mean per-sample F1 of that lead (a wave absent
        from both masks counts 1).
    """
    from ecg.metrics import delineation_report, f1_score
    from ecg.ops.masks import keep_waves_within

    true_rows, pred_rows, true_samples, pred_samples, per_lead = [], [], [], [], {}
    for ix, reference, pred, (first, last) in scored_leads(references, predictions, fs, ref_fs):
        true_rows.append(reference)
        pred_rows.append(keep_waves_within(pred, first, last))
        true_samples.append(reference[first:last + 1])
        pred_samples.append(pred[first:last + 1])
        per_lead[ix] = float(f1_score(true_samples[-1], pred_samples[-1], labels=[1, 2, 3], zero_division=1.0))
    report = delineation_report(np.stack(true_rows), np.stack(pred_rows), ref_fs, classes=WAVES, tolerance=tolerance)
    per_sample = f1_score(np.concatenate(true_samples), np.concatenate(pred_samples), average=None, labels=[1, 2, 3])
    waves = {}
    for wave in WAVES:
        rows = {side: {key: int(v) if key in ("TP", "FP", "FN") else float(v)
                       for key, v in report.loc[(wave, side)].to_dict().items()} for side in ("onset", "offset")}
        tp, fp, fn = (sum(rows[side][key] for side in rows) for key in ("TP", "FP", "FN"))
        waves[wave] = {**rows, "Se": tp / max(tp + fn, 1), "+P": tp / max(tp + fp, 1),
                       "F1": 2 * tp / max(2 * tp + fp + fn, 1)}
    wave_f1 = float(np.mean([waves[w]["F1"] for w in WAVES]))
    sample_f1 = {w: float(v) for w, v in zip(WAVES, per_sample)}
    sample_mean = float(np.mean(list(sample_f1.values())))
    return {"waves": waves, "sample_f1": sample_f1, "wave_f1": wave_f1, "sample_f1_mean": sample_mean,
            "score": (wave_f1 + sample_mean) / 2, "leads": len(true_rows), "lead_sample_f1": per_lead}


def print_report(report, log):
    log(f"{'wave':>4} {'boundary':>8} {'Se':>6} {'+P':>6} {'F1':>6} {'error ms':>14} {'TP':>6} {'FP':>5} {'FN':>5}")
    for wave in WAVES:
        for side in ("onset", "offset"):
            row = report["waves"][wave][side]
            log(f"{wave:>4} {side:>8} {row['Se']:6.4f} {row['+P']:6.4f} {row['F1']:6.4f} "
                f"{row['mean_error_ms']:6.1f} ± {row['sd_error_ms']:5.1f} {row['TP']:6d} {row['FP']:5d} {row['FN']:5d}")
    log("wave F1 (onsets and offsets pooled): " + ", ".join(f"{w} {report['waves'][w]['F1']:.4f}" for w in WAVES)
        + f" | mean {report['wave_f1']:.4f}")
    log("per-sample F1: " + ", ".join(f"{w} {report['sample_f1'][w]:.4f}" for w in WAVES)
        + f" | mean {report['sample_f1_mean']:.4f} ({report['leads']} leads)")


def wave_rows(masks, references, fs, ref_fs, names):
    """``predictions.csv`` rows: one per predicted wave, in samples at the reference rate."""
    from ecg.ops.masks import mask_to_intervals

    rows = []
    for ix, _, pred, (first, last) in scored_leads(references, masks, fs, ref_fs):
        record, lead = names[ix]
        for k, runs in mask_to_intervals(pred, len(WAVES)).items():
            rows.extend({"record": record, "lead": lead, "wave": WAVES[k - 1], "onset": int(onset),
                         "offset": int(offset), "scored": bool(first <= (onset + offset) / 2 <= last)}
                        for onset, offset in runs)
    return rows


def plot_examples(cfg, run_dir, names, cache_dir, masks, report_rows):
    """The delineation figure of lead II (else the first lead) of the first test record, and of the worst lead."""
    from ecg.io import read_npz
    from ecg.ops.masks import annotated_span, annotations_to_mask
    from ecg.plot import plot_delineation

    def plot(ix, path, what):
        item = read_npz(f"{cache_dir}/{ix}.npz")
        ann = item["annotation"]["lead"]
        signal = item["signal"][0]
        true = annotations_to_mask(ann["sample"], ann["symbol"], signal.size)
        plot_delineation(signal, cfg.prepare.fs, true, masks[ix], path, waves=WAVES, span=annotated_span(true),
                         title=f"{cfg.name}: record {item['meta']['record']}, lead {item['meta']['lead']} ({what})")

    lead = "ii" if "ii" in cfg.leads else cfg.leads[0]
    first = next(ix for ix, (_, name) in names.items() if name == lead)
    plot(first, run_dir / "plots" / "delineation_example.png", "test split")
    worst = min(report_rows, key=lambda ix: report_rows[ix])
    plot(worst, run_dir / "plots" / "delineation_worst.png",
         f"lowest per-sample F1 of the test split, {report_rows[worst]:.3f}")


# --- the run ------------------------------------------------------------------------------
def run(cfg, run_dir, resume=False, log=print):
    """Train, validate, test, save and re-predict; return the test metrics (see the module docstring)."""
    began = time.time()
    run_dir = RunDirectory(run_dir)
    run_dir.write_yaml("config.yaml", cfg.model_dump(mode="json"))
    length = window_samples(cfg)
    spec = dataset_def(cfg)
    sets = {split: split_subset(spec, split, cfg.data.limit) for split in ("train", "validation", "test")}
    items = {split: lead_items(ds.indices, cfg.leads) for split, ds in sets.items()}
    log(f"{cfg.name}: " + ", ".join(f"{k} {len(v)} records ({len(items[k])} leads)" for k, v in sets.items())
        + f"; windows of {length} samples at {cfg.prepare.fs:g} Hz")
    cache_dir = run_dir / "cache"
    for subset in sets.values():
        cache_leads(subset, cfg, cache_dir, log)
    references = {split: reference_masks(ds, cfg.leads) for split, ds in sets.items() if split != "train"}

    steps = cfg.train.epochs * (len(items["train"]) // cfg.train.batch_size)
    model_cfg = model_config(cfg, steps)
    multiple = step_multiple(cfg.model)

    def make_pipeline(seed):
        return train_pipeline(cfg, items["train"], cache_dir, {**model_cfg, "seed": seed})

    def predict(net, split):
        raw = predict_cached(net, items[split], cache_dir, multiple)
        return raw, cleaned(raw, cfg.prepare.fs, cfg.post)

    def validate(net):
        _, masks = predict(net, "validation")
        report = scores(references["validation"], masks, cfg.prepare.fs, spec.fs, cfg.tolerance)
        return report["score"], {"wave_f1": report["wave_f1"], "sample_f1": report["sample_f1_mean"],
                                 **{f"{w}_F1": report["waves"][w]["F1"] for w in WAVES},
                                 **{f"{w}_sample_f1": report["sample_f1"][w] for w in WAVES}}

    model, best_epoch, keeper = fit(make_pipeline, cfg, run_dir, validate,
                                    "validation score (wave F1 + sample F1) / 2", resume, log)

    raw, masks = predict(model, "test")
    report = scores(references["test"], masks, cfg.prepare.fs, spec.fs, cfg.tolerance)
    log(f"\ntest split ({len(sets['test'])} records, {report['leads']} leads), weights of epoch {best_epoch}:")
    print_report(report, log)
    no_post = scores(references["test"], raw, cfg.prepare.fs, spec.fs, cfg.tolerance)
    log(f"without post-processing: wave F1 {no_post['wave_f1']:.4f}, per-sample F1 {no_post['sample_f1_mean']:.4f}")
    names = lead_names(sets["test"].indices, cfg.leads)
    plot_examples(cfg, run_dir, names, cache_dir, masks, report["lead_sample_f1"])

    model.config = model.config.model_copy(update={"info": {
        **model.config.info, "splits": {split: [str(ix) for ix in ds.indices] for split, ds in sets.items()}, "test": {
        "wave_f1": report["wave_f1"], "sample_f1": report["sample_f1_mean"],
        **{f"{w}_F1": report["waves"][w]["F1"] for w in WAVES}}}})
    model_dir = run_dir / "model"
    model.save(model_dir)
    saved, _ = predict_records(model_dir, sets["test"])
    mismatch = float(np.mean([np.mean(saved[ix] != raw[ix]) for ix in raw]))
    log(f"saved {model_dir}; predicting the raw test records with it changes {mismatch:.2e} of the samples")
    run_dir.write_rows("predictions.csv", wave_rows(masks, references["test"], cfg.prepare.fs, spec.fs, names),
                       columns=["record", "lead", "wave", "onset", "offset", "scored"])
    metrics = {"name": cfg.name, "test": report, "test_without_post_processing": {
                   "wave_f1": no_post["wave_f1"], "sample_f1_mean": no_post["sample_f1_mean"]},
               "best_epoch": best_epoch, "validation_best": keeper.best,
               "records": {k: len(v) for k, v in sets.items()}, "leads": {k: len(v) for k, v in items.items()},
               "split": {k: list(v.indices) for k, v in sets.items()},
               "saved_model_mask_mismatch": mismatch, "seconds": round(time.time() - began, 1)}
    run_dir.write_json("metrics.json", metrics)
    log(f"done in {metrics['seconds']:.0f} s; run directory {run_dir.path}")
    return metrics


def evaluate(model_dir, dataset, labels=None, log=print, out=None):
    """Metrics of a saved delineation model on records with per-lead annotation files.

    Parameters
    ----------
    model_dir : str or Path
        A model folder saved by :func:`run`.
    dataset : EcgDataset
        The records (a ``FilesIndex``: the annotation files ``<record>.<lead>`` lie
        beside each header).
    labels : ignored
        The reference is each record's annotation files; kept for ``ecg evaluate``.
    out : str or Path, optional
        Folder for ``metrics.json`` and ``predictions.csv``.

    Returns
    -------
    dict
        The report of :func:`scores`, plus ``missing`` (always empty: a record that cannot
        be read raises).
    """
    from ecg.data.datasets import ludb

    masks, model = predict_records(model_dir, dataset)
    info = model.config.info
    post = PostConfig(**info.get("post", {}))
    masks = cleaned(masks, info["fs"], post)
    references = reference_masks(dataset, info["leads"])
    report = scores(references, masks, info["fs"], ludb.FS, info.get("tolerance", 0.15))
    print_report(report, log)
    report["missing"] = {}
    if out is not None:
        out = RunDirectory(out)
        out.write_json("metrics.json", report)
        names = lead_names(dataset.indices, info["leads"])
        out.write_rows("predictions.csv", wave_rows(masks, references, info["fs"], ludb.FS, names),
                       columns=["record", "lead", "wave", "onset", "offset", "scored"])
    return report


def predict(model_dir, dataset):
    """P/QRS/T waves of raw records for ``ecg predict``: one row per wave and lead.

    Parameters
    ----------
    model_dir : str or Path
        A model folder saved by :func:`run`.
    dataset : EcgDataset
        WFDB records with the model's leads (:func:`predict_records`).

    Returns
    -------
    tuple
        ``(header, rows, missing)``: the CSV header ``record, lead, wave, onset, offset``
        (inclusive, in samples at the record's own rate), one row per post-processed wave,
        and the records in which no wave was found, with the reason.
    """
    from ecg.io import read_header_meta
    from ecg.io.records import record_base
    from ecg.ops.masks import mask_to_intervals, resample_mask

    masks, model = predict_records(model_dir, dataset)
    info = model.config.info
    masks = cleaned(masks, info["fs"], PostConfig(**info.get("post", {})))
    names = lead_names(dataset.indices, info["leads"])
    metas = {str(ix): read_header_meta(record_base(dataset.index.get_fullpath(ix))) for ix in dataset.indices}
    rows, found = [], set()
    for ix, mask in masks.items():
        record, lead = names[ix]
        meta = metas[record]
        mask = resample_mask(mask, info["fs"], meta["fs"], n_samples=meta["n_samples"])  # as the scores see it
        for k, runs in mask_to_intervals(mask, len(WAVES)).items():
            rows.extend([record, lead, WAVES[k - 1], int(onset), int(offset)] for onset, offset in runs)
            found.add(record)
    missing = {str(ix): "no wave found" for ix in dataset.indices if str(ix) not in found}
    return ["record", "lead", "wave", "onset", "offset"], rows, missing
