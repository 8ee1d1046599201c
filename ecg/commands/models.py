"""``ecg models``: list the architectures, or describe one.

``ecg models`` (or ``ecg models list``) prints every registered architecture with a
one-line description, without importing Keras. ``ecg models describe NAME`` prints
the parameters schema (keys, types, defaults, meaning); with ``--input-shape`` it also
builds the network and prints its parameter count, MACs and FLOPs per example (see
:mod:`ecg.models.describe` for what is counted) and the Keras summary.
"""
import json
from pathlib import Path

from ecg.errors import ConfigError


def _input_shape(text):
    """Parse ``"2500,1"`` into ``(2500, 1)``; ``"none,12"`` gives a variable length."""
    try:
        return tuple(None if part.strip().lower() == "none" else int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(
            f"--input-shape must be STEPS,CHANNELS in samples and leads, e.g. 2500,1. Received: {text!r}"
        ) from None


def _params(text):
    """Read ``--params``: inline JSON, or a path to a YAML/JSON file."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--params is not valid JSON: {exc}") from None
    path = Path(text)
    if not path.is_file():
        raise ConfigError(f"--params must be inline JSON or an existing YAML/JSON file. Received: {text!r}")
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data.get("params", data) if isinstance(data, dict) and "name" in data else data


def list_zoo():
    """Print the zoo's trained models: task, test metrics, size, and how each was trained."""
    from ecg.zoo import entries

    for name, entry in sorted(entries().items()):
        scores = ", ".join(f"{k} {v:.3f}" for k, v in entry["test"].items()
                           if not k.endswith("threshold") and k != "accuracy")
        print(f"zoo:{name}  {entry['task']}, {len(entry['classes'])} classes, {entry['bytes'] / 1024:.0f} KiB; "
              f"test {scores}")
        print(f"    trained by `{entry['command']}` at commit {entry['commit'][:10]}")
    return 0


def to_out(func):
    """Run ``func(args)`` printing to ``args.out`` (written atomically) instead of stdout when it is given."""
    def run(args):
        out = getattr(args, "out", None)
        if not out:
            return func(args)
        import contextlib
        import io

        from ecg.commands.common import write_text

        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            code = func(args)
        write_text(out, text.getvalue())
        return code
    run.__doc__ = func.__doc__
    return run


@to_out
def list_models(args):
    """Print the registered architectures, then the front-ends, one per line, with their description.

    ``--zoo`` lists the zoo instead. The front-ends follow a blank line and a heading;
    each line gives the name, the role (``signal``: ``model.frontend``, Keras layers in
    the network; ``features``: ``feature_input.frontend``, numpy before it) and what it
    computes.
    """
    if getattr(args, "zoo", False):
        return list_zoo()
    from ecg.models.factory import model_factory
    from ecg.models.frontends import frontend_factory

    names, frontends = model_factory.list(), frontend_factory.list()
    width = max(map(len, names + frontends), default=0)
    for name in names:
        print(f"{name:<{width}}  {model_factory.describe(name)}")
    print("\nfront-ends (signal: model.frontend, layers in the network; features: feature_input.frontend, "
          "numpy before the feature branch):")
    for name in frontends:
        print(f"{name:<{width}}  {frontend_factory.role(name):<8}  {frontend_factory.describe(name)}")
    return 0


@to_out
def describe_model(args):
    """Print the parameters schema of ``args.name`` and, with an input shape, its size."""
    from ecg.models.factory import model_factory
    from ecg.models.frontends import frontend_factory

    registry = model_factory if model_factory.has(args.name) else frontend_factory
    if not registry.has(args.name):
        raise ConfigError(f"unknown architecture {args.name!r}; registered: {', '.join(model_factory.list())}; "
                          f"front-ends: {', '.join(frontend_factory.list())}")
    if args.input_shape is None or registry is frontend_factory:
        from ecg.models.describe import schema_lines

        lines = [f"{args.name}: {registry.describe(args.name)}", "", "Parameters (key: type = default):"]
        print("\n".join(lines + schema_lines(registry.params_model(args.name))))
        return 0
    from ecg.models.describe import describe

    print(describe(args.name, _input_shape(args.input_shape), args.num_classes, _params(args.params),
                   args.task))
    return 0


EXAMPLE = """examples:
  ecg models                                   # the architectures, one per line
  ecg models --zoo                             # the trained models shipped with ecg
  ecg models describe tcn                      # tcn's parameters, types and defaults
  ecg models describe stft                     # a front-end's parameters
  ecg models describe tcn --input-shape 2500,1 --num-classes 4
  ecg models describe tcn --input-shape 2500,1 --out tcn.txt

exit status: 0 done; 2 an unknown architecture or invalid --input-shape/--params.
"""


OUT_HELP = ("text file to write the listing or description to instead of stdout (--quiet, --set and --device "
            "change nothing here: the listing is the result, and only describe --input-shape builds a network)")


def register(subparsers):
    """Add ``ecg models`` and its ``list`` and ``describe`` sub-commands to ``subparsers``."""
    import argparse

    from ecg.commands.common import add_shared

    parser = subparsers.add_parser("models", help="list the architectures or describe one",
                                   description=__doc__.split("\n\n")[1], epilog=EXAMPLE,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", action="store_true",
                        help="list the trained models shipped with ecg (zoo:NAME for --model)")
    add_shared(parser, OUT_HELP)
    parser.set_defaults(func=list_models)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="list the architectures", epilog=EXAMPLE,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    listing.add_argument("--zoo", action="store_true", default=argparse.SUPPRESS,
                         help="list the trained models shipped with ecg (zoo:NAME for --model)")
    add_shared(listing, OUT_HELP, suppress=True)
    listing.set_defaults(func=list_models)
    describe = actions.add_parser("describe", help="print an architecture's parameters and size", epilog=EXAMPLE,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shared(describe, OUT_HELP, suppress=True)
    describe.add_argument("name", help="architecture name, as in `ecg models`")
    describe.add_argument("--input-shape", metavar="STEPS,CHANNELS",
                          help="window length in samples and number of leads, e.g. 2500,1; "
                               "builds the network and prints its size and compute")
    describe.add_argument("--num-classes", type=int, default=4, help="number of classes (default: 4)")
    describe.add_argument("--task", choices=("classification", "segmentation"), default="classification",
                          help="task of the built network (default: classification)")
    describe.add_argument("--params", metavar="JSON_OR_FILE",
                          help="parameters as inline JSON or a YAML/JSON file (default: the defaults)")
    describe.set_defaults(func=describe_model)
