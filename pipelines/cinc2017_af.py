"""Main job: AF classification on PhysioNet/CinC 2017 (N, A, O, ~), end to end.

1. downloads the database (from ``--mirror`` or PhysioNet) and verifies it;
2. preprocesses every record once (band-pass 0.5-40 Hz, z-score) into an npz cache;
3. trains a CNN on random class-balanced 8-s windows of the training split, one epoch
   at a time (``--checkpoint-every N`` checkpoints it atomically, ``--resume`` goes on
   from the last checkpoint of a killed run, to the same result);
4. evaluates it on the held-out test split (segment probabilities averaged per record)
   and prints per-class F1, macro F1 and the Challenge score (mean F1 of N, A, O);
5. saves the model with its preprocessing recipe, loads it back and predicts the test
   records again with the saved model, checking that predictions are identical.

Run ``python pipelines/cinc2017_af.py --mirror ../shared/data/mirror`` (see README).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from batchflow import V

from ecg import KerasBaseModel
from ecg.commands.predict import write_predictions
from ecg.data.datasets import cinc2017
from ecg.data.download import download
from ecg.metrics import classification_report
from ecg.recipes import apply_recipe, predict_dataset
from ecg.training import train_epochs

CLASSES = list(cinc2017.CLASSES)
WINDOW = 2400                                   # 8 s at 300 Hz: every record is at least 9 s
CLEAN = [{"band_pass_signals": {"low": 0.5, "high": 40}},
         {"normalize_signals": {"method": "zscore"}}]
PREDICT_WINDOWS = [{"split_signals": {"length": WINDOW, "step": WINDOW // 2}}]
# more windows from the rarer classes, so that each batch sees all four often
SEGMENTS_PER_CLASS = {"N": 1, "A": 2, "O": 1, "~": 3}


def model_config(args):
    """The network and training settings (a KerasBaseModel config)."""
    return {"model": {"name": "cnn", "params": {"filters": [16, 24, 32, 48, 64, 64], "kernel_size": 7,
                                                "pool_size": 2, "norm": "batch", "dropout": 0.1}},
            "optimizer": {"name": "adam", "learning_rate": args.lr},
            "seed": args.seed, "preprocess": CLEAN + PREDICT_WINDOWS}


def cache_records(dataset, cache_dir, batch_size):
    """Preprocess every record once and dump it to ``cache_dir`` (skipped when present)."""
    missing = [ix for ix in dataset.indices if not os.path.isfile(os.path.join(cache_dir, f"{ix}.npz"))]
    if not missing:
        return
    subset = dataset.create_subset(dataset.index.create_subset(np.array(missing)))
    pipeline = apply_recipe(subset.p.load(fmt="wfdb", components=["signal", "meta"]), CLEAN)
    pipeline = pipeline.dump(dst=cache_dir, fmt="npz", components=["signal", "meta"])
    pipeline.run(batch_size=batch_size, n_epochs=1, shuffle=False, drop_last=False, bar=True)


def train(spec, cache_dir, args):
    """Train on the training split; return the pipeline (its model is ``"cnn"``)."""
    reference = os.path.join(spec.root, "REFERENCE.csv")
    pipeline = (spec.subset("train").p
                .init_model("cnn", KerasBaseModel, mode="dynamic", config=model_config(args))
                .init_variable("loss", [])
                .load(src=cache_dir, fmt="npz", components=["signal", "meta"])
                .load(src=reference, fmt="csv", components="target")
                .random_split_signals(length=WINDOW, n_segments=SEGMENTS_PER_CLASS)
                .one_hot_labels(CLASSES)
                .train_on_batch("cnn", metrics="f1_score", average="macro", save_to=V("loss", mode="a")))

    def show(logs):
        print(f"epoch {logs['epoch']:2d}/{args.epochs}: loss {logs['loss']:.3f}, "
              f"train macro F1 {logs['f1_score']:.3f} ({logs['seconds']:.0f} s)", flush=True)

    checkpoint_dir = os.path.join(args.out, "checkpoints") if args.checkpoint_every or args.resume else None
    train_epochs(pipeline, "cnn", n_epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                 checkpoint_dir=checkpoint_dir, every=args.checkpoint_every or 1, resume=args.resume,
                 on_epoch=show, drop_last=True, prefetch=1)
    return pipeline


def evaluate(model, dataset, cache_dir, batch_size):
    """Per-record probabilities of ``dataset`` (segments averaged) from the npz cache."""
    pipeline = (dataset.p.import_model("cnn", model).init_variable("prediction", [])
                .load(src=cache_dir, fmt="npz", components=["signal", "meta"]))
    pipeline = apply_recipe(pipeline, PREDICT_WINDOWS)
    pipeline = pipeline.predict_on_batch("cnn", save_to=V("prediction", mode="e"), aggregate="mean")
    pipeline.run(batch_size=batch_size, n_epochs=1, shuffle=False, drop_last=False)
    return np.stack(pipeline.v("prediction"))


def report(probs, labels):
    """Print and return the classification report of ``probs`` against string ``labels``."""
    y_true = np.array([CLASSES.index(label) for label in labels])
    rep = classification_report(y_true, probs, classes=CLASSES)
    rep["challenge_f1"] = float(np.mean([rep[c]["f1"] for c in ("N", "A", "O")]))
    print(f"{'class':>6} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>7}")
    for name in CLASSES:
        row = rep[name]
        print(f"{name:>6} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f} {row['support']:7d}")
    print(f"macro F1 {rep['macro_f1']:.3f} | Challenge F1 (N, A, O) {rep['challenge_f1']:.3f} | "
          f"accuracy {rep['accuracy']:.3f}")
    return rep


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirror", default=os.environ.get("ECG_MIRROR"),
                        help="PhysioNet mirror (URL or folder); default PhysioNet")
    parser.add_argument("--data", default=None, help="download folder (default ./data/downloads)")
    parser.add_argument("--out", default="runs/cinc2017", help="run folder: cache, model, predictions")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                        help="checkpoint the training into OUT/checkpoints every N epochs (0: never)")
    parser.add_argument("--resume", action="store_true",
                        help="go on from the last checkpoint in OUT/checkpoints (same seed and batch size)")
    args = parser.parse_args(argv)
    t0 = time.time()

    root = download("cinc2017", dest=args.data, mirror=args.mirror)
    spec = cinc2017.load(root, seed=args.seed)
    print(f"{len(spec.dataset)} records; split " +
          ", ".join(f"{k} {len(v)}" for k, v in spec.splits.items()), flush=True)
    cache_dir = os.path.join(args.out, "cache")
    cache_records(spec.dataset, cache_dir, batch_size=256)
    print(f"preprocessed into {cache_dir} ({time.time() - t0:.0f} s)", flush=True)

    pipeline = train(spec, cache_dir, args)
    model = pipeline.m("cnn")
    test = spec.subset("test")
    labels = spec.labels.loc[test.indices, "label"].to_numpy()
    probs = evaluate(model, test, cache_dir, args.batch_size)
    print(f"\nheld-out test split ({len(test)} records):")
    rep = report(probs, labels)

    model_dir = os.path.join(args.out, "model")
    model.save(model_dir)
    records, saved_probs, classes, _ = predict_dataset(model_dir, test, args.batch_size)
    write_predictions(os.path.join(args.out, "test_predictions.csv"), records, saved_probs, classes)
    same = np.abs(saved_probs - probs).max()
    print(f"saved model {model_dir}: predictions from raw records with its recipe differ from the "
          f"cached-pipeline ones by at most {same:.2e}")
    rep.update(seconds=round(time.time() - t0, 1), records=len(spec.dataset), test_records=len(test),
               max_abs_diff_saved=float(same))
    with open(os.path.join(args.out, "report.json"), "w", encoding="utf-8") as file:
        json.dump(rep, file, indent=2)
    print(f"done in {time.time() - t0:.0f} s; report in {args.out}/report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
