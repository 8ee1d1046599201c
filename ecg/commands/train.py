"""``ecg train CONFIG``: run a ready task pipeline into one run directory.

The config (``pipelines/*.yaml``) is validated before any data is read; ``--set``
overrides any key (``--set train.epochs=2 --set data.limit=40``). The run directory
(default ``runs/<name>``) gets the saved model, the resolved config, ``metrics.json``,
``history.csv``, ``predictions.csv`` and ``plots/`` (see :mod:`ecg.tasks.base`).

``--quiet`` prints only the final test metrics (no per-epoch lines, no progress bars);
in a terminal each epoch shows a progress bar (batches, loss, metrics, ETA).

Exit codes: 0 done; 2 an invalid config or another ecg error (the message says which).
"""
EXAMPLE = """examples:
  ecg train pipelines/cinc2017.yaml --mirror ../shared/data/mirror
  ecg train pipelines/cinc2017.yaml --set train.epochs=2 --set data.limit=40 --out runs/smoke
  ecg train pipelines/cinc2017.yaml --resume           # go on from the last checkpoint
"""


def register(subparsers):
    import argparse

    from ecg.commands.common import add_shared

    parser = subparsers.add_parser("train", help="train, evaluate and save a ready task pipeline",
                                   description=__doc__, epilog=EXAMPLE,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="task config (YAML or JSON), e.g. pipelines/cinc2017.yaml")
    parser.add_argument("--mirror", help="PhysioNet mirror, folder or URL (same as --set data.mirror=...)")
    parser.add_argument("--resume", action="store_true", help="go on from the run directory's last checkpoint")
    add_shared(parser, "run directory (default runs/<name>)", sets="config")
    parser.set_defaults(func=main)


def main(args):
    import os

    from ecg.tasks.base import read_config

    sets = list(args.set)
    mirror = args.mirror or os.environ.get("ECG_MIRROR")
    if mirror:
        sets.append(f"data.mirror={mirror}")
    module, config = read_config(args.config, sets)
    out = args.out or os.path.join("runs", config.name)
    log = (lambda *a, **k: None) if args.quiet else (lambda text: print(text, flush=True))
    metrics = module.run(config, out, resume=args.resume, log=log)
    if args.quiet:
        test = metrics["test"]
        print({k: round(v, 4) for k, v in test.items() if isinstance(v, float)})
    return 0
