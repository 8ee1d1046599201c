"""A tiny training run on the CinC 2017 fixture records, for the kill-and-resume test.

``python tests/resume_job.py --out DIR [--checkpoint DIR] [--resume] [--epochs N] [--slow S]``
trains a small CNN (with dropout) with :func:`ecg.training.train_epochs` and writes
``DIR/result.json``: the per-epoch history, the batch losses and a digest of the final
weights. ``--slow`` sleeps after each epoch so that a test can kill the run mid-way.
"""
import argparse
import hashlib
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from batchflow import V  # noqa: E402

from ecg import EcgDataset, KerasBaseModel  # noqa: E402
from ecg.training import train_epochs  # noqa: E402
from tests.conftest import FIXTURE  # noqa: E402

CONFIG = {"model": {"name": "cnn", "params": {"filters": [4, 8], "kernel_size": 5, "norm": "layer",
                                              "dropout": 0.3}},
          "optimizer": {"name": "adam", "learning_rate": 3e-3}, "seed": 0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--slow", type=float, default=0.0)
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    cinc = FIXTURE / "cinc2017"
    dataset = EcgDataset(path=str(cinc / "*.hea"))
    pipeline = (dataset.p
                .init_model("cnn", KerasBaseModel, mode="dynamic", config=CONFIG)
                .init_variable("loss", [])
                .load(fmt="wfdb", components=["signal", "meta"])
                .load(src=str(cinc / "REFERENCE.csv"), fmt="csv", components="target")
                .random_split_signals(length=1500, n_segments=2)
                .one_hot_labels(["N", "A", "O", "~"])
                .train_on_batch("cnn", save_to=V("loss", mode="a")))

    def on_epoch(logs):
        print(f"epoch {logs['epoch']}: loss {logs['loss']:.4f}", flush=True)
        time.sleep(args.slow)

    history = train_epochs(pipeline, "cnn", n_epochs=args.epochs, batch_size=8, checkpoint_dir=args.checkpoint,
                           resume=args.resume, seed=7, on_epoch=on_epoch, drop_last=True)
    model = pipeline.m("cnn")
    digest = hashlib.sha256(b"".join(w.tobytes() for w in model.model.get_weights())).hexdigest()
    result = {"history": [{k: v for k, v in h.items() if k != "seconds"} for h in history],
              "batch_losses": [h["loss"] for h in model.hist], "weights_sha256": digest}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "result.json"), "w", encoding="utf-8") as file:
        json.dump(result, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
