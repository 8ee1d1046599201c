"""``ecg predict``: label a folder of WFDB records with a saved model."""
import argparse
import csv
import glob
import inspect
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
  OUT                      record,label,p_<class>... for every predicted record;
                           a beat model (ecg train pipelines/mitdb_beats.yaml):
                           record,sample,label,p_<class>... per detected beat;
                           a delineation model (ludb_delineation.yaml):
                           record,lead,wave,onset,offset per P/QRS/T wave
                           (samples at the record's own rate);
                           a denoising model (mitdb_denoising.yaml): a denoised
                           WFDB record per record in folder <OUT without .csv>/,
                           and record,path,fs,n_samples,leads rows in OUT
  <OUT stem>.errors.csv    record,reason for every record that got no prediction
                           (unreadable, dropped by the model's recipe, or a recipe
                           action failed on it); header only when there is none

sampling rate:
  Records are brought to the rate the model was trained at: the last
  resample_signals step of its recipe, else info["fs"] of its saved config (or the
  sampling_rate_hz of an exported model); records at another rate are resampled
  to it, and stderr says which. A model that says neither cannot tell which rate
  is right: records at several rates are refused, naming them.

exit status:
  0  every record was predicted
  2  error, nothing written: bad arguments, no records, not a saved model (or a
     damaged one: class names that do not fit its outputs), a model whose
     preprocessing recipe is refused (it may only hold signal actions), or records
     at several rates for a model of unknown rate
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
    """Glob pattern of the records in ``folder``: its ``.hea`` files, else its ``.edf`` files.

    The folder is taken literally: ``site[1]`` is that folder, never ``site1``.
    """
    for ext in ("hea", "edf"):
        pattern = os.path.join(glob.escape(os.fspath(folder)), f"*.{ext}")
        if glob.glob(pattern):
            return pattern
    raise EcgError(f"no records (.hea or .edf files) in {folder}")


def record_rates(pattern):
    """``{record: fs}`` (Hz) of the records matching ``pattern``, from their headers.

    A record whose header cannot be read is left out here: loading it reports why.
    """
    from ecg.io import read_header_meta

    rates = {}
    for path in sorted(glob.glob(pattern)):
        try:
            meta = read_header_meta(path)
        except EcgError:
            continue
        rates[str(meta["record"])] = float(meta["fs"])
    return rates


def model_rate(model):
    """The sampling rate (Hz) a model's windows are at, and where it is written; ``(None, None)`` if nowhere.

    The recipe's last ``resample_signals`` (records are resampled by the recipe itself),
    else ``info["fs"]`` of the saved config (or an exported model's ``sampling_rate_hz``).
    """
    from ecg.recipes import MAX_FS

    rates = [step["resample_signals"]["fs"] for step in model.config.preprocess if "resample_signals" in step]
    if rates:
        return float(rates[-1]), "recipe"
    for where, value in (("info['fs']", (model.config.info or {}).get("fs")),
                         ("sampling_rate_hz", getattr(model, "metadata", {}).get("sampling_rate_hz"))):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_FS:
            raise EcgError(f"the model's {where} is {value!r}, not a sampling rate in Hz (0 to {MAX_FS:g})")
        return float(value), where
    return None, None


def _by_rate(rates):
    """``"3 records at 360 Hz (r3600, r3601, r3602), 1 at 300 Hz (A00001)"``."""
    groups = {}
    for record, fs in rates.items():
        groups.setdefault(fs, []).append(record)
    parts = [f"{len(names)} at {fs:g} Hz ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
             for fs, names in sorted(groups.items(), key=lambda item: -len(item[1]))]
    return ", ".join(parts)


def fit_rate(model, rates):
    """Bring records at other rates to the model's rate, or refuse when that rate is unknown.

    Parameters
    ----------
    model : BaseModel
        A loaded model with a recipe in its config; when records are at another rate
        than the known one, a ``resample_signals`` step to it is put first in its recipe.
    rates : dict
        ``{record: fs}`` of the records to predict.

    Returns
    -------
    str or None
        A note for the user: which records are resampled, or that the model's rate is
        unknown; ``None`` when there is nothing to say.

    Raises
    ------
    EcgError
        The model does not say its rate and the records are at several rates.
    """
    fs, where = model_rate(model)
    if where == "recipe" or not rates:
        return None
    if fs is None:
        if len(set(rates.values())) > 1:
            raise EcgError(f"the records are at several sampling rates: {_by_rate(rates)}; the model does not "
                           "say which rate it was trained at (no resample_signals step in its recipe, no "
                           "info['fs'] in its config), so at most one of them is right: predict the records "
                           "of one rate at a time, or save the model with its rate")
        return (f"note: the model does not say which sampling rate it was trained at; the records are at "
                f"{next(iter(rates.values())):g} Hz and are predicted at that rate")
    other = {record: rate for record, rate in rates.items() if rate != fs}
    if not other:
        return None
    model.config = model.config.model_copy(
        update={"preprocess": [{"resample_signals": {"fs": fs}}, *model.config.preprocess]})
    return f"resampling {len(other)} of {len(rates)} records to the model's {fs:g} Hz ({where}): {_by_rate(other)}"


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


def _by_reason(missing, limit=10):
    """``"A00003, A00007: dropped by the recipe: ...; A00012: signal file not found"``."""
    groups = {}
    for record, reason in missing.items():
        groups.setdefault(reason, []).append(record)
    return "; ".join(f"{', '.join(names[:limit])}{f' and {len(names) - limit} more' if len(names) > limit else ''}"
                     f": {reason}" for reason, names in groups.items())


def predict_records(model_path, folder, batch_size=64):
    """Predict every record in ``folder``; return :class:`~ecg.recipes.Predictions`."""
    from ecg.data.dataset import EcgDataset
    from ecg.export.runtime import as_predictor
    from ecg.models.base import BaseModel
    from ecg.models.keras_model import KerasBaseModel
    from ecg.recipes import predict_dataset

    pattern = find_records(folder)
    model = as_predictor(model_path)
    if not isinstance(model, BaseModel):
        model = KerasBaseModel({"path": str(model)})
    note = fit_rate(model, record_rates(pattern))
    if note:
        print(f"ecg predict: {note}", file=sys.stderr)
    return predict_dataset(model, EcgDataset(path=pattern), batch_size)


def task_module(model_path):
    """The task module of a beat or delineation model (its own rows per record), else None.

    Models of whole-record tasks (and models saved outside a task pipeline) give one row
    per record, written by :func:`run` itself.
    """
    from ecg.models.keras_model import KerasBaseModel
    from ecg.tasks import get_task
    from ecg.zoo import resolve

    if not os.path.isdir(resolve(str(model_path))):
        return None
    task = (KerasBaseModel({"path": str(model_path)}).config.info or {}).get("task")
    module = get_task(task) if task else None
    return module if module is not None and not getattr(module, "RECORD_LABELS", True) else None


def run_task(module, args):
    """``ecg predict`` with a beat or delineation model: the rows its task module writes."""
    from ecg.data.dataset import EcgDataset

    # a task that writes files beside OUT (the denoised records) takes its path
    extra = {"out": args.out} if "out" in inspect.signature(module.predict).parameters else {}
    header, rows, missing = module.predict(args.model, EcgDataset(path=find_records(args.records)), **extra)
    write_csv(args.out, header, rows)
    errors = errors_path(args.out)
    write_errors(errors, missing)
    print(f"wrote {len(rows)} rows ({', '.join(header[:3])}...) to {args.out}")
    for record, reason in missing.items():
        print(f"ecg predict: {record}: {reason}", file=sys.stderr)
    return EXIT_MISSING if missing else 0


def run(args):
    """Run ``ecg predict`` with parsed arguments; return the exit status (see ``EPILOG``)."""
    task = task_module(args.model)
    if task is not None:
        return run_task(task, args)
    result = predict_records(args.model, args.records, args.batch_size)
    if len(result.classes) != result.probabilities.shape[1]:
        raise EcgError(f"the model names {len(result.classes)} classes {result.classes} for "
                       f"{result.probabilities.shape[1]} outputs: nothing is written")
    write_predictions(args.out, result.records, result.probabilities, result.classes)
    errors = errors_path(args.out)
    write_errors(errors, result.missing)
    total = len(result.records) + len(result.missing)
    if not result.missing:
        print(f"wrote {len(result.records)} predictions to {args.out}")
        return 0
    print(f"wrote {len(result.records)} predictions to {args.out} ({len(result.records)} of {total} records); "
          f"no prediction for {_by_reason(result.missing)} (listed in {errors})")
    report = ErrorReport()
    for record, reason in result.missing.items():
        report.add(record, reason)
    print(f"ecg predict: {len(result.missing)} of {total} records got no prediction, listed in {errors}\n"
          f"{report.summary()}", file=sys.stderr)
    return EXIT_MISSING
