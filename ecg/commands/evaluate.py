"""``ecg evaluate``: metrics of a saved task model on any labelled records.

``--records`` (what ``ecg predict --records`` takes: folders, with ``--recursive`` their
subfolders too, quoted globs, RECORDS files, single WFDB or EDF files; see
``ecg predict --help``), with ``--labels FILE`` (a CSV of record,label) for the tasks
that label whole records: by default the ``REFERENCE.csv`` of each record's folder, then
of the folders named; or
``--dataset NAME --split test`` for a ready dataset's split: the split the model was
trained and tested on when it was trained on that dataset (the task pipelines save
their splits), else the dataset's own. The model's saved task (``info.task``) decides
the metrics; beat and delineation models read their reference from each record's
annotation files.

Exit codes: 0 done; 2 an invalid argument or another ecg error; 3 some records had no
prediction or no label (listed on stderr).
"""
EXAMPLE = """examples:
  ecg evaluate --model runs/cinc2017/model --records ../shared/data/fixture/cinc2017
  ecg evaluate --model runs/cinc2017/model --dataset cinc2017 --split test --mirror ../shared/data/mirror
  ecg evaluate --model runs/cinc2017/model --records new/ --labels new/labels.csv --out eval/ --quiet
  ecg evaluate --model zoo:cinc2017 --records 'site*/A0*.hea' data/RECORDS one.edf --recursive
"""
EXIT_MISSING = 3


def register(subparsers):
    import argparse

    from ecg.commands.common import add_shared

    parser = subparsers.add_parser("evaluate", help="metrics of a saved model on labelled records",
                                   description=__doc__, epilog=EXAMPLE,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model folder saved by ecg train")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--records", nargs="+", metavar="RECORDS",
                        help="folders, quoted globs, RECORDS files or record files (.hea, .edf), as "
                             "ecg predict --records takes them")
    source.add_argument("--dataset", help="a ready dataset (cinc2017, ...)")
    parser.add_argument("--recursive", "-r", action="store_true", help="also the records in subfolders of a folder")
    parser.add_argument("--labels", help="CSV of record,label (default: the REFERENCE.csv of each record's "
                                         "folder, then of the folders --records names)")
    parser.add_argument("--split", default="test", help="split of --dataset (default test)")
    parser.add_argument("--mirror", help="PhysioNet mirror for --dataset")
    parser.add_argument("--data-path", help="an extracted copy of --dataset (instead of downloading it)")
    add_shared(parser, "folder for metrics.json, predictions.csv and plots (with --quiet only the missing "
                       "records are printed; the metrics go here)")
    parser.set_defaults(func=main)


def main(args):
    import sys
    from pathlib import Path

    from ecg.errors import ConfigError
    from ecg.models.keras_model import KerasBaseModel
    from ecg.tasks import get_task

    info = KerasBaseModel({"path": args.model}).config.info
    if "task" not in info:
        raise ConfigError(f"{args.model} was not saved by a task pipeline (no info.task); use ecg predict")
    module = get_task(info["task"])
    missing = {}
    if args.records:
        import glob

        from ecg.commands.predict import collect_records, wfdb_records
        from ecg.data.dataset import EcgDataset
        from ecg.errors import EcgError
        from ecg.io import read_labels

        paths, missing = collect_records(args.records, args.recursive)
        paths = wfdb_records(paths, missing, "ecg evaluate reads WFDB and EDF records")
        if not paths:
            raise EcgError(f"no WFDB or EDF record among {', '.join(args.records)}")
        labels = None
        if module.RECORD_LABELS:
            if args.labels:
                if not Path(args.labels).is_file():
                    raise ConfigError(f"labels not found: {args.labels}; give --labels FILE (record,label)")
                labels = read_labels(args.labels)
            else:
                labels = default_labels(args.records, paths)
        dataset = EcgDataset(path=[glob.escape(path) for path in paths])
    else:
        from ecg.data.datasets import get_dataset
        from ecg.data.datasets.base import make_subset

        spec = get_dataset(args.dataset, args.data_path, mirror=args.mirror)
        own = info.get("splits", {}) if info.get("dataset") == args.dataset else {}
        if args.split in own:                 # the split the model was trained and tested on
            dataset = make_subset(spec.dataset, own[args.split])
        else:
            if info.get("dataset") == args.dataset:
                print(f"ecg evaluate: {args.model} records no split {args.split!r} of its own; "
                      f"using {args.dataset}'s split {args.split!r}", file=sys.stderr)
            dataset = spec.subset(args.split)
        labels = spec.labels.loc[list(dataset.indices), "label"] if module.RECORD_LABELS else None
    log = (lambda *a, **k: None) if getattr(args, "quiet", False) else print
    report = module.evaluate(args.model, dataset, labels, log=log, out=args.out)
    missing = {**missing, **report["missing"]}
    if missing:
        for record, reason in sorted(missing.items()):
            print(f"ecg evaluate: {record}: {reason}", file=sys.stderr)
        return EXIT_MISSING
    return 0


def default_labels(sources, paths):
    """Record -> label from the ``REFERENCE.csv`` beside the records, for ``--records`` without ``--labels``.

    Each record's label comes from the ``REFERENCE.csv`` of its own folder, else from that
    of a folder ``sources`` names (a folder, or the folder of a RECORDS file), in that order.

    Raises
    ------
    ConfigError
        None of these folders has a ``REFERENCE.csv`` (the folders looked in are named).
    """
    import os

    import pandas as pd

    from ecg.commands.predict import RECORD_FORMATS
    from ecg.errors import ConfigError
    from ecg.io import read_labels

    named = []
    for source in map(os.fspath, sources):
        if os.path.isdir(source):
            named.append(os.path.abspath(source))
        elif os.path.isfile(source) and os.path.splitext(source)[1] not in RECORD_FORMATS:
            named.append(os.path.dirname(os.path.abspath(source)))            # a RECORDS file
    tables = {}
    for folder in [os.path.dirname(os.path.abspath(p)) for p in paths] + named:
        if folder not in tables:
            file = os.path.join(folder, "REFERENCE.csv")
            tables[folder] = read_labels(file) if os.path.isfile(file) else None
    if not any(table is not None for table in tables.values()):
        looked = ", ".join(list(tables)[:5]) + (" ..." if len(tables) > 5 else "")
        raise ConfigError(f"labels not found: no REFERENCE.csv in {looked}; give --labels FILE (record,label)")
    labels = {}
    for path in paths:
        record = os.path.splitext(os.path.basename(path))[0]
        for folder in [os.path.dirname(os.path.abspath(path))] + named:
            table = tables[folder]
            if table is not None and record in table.index:
                labels[record] = table[record]
                break
    return pd.Series(labels, dtype=object)
