"""``ecg evaluate``: metrics of a saved task model on any labelled records.

``--records DIR`` (WFDB records, with ``--labels FILE``: a CSV of record,label, by
default ``DIR/REFERENCE.csv``, for the tasks that label whole records), or
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
    source.add_argument("--records", help="folder of WFDB records")
    source.add_argument("--dataset", help="a ready dataset (cinc2017, ...)")
    parser.add_argument("--labels", help="CSV of record,label (default RECORDS_DIR/REFERENCE.csv)")
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
    if args.records:
        from ecg.data.dataset import EcgDataset
        from ecg.io import read_labels

        folder = Path(args.records)
        labels = None
        if module.RECORD_LABELS:
            labels_file = Path(args.labels) if args.labels else folder / "REFERENCE.csv"
            if not labels_file.is_file():
                raise ConfigError(f"labels not found: {labels_file}; give --labels FILE (record,label)")
            labels = read_labels(str(labels_file))
        dataset = EcgDataset(path=str(folder / "*.hea"))
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
    if report["missing"]:
        for record, reason in sorted(report["missing"].items()):
            print(f"ecg evaluate: {record}: {reason}", file=sys.stderr)
        return EXIT_MISSING
    return 0
