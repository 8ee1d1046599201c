"""``ecg predict``: label a folder of WFDB records with a saved model."""
import csv
import glob
import os
import tempfile

import numpy as np

from ecg.errors import EcgError


def register(subparsers):
    """Add the ``predict`` sub-command."""
    parser = subparsers.add_parser(
        "predict", help="predict labels of records with a saved model",
        description="Write one CSV row per record: record, label and one probability column per "
                    "class. A model trained on segments gives a whole-record decision (segment "
                    "probabilities averaged).")
    parser.add_argument("--model", required=True, help="folder written by KerasBaseModel.save")
    parser.add_argument("--records", required=True, help="folder of WFDB records (.hea with .dat/.mat) or .edf")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--batch-size", type=int, default=64, help="records per batch (default 64)")
    parser.set_defaults(func=run)


def find_records(folder):
    """Glob pattern of the records in ``folder``: its ``.hea`` files, else its ``.edf`` files."""
    for ext in ("hea", "edf"):
        pattern = os.path.join(folder, f"*.{ext}")
        if glob.glob(pattern):
            return pattern
    raise EcgError(f"no records (.hea or .edf files) in {folder}")


def write_predictions(path, records, probabilities, classes):
    """Write ``record,label,p_<class>...`` rows to ``path`` atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["record", "label", *(f"p_{c}" for c in classes)])
            for record, probs in zip(records, probabilities):
                writer.writerow([record, classes[int(np.argmax(probs))], *(f"{p:.6f}" for p in probs)])
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def predict_records(model_path, folder, batch_size=64):
    """Predict every record in ``folder``; return ``(records, probabilities, classes)``."""
    from ecg.data.dataset import EcgDataset
    from ecg.recipes import predict_dataset

    return predict_dataset(model_path, EcgDataset(path=find_records(folder)), batch_size)


def run(args):
    """Run ``ecg predict`` with parsed arguments."""
    records, probabilities, classes = predict_records(args.model, args.records, args.batch_size)
    write_predictions(args.out, records, probabilities, classes)
    print(f"wrote {len(records)} predictions to {args.out}")
    return 0
