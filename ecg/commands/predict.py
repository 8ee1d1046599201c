"""``ecg predict``: label a folder of WFDB records with a saved model."""
import argparse
import csv
import glob
import inspect
import os
import sys
import tempfile

import numpy as np

from ecg.commands.common import say
from ecg.errors import EcgError
from ecg.report import ErrorReport

EXIT_MISSING = 3
"""Exit status when some records got no prediction (the others are written)."""

EPILOG = f"""\
records (--records, one or more of):
  FOLDER                   its .hea (WFDB), .edf and .dcm (DICOM) files; with
                           --recursive those of its subfolders too
  'GLOB'                   a quoted pattern: 'site*/*.hea', 'data/**/*.edf'
                           (** with any depth); folders it matches as FOLDER
  RECORDS                  a text file of record names, one a line, relative to
                           its folder (PhysioNet's RECORDS files)
  FILE ...                 single files: dir/A00001.hea, dir/A00001, x.edf, y.dcm
  Records are named by their file name without extension; two records of one name
  in different folders are refused (their rows could not be told apart).

a model saved without a recipe (e.g. by the chain of the README):
  its network takes windows of a fixed length (its input shape) and nothing says
  how to cut records into them: each record is cut into windows of that length
  every half window, a record shorter than one window is zero-padded to one, and
  the record's row averages its windows' probabilities; stderr says so, with how
  many records were windowed and padded.

outputs:
  OUT                      record,label,p_<class>... for every predicted record;
                           a beat model (ecg train pipelines/mitdb_beats.yaml):
                           record,sample,label,p_<class>... per detected beat;
                           a delineation model (ludb_delineation.yaml):
                           record,lead,wave,onset,offset per P/QRS/T wave
                           (samples at the record's own rate);
                           a denoising model (mitdb_denoising.yaml): a denoised
                           WFDB record per record in folder <OUT without .csv>/,
                           and record,path,fs,n_samples,leads rows in OUT;
                           an anomaly model (mitdb_anomaly.yaml):
                           record,sample,score,anomalous per detected beat;
                           a forecasting model: record,lead,sample,value rows, the
                           forecast past each record's end
  <OUT stem>.errors.csv    record,reason for every record that got no prediction
                           (unreadable, dropped by the model's recipe, or a recipe
                           action failed on it); header only when there is none

sampling rate:
  Records are brought to the rate the model was trained at: the last
  resample_signals step of its recipe, else info["fs"] of its saved config (or the
  sampling_rate_hz of an exported model); records at another rate are resampled
  to it, and stderr says which. A model that says neither cannot tell which rate
  is right: records at several rates are refused, naming them.

examples:
  ecg predict --model zoo:cinc2017 --records ../shared/data/fixture/cinc2017 --out pred.csv
  ecg predict --model runs/af/model --records data/site1 --recursive --out site1.csv
  ecg predict --model runs/af/model --records 'data/*/A0*.hea' new.edf scan.dcm --out pred.csv
  ecg predict --model runs/af/model --records data/RECORDS --out pred.csv --strict
  ecg predict --model cinc2017.onnx --records data/ --out pred.csv --set batch_size=16 --quiet

exit status:
  0  every record was predicted
  2  error, nothing written: bad arguments, no records, not a saved model (or a
     damaged one: class names that do not fit its outputs), a model whose
     preprocessing recipe is refused (it may only hold signal actions), or records
     at several rates for a model of unknown rate
  {EXIT_MISSING}  some records got no prediction: they are listed on stderr and in
     <OUT stem>.errors.csv, the others are in OUT
  With --strict the first bad record stops the run: exit 2, naming it, nothing written.
"""

RECORD_FORMATS = {".hea": "wfdb", ".edf": "wfdb", ".dcm": "dicom"}
"""Record file extensions ``ecg predict`` reads, preferred in this order, and the ``load`` format of each."""

LENGTH_FREE = {"band_pass_signals", "fir_band_pass_signals", "notch_signals", "remove_baseline",
               "resample_signals", "normalize_signals", "clip_signals", "pad_signals", "select_leads",
               "drop_short_signals", "flip_signals", "convolve_signals", "drop_leads", "reorder_leads",
               "rename_leads", "convert_units", "signal_quality", "find_r_peaks", "heart_rate"}
"""Recipe actions that keep records whole and signals in samples: a recipe of only these
cuts no windows, so a network of a fixed input length needs ``ecg predict`` to cut them."""


def register(subparsers):
    """Add the ``predict`` sub-command."""
    from ecg.commands.common import add_shared

    parser = subparsers.add_parser(
        "predict", help="predict labels of records with a saved model",
        description="Write one CSV row per record: record, label and one probability column per "
                    "class. A model trained on segments gives a whole-record decision (segment "
                    "probabilities averaged).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="folder written by KerasBaseModel.save, zoo:NAME, "
                        "or a file written by ecg export (.onnx, .tflite)")
    parser.add_argument("--records", required=True, nargs="+", metavar="RECORDS",
                        help="folders, quoted globs, RECORDS files or record files (.hea, .edf, .dcm): "
                             "see 'records' below")
    parser.add_argument("--recursive", "-r", action="store_true", help="also the records in subfolders of a folder")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first record that cannot be predicted (exit 2, nothing written)")
    parser.add_argument("--batch-size", type=int, default=64, help="records per batch (default 64)")
    add_shared(parser, "CSV file to write (the errors go to <OUT stem>.errors.csv beside it)", out_required=True)
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


def _records_in(folder, recursive):
    """Record files in ``folder`` (and its subfolders with ``recursive``), sorted."""
    found = []
    for ext in RECORD_FORMATS:
        pattern = os.path.join(glob.escape(os.fspath(folder)), "**" if recursive else "", f"*{ext}")
        found += glob.glob(pattern, recursive=recursive)
    return sorted(path for path in found if os.path.isfile(path))


def _records_listed(path, recursive):
    """The records a RECORDS file lists (names relative to its folder): ``(paths, {name: reason})``."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, encoding="utf-8") as file:
            lines = [line.strip() for line in file]
    except (OSError, UnicodeDecodeError) as exc:
        raise EcgError(f"--records {path}: not a RECORDS file of record names ({exc})") from None
    paths, missing = [], {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        base = os.path.join(folder, line)
        if os.path.isdir(base):
            paths += _records_in(base, recursive)
            continue
        if os.path.splitext(base)[1] in RECORD_FORMATS and os.path.isfile(base):
            paths.append(base)
            continue
        found = [base + ext for ext in RECORD_FORMATS if os.path.isfile(base + ext)]
        if found:
            paths.append(found[0])
        else:
            missing[os.path.basename(line.rstrip("/"))] = (f"listed in {path} but there is no {', '.join(RECORD_FORMATS)} "
                                                           f"file {base}.*")
    return paths, missing


def collect_records(sources, recursive=False):
    """The record files ``--records`` names, and the listed records that have no file.

    Parameters
    ----------
    sources : list of str
        Folders, glob patterns, RECORDS files and record files (``.hea``, ``.edf``,
        ``.dcm``, or a WFDB record path without ``.hea``).
    recursive : bool
        Folders are searched with their subfolders.

    Returns
    -------
    tuple
        ``(paths, missing)``: the record files in the order given (each folder's
        sorted), one per record name (``.hea`` before ``.edf`` before ``.dcm`` of one
        record in one folder); ``{name: reason}`` of records a RECORDS file lists
        without a file.

    Raises
    ------
    EcgError
        A source that is none of these, a folder or pattern without records, or two
        records of one name in different folders.
    """
    paths, missing = [], {}
    for source in [os.fspath(s) for s in sources]:
        if os.path.isdir(source):
            found = _records_in(source, recursive)
            if not found:
                raise EcgError(f"no records (.hea, .edf or .dcm files) in {source}"
                               + ("" if recursive else " (--recursive also looks in its subfolders)"))
        elif os.path.isfile(source) and os.path.splitext(source)[1] in RECORD_FORMATS:
            found = [source]
        elif os.path.isfile(source + ".hea"):
            found = [source + ".hea"]                               # dir/A00001
        elif os.path.isfile(source):
            found, lost = _records_listed(source, recursive)
            missing.update(lost)
            if not found and not lost:
                raise EcgError(f"--records {source}: the RECORDS file lists no record")
        elif glob.has_magic(source):
            found = []
            for match in sorted(glob.glob(source, recursive=True)):
                if os.path.isdir(match):
                    found += _records_in(match, recursive)
                elif os.path.splitext(match)[1] in RECORD_FORMATS:
                    found.append(match)
            if not found:
                raise EcgError(f"no records (.hea, .edf or .dcm files) match {source}")
        else:
            raise EcgError(f"--records {source}: no such folder, record file, RECORDS file or glob pattern")
        paths += found
    return _one_per_record(paths), missing


def _one_per_record(paths):
    """``paths`` without repeats, one file per record of a folder; refuse one name in two folders."""
    kept, where = {}, {}
    for path in paths:
        folder, name = os.path.split(os.path.abspath(path))
        stem, ext = os.path.splitext(name)
        key = (folder, stem)
        if key in kept:
            order = list(RECORD_FORMATS)
            if order.index(ext) < order.index(os.path.splitext(kept[key])[1]):
                kept[key] = path
            continue
        kept[key] = path
        where.setdefault(stem, []).append(folder)
    clashes = {stem: folders for stem, folders in where.items() if len(folders) > 1}
    if clashes:
        shown = "; ".join(f"{stem} in {', '.join(folders)}" for stem, folders in list(clashes.items())[:5])
        raise EcgError(f"{len(clashes)} record name(s) in more than one folder ({shown}): the rows could not be "
                       "told apart; predict those folders one at a time")
    return list(kept.values())


def wfdb_records(paths, missing, why):
    """The WFDB and EDF files among ``paths``; each other record goes into ``missing`` as ``"a DICOM record: why"``.

    For readers of ``load(fmt="wfdb")`` only (the task modules' predict and evaluate).
    """
    kept = []
    for path in paths:
        if RECORD_FORMATS[os.path.splitext(path)[1]] == "wfdb":
            kept.append(path)
        else:
            missing[os.path.splitext(os.path.basename(path))[0]] = f"a DICOM record: {why}"
    return kept


def record_meta(path):
    """The ``meta`` of one record file: its header (WFDB, EDF) or, for DICOM, the file read."""
    if path.endswith(".dcm"):
        from ecg.io.dicom import read_dicom

        return read_dicom(path)[1]
    from ecg.io import read_header_meta

    return read_header_meta(path)


def record_rates(pattern):
    """``{record: fs}`` (Hz) of the records matching ``pattern`` (a glob, or a list of files).

    A record whose header cannot be read is left out here: loading it reports why.
    """
    return {record: meta["fs"] for record, meta in record_metas(pattern).items()}


def record_metas(pattern):
    """``{record: meta}`` of the records matching ``pattern`` (a glob, or a list of files); unreadable ones left out."""
    paths = sorted(glob.glob(pattern)) if isinstance(pattern, str) else list(pattern)
    metas = {}
    for path in paths:
        try:
            meta = record_meta(path)
        except EcgError:
            continue
        metas[str(meta["record"])] = {"fs": float(meta["fs"]), "n_samples": int(meta["n_samples"])}
    return metas


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


def fit_length(model, metas):
    """Cut records into the windows a network of a fixed input length takes, when its recipe cuts none.

    Parameters
    ----------
    model : BaseModel
        A loaded model; when its config's ``input_shape`` has a fixed number of steps
        and its recipe holds only :data:`LENGTH_FREE` actions, a ``split_signals`` step
        (windows of that length every half window, shorter records zero-padded to one
        window) is put last in its recipe.
    metas : dict
        ``{record: {"fs", "n_samples"}}`` of the records to predict (from their headers).

    Returns
    -------
    str or None
        What was done, with how many records are windowed and padded; ``None`` when the
        recipe cuts its own windows or the network takes any length.
    """
    shape = getattr(model.config, "input_shape", None)
    steps = shape[0] if shape else None
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        return None
    if any(next(iter(step)) not in LENGTH_FREE for step in model.config.preprocess):
        return None
    steps, step = int(steps), max(int(steps) // 2, 1)
    model.config = model.config.model_copy(
        update={"preprocess": [*model.config.preprocess, {"split_signals": {"length": steps, "step": step, "pad": True}}]})
    fs, _ = model_rate(model)
    lengths = {record: (meta["n_samples"] * fs / meta["fs"] if fs and meta["fs"] else meta["n_samples"])
               for record, meta in metas.items()}
    short = sorted(record for record, n in lengths.items() if 0 < n < steps)
    windowed = sum(1 for n in lengths.values() if n > steps)
    shown = f" ({', '.join(short[:5])}{', ...' if len(short) > 5 else ''})" if short else ""
    return (f"note: the model was saved without a recipe that cuts windows; its network takes {steps} samples, so "
            f"each record is cut into windows of {steps} samples every {step} samples (a tail shorter than "
            f"{step} samples is left out), a record shorter than {steps} samples is zero-padded to one window, and "
            f"each row is the mean of the record's window probabilities: {windowed} records windowed, "
            f"{len(short)} padded{shown}")


def predict_records(model_path, sources, batch_size=64, recursive=False, strict=False, note=None):
    """Predict every record ``sources`` names (see :func:`collect_records`); return :class:`~ecg.recipes.Predictions`.

    WFDB and EDF records are read with ``load(fmt="wfdb")``, DICOM files with
    ``load(fmt="dicom")``; the predictions of each format are joined in the order the
    records were found. ``note`` (a callable) receives what was adapted: resampling,
    windowing of a model saved without a recipe.
    """
    from ecg.data.dataset import EcgDataset
    from ecg.export.runtime import as_predictor
    from ecg.models.base import BaseModel
    from ecg.models.keras_model import KerasBaseModel
    from ecg.recipes import Predictions, predict_dataset

    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    paths, missing = collect_records(sources, recursive)
    if strict and missing:
        record, reason = next(iter(missing.items()))
        raise EcgError(f"record {record!r}: {reason} (stopped here: strict)")
    model = as_predictor(model_path)
    if not isinstance(model, BaseModel):
        model = KerasBaseModel({"path": str(model)})
    metas = record_metas(paths)
    for text in (fit_rate(model, {record: meta["fs"] for record, meta in metas.items()}), fit_length(model, metas)):
        if text and note is not None:
            note(text)
    groups = {}
    for path in paths:
        groups.setdefault(RECORD_FORMATS[os.path.splitext(path)[1]], []).append(path)
    parts = [predict_dataset(model, EcgDataset(path=[glob.escape(path) for path in group]), batch_size,
                             fmt=fmt, strict=strict)
             for fmt, group in groups.items()]
    order = {os.path.splitext(os.path.basename(path))[0]: i for i, path in enumerate(paths)}
    rows = sorted(((record, probs) for part in parts for record, probs in zip(part.records, part.probabilities)),
                  key=lambda row: order.get(row[0], len(order)))
    for part in parts:
        missing.update(part.missing)
    missing = dict(sorted(missing.items(), key=lambda item: order.get(item[0], -1)))
    n_classes = parts[0].probabilities.shape[1] if parts else 0
    probabilities = (np.stack([probs for _, probs in rows]).astype(np.float32) if rows
                     else np.zeros((0, n_classes), dtype=np.float32))
    return Predictions([record for record, _ in rows], probabilities, parts[0].classes if parts else [], missing)


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

    paths, missing = collect_records(args.records, args.recursive)
    wfdb = wfdb_records(paths, missing, "beat and delineation models read WFDB and EDF records")
    if args.strict and missing:
        record, reason = next(iter(missing.items()))
        raise EcgError(f"record {record!r}: {reason} (stopped here: strict)")
    if not wfdb:
        raise EcgError(f"no WFDB or EDF record among {', '.join(args.records)}")
    # a task that writes files beside OUT (the denoised records) takes its path
    extra = {"out": args.out} if "out" in inspect.signature(module.predict).parameters else {}
    header, rows, lost = module.predict(args.model, EcgDataset(path=[glob.escape(path) for path in wfdb]), **extra)
    missing.update(lost)
    if args.strict and missing:
        record, reason = next(iter(missing.items()))
        raise EcgError(f"record {record!r}: {reason} (stopped here: strict)")
    write_csv(args.out, header, rows)
    errors = errors_path(args.out)
    write_errors(errors, missing)
    say(args, f"wrote {len(rows)} rows ({', '.join(header[:3])}...) to {args.out}")
    for record, reason in missing.items():
        print(f"ecg predict: {record}: {reason}", file=sys.stderr)
    return EXIT_MISSING if missing else 0


def run(args):
    """Run ``ecg predict`` with parsed arguments; return the exit status (see ``EPILOG``)."""
    task = task_module(args.model)
    if task is not None:
        return run_task(task, args)
    result = predict_records(args.model, args.records, args.batch_size, recursive=args.recursive,
                             strict=args.strict, note=lambda text: say(args, f"ecg predict: {text}", file=sys.stderr))
    if len(result.classes) != result.probabilities.shape[1]:
        raise EcgError(f"the model names {len(result.classes)} classes {result.classes} for "
                       f"{result.probabilities.shape[1]} outputs: nothing is written")
    write_predictions(args.out, result.records, result.probabilities, result.classes)
    errors = errors_path(args.out)
    write_errors(errors, result.missing)
    total = len(result.records) + len(result.missing)
    if not result.missing:
        say(args, f"wrote {len(result.records)} predictions to {args.out}")
        return 0
    say(args, f"wrote {len(result.records)} predictions to {args.out} ({len(result.records)} of {total} records); "
        f"no prediction for {_by_reason(result.missing)} (listed in {errors})")
    report = ErrorReport()
    for record, reason in result.missing.items():
        report.add(record, reason)
    print(f"ecg predict: {len(result.missing)} of {total} records got no prediction, listed in {errors}\n"
          f"{report.summary()}", file=sys.stderr)
    return EXIT_MISSING
