"""The ``ecg`` command line.

Each sub-command lives in its own module of ``ecg.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to the function
that runs it with the parsed arguments and returns an exit code.
"""
import argparse
import sys
from importlib import import_module

COMMANDS = ("download", "train", "evaluate", "predict", "models", "export")


def build_parser():
    """Return the top-level ``argparse`` parser with all sub-commands."""
    parser = argparse.ArgumentParser(prog="ecg", description="Deep learning on electrocardiograms.")
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
    from ecg.errors import EcgError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except EcgError as exc:
        print(f"ecg {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
