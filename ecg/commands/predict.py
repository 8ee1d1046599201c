"""``ecg predict``: label a folder of WFDB records with a saved model."""
import argparse
import csv
import glob
import os
import sys
import tempfile

import numpy as np

from ecg.errors import EcgError
from ecg.report import ErrorReport

EXIT_MISSING = 3
"""Exit status when some records got no prediction (the others are written)."""

EPILOG = f"""\
outputs:
  OUT                      record,label,p_<class>... for every predicted record
  <OUT stem>.errors.csv    record,reason for every record that got no prediction
                           (unreadable, dropped by the model's recipe, or a recipe
                           action failed on it); header only when there is none

exit status:
  0  every record was predicted
  2  error, nothing written: bad arguments, no records, not a saved model, or a
     model whose preprocessing recipe is refused (it may only hold signal actions)
  {EXIT_MISSING}  some records got no prediction: they are listed on stderr and in
     <OUT stem>.errors.csv, the others are in OUT
"""


def register(subparsers):
    """Add the ``predict`` sub-command."""
    parser = subparsers.add_parser(
        "predict", help="predict labels of records with a saved model",
        description="Write one CSV row per record: record, label and one probability column per "
                    "class. A model trained on segments gives a whole-record decision (segment "
                    "probabilities averaged).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="folder written by KerasBaseModel.save, zoo:NAME, "
                        "or a file written by ecg export (.onnx, .tflite)")
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


def errors_path(out):
    """Path of the errors CSV beside predictions ``out``: ``<out stem>.errors.csv``."""
    return os.path.splitext(out)[0] + ".errors.csv"


def write_csv(path, header, rows):
    """Write ``header`` and ``rows`` to the CSV file ``path`` atomically (never half-written)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_predictions(path, records, probabilities, classes):
    """Write ``record,label,p_<class>...`` rows to ``path`` atomically."""
    write_csv(path, ["record", "label", *(f"p_{c}" for c in classes)],
              ([record, classes[int(np.argmax(probs))], *(f"{p:.6f}" for p in probs)]
               for record, probs in zip(records, probabilities)))


def write_errors(path, missing):
    """Write ``record,reason`` rows (``missing``: record -> reason) to ``path`` atomically."""
    write_csv(path, ["record", "reason"], missing.items())


def predict_records(model_path, folder, batch_size=64):
    """Predict every record in ``folder``; return :class:`~ecg.recipes.Predictions`."""
    from ecg.data.dataset import EcgDataset
    from ecg.export.runtime import as_predictor
    from ecg.recipes import predict_dataset

    return predict_dataset(as_predictor(model_path), EcgDataset(path=find_records(folder)), batch_size)


def run(args):
    """Run ``ecg predict`` with parsed arguments; return the exit status (see ``EPILOG``)."""
    result = predict_records(args.model, args.records, args.batch_size)
    write_predictions(args.out, result.records, result.probabilities, result.classes)
    errors = errors_path(args.out)
    write_errors(errors, result.missing)
    print(f"wrote {len(result.records)} predictions to {args.out}")
    if not result.missing:
        return 0
    report = ErrorReport()
    for record, reason in result.missing.items():
        report.add(record, reason)
    total = len(result.records) + len(result.missing)
    print(f"ecg predict: {len(result.missing)} of {total} records got no prediction, listed in {errors}\n"
          f"{report.summary()}", file=sys.stderr)
    return EXIT_MISSING
