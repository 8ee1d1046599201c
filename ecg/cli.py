"""The ``ecg`` command line.

Each sub-command lives in its own module of ``ecg.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to the function
that runs it with the parsed arguments and returns an exit code.
"""
import argparse
import os
import sys
from importlib import import_module

COMMANDS = ("download", "train", "evaluate", "predict", "plot", "models", "export", "preprocess")

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT, as a shell reports it)."""
EXIT_BROKEN_PIPE = 141
"""Exit status when the reader of the output went away (``ecg models | head``; 128 + SIGPIPE)."""

EPILOG = f"""\
examples:
  ecg train pipelines/cinc2017.yaml --mirror ../shared/data/mirror
  ecg predict --model zoo:cinc2017 --records ../shared/data/fixture/cinc2017 --out pred.csv
  ecg plot ../shared/data/fixture/ludb/1 --layout 12 --out ludb1.png
  ecg models | head -3
  ecg COMMAND --help          # each command's options and examples

shared options (every command):
  --out PATH          where the result goes (a file or a folder: see the command's --help)
  --set KEY=VALUE     ecg train: a key of the config (train.epochs=2); the others: one of
                      the command's own options (--set batch_size=32 is --batch-size 32);
                      an unknown key is an error naming the valid ones
  --quiet, -q         only the result and errors: no progress bars, summaries or notes
  --device DEVICE     auto (default), cpu (GPUs hidden before Keras starts) or gpu (fails
                      unless one is visible)
  Configs (ecg train CONFIG) are YAML or JSON, validated before any data is read.

exit status (every command):
  0    done
  1    an unexpected error (a bug: the traceback says where)
  2    bad arguments, an invalid config (the valid keys are named) or another ecg
       error (a record, a label, a model): one line on stderr says what and where
  3    ecg predict / ecg evaluate: some records got no prediction or no label (the
       others are written; the missing ones are listed)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
  {EXIT_BROKEN_PIPE}  the output pipe closed early (e.g. ecg models | head): ends quietly
"""


def build_parser():
    """Return the top-level ``argparse`` parser with all sub-commands."""
    from ecg import __version__

    parser = argparse.ArgumentParser(prog="ecg", description="Deep learning on electrocardiograms.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ecg {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        try:
            module = import_module(f"ecg.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ecg.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv=None):
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    from ecg.commands.common import apply_shared
    from ecg.errors import EcgError

    import logging

    from ecg import progress

    parser = build_parser()
    args = parser.parse_args(argv)
    # --quiet sets these for the command; a caller in the same process (a notebook, a test) gets them back
    logger, level, mode = logging.getLogger("ecg"), logging.getLogger("ecg").level, progress.get_default()
    try:
        code = apply_shared(args).func(args) or 0
        sys.stdout.flush()                      # inside the try: a closed pipe is caught here, not at exit
        return code
    except EcgError as exc:
        print(f"ecg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ecg {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    finally:
        logger.setLevel(level)
        progress.set_default(mode)


def _quiet_stdout():
    """Point stdout at /dev/null: its reader is gone, and Python's flush at exit must not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):      # a stdout without a file descriptor (captured)
        pass


if __name__ == "__main__":
    sys.exit(main())
