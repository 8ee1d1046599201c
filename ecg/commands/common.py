"""The flags every ``ecg`` command shares: ``--out``, ``--set KEY=VALUE``, ``--quiet``, ``--device``.

Each command's ``register`` calls :func:`add_shared` on its parser; :func:`ecg.cli.main`
calls :func:`apply_shared` on the parsed arguments before the command runs. What each
flag means:

``--out``
    Where the command writes its result (a file or a folder: each command's ``--help``
    says which). ``ecg download``: the download folder (``--dest``); ``ecg models``: a
    text file for the listing or description instead of stdout.
``--set KEY=VALUE``
    ``ecg train`` (and any command that reads a config file): a key of the config,
    as a dotted path (``train.epochs=2``), validated with the config (an unknown key
    is an error naming the valid ones). Every other command: one of its own options by
    name, ``--set batch_size=32`` being ``--batch-size 32``; the value is converted and
    checked as the option itself would be, and an unknown key is an error naming the
    command's options. The value is read as YAML (``true``, ``2``, ``[a, b]``).
``--quiet`` / ``-q``
    Only what the command exists to print (a listing, an error): no progress bars, no
    summaries, no notes, and TensorFlow's start-up messages hidden.
``--device {auto,cpu,gpu}``
    Which accelerator Keras may use. ``cpu`` hides every GPU (``CUDA_VISIBLE_DEVICES=-1``)
    before Keras is imported; ``gpu`` requires one and fails (exit 2) when none is visible;
    ``auto`` (the default) leaves the choice to Keras. Commands that run no network
    (``download``, ``plot``, ``models list``) take the flag and have nothing to place.
    The choice is made when the process starts: a Keras already imported in the same
    process (a notebook calling :func:`ecg.cli.main` twice) keeps its devices.
"""
import argparse
import os
import sys

from ecg.errors import ConfigError

DEVICES = ("auto", "cpu", "gpu")
SHARED = ("out", "set", "quiet", "device")
"""Destinations of the shared flags; never a ``--set`` key of a command's own options."""

SET_HELP = {"options": "set one of this command's options by name, e.g. --set batch_size=32 (= --batch-size 32); "
                       "repeatable; the value is read as YAML",
            "config": "override a config key (dotted path, e.g. train.epochs=2); repeatable; the value is "
                      "read as YAML; unknown keys are errors naming the valid ones"}


def add_shared(parser, out_help, out_required=False, out_flags=("--out",), out_dest="out", sets="options",
               suppress=False):
    """Add ``--out``, ``--set``, ``--quiet`` and ``--device`` to a command's ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    out_help : str
        What ``--out`` is for this command.
    out_required : bool
        ``--out`` must be given.
    out_flags : tuple of str
        The option strings of ``--out`` (``("--out", "--dest")`` keeps an older name).
    out_dest : str
        Attribute the ``--out`` value is stored in.
    sets : {"options", "config"}
        What a ``--set KEY=VALUE`` sets: one of the command's options (done by
        :func:`apply_shared`), or a key of the config the command reads (done by the
        command itself, from ``args.set``).
    suppress : bool
        Leave the flags out of the namespace unless given: for the sub-parsers of a
        command whose own parser has them (``ecg models describe ... --quiet``).

    Returns
    -------
    argparse._ArgumentGroup
        The group of the shared flags.
    """
    if sets not in SET_HELP:
        raise ValueError(f"sets must be one of {sorted(SET_HELP)}, not {sets!r}")
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    group = parser.add_argument_group("shared options (every ecg command)")
    group.add_argument(*out_flags, dest=out_dest, required=out_required and not suppress,
                       default=default(None), help=out_help)
    group.add_argument("--set", action="append", default=default([]), metavar="KEY=VALUE", help=SET_HELP[sets])
    group.add_argument("--quiet", "-q", action="store_true", default=default(False),
                       help="print only the result and errors: no progress bars, summaries or notes")
    group.add_argument("--device", choices=DEVICES, default=default("auto"),
                       help="auto (default): Keras decides; cpu: hide the GPUs before Keras starts; "
                            "gpu: fail unless a GPU is visible")
    parser.set_defaults(_parser=parser, _sets=sets)      # a sub-parser's replaces its command's: its options
    return group


def apply_shared(args, argv=None):
    """Act on the shared flags of parsed ``args`` before the command runs; return ``args``.

    ``--device cpu`` hides the GPUs (when Keras is not imported yet), ``--quiet`` hides
    TensorFlow's start-up messages and the ``ecg`` logger's notes, ``--set`` sets the
    command's options (unless the command reads ``--set`` as config keys), and
    ``--device gpu`` fails when no GPU is visible.

    Raises
    ------
    ConfigError
        A ``--set`` that is not ``KEY=VALUE``, names no option of the command (the
        valid keys are named) or holds a value the option refuses; ``--device gpu``
        without a GPU.
    """
    parser = getattr(args, "_parser", None)
    if parser is None:                    # a command without the shared flags
        return args
    device = getattr(args, "device", "auto")
    if device == "cpu" and not _keras_imported():
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    if getattr(args, "quiet", False):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import logging

        logging.getLogger("ecg").setLevel(logging.WARNING)
        from ecg import progress

        progress.set_default("off")
    if getattr(args, "_sets", "options") == "options":
        for item in getattr(args, "set", None) or []:
            set_option(parser, args, item)
    else:
        for item in getattr(args, "set", None) or []:
            split_set(item)                 # the syntax is checked here, the keys by the command's config
    if device == "gpu":
        require_gpu()
    return args


def _keras_imported():
    return "keras" in sys.modules or "tensorflow" in sys.modules


def split_set(item):
    """``"key=value"`` -> ``("key", "value")``.

    Raises
    ------
    ConfigError
        No ``=`` or no key.
    """
    key, sep, value = str(item).partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set takes KEY=VALUE, e.g. --set batch_size=32. Received: {item!r}")
    return key.strip(), value


def option_actions(parser):
    """``{dest: action}`` of the options of ``parser`` a ``--set`` may set (not the shared ones, not help)."""
    return {action.dest: action for action in parser._actions            # noqa: SLF001 -- argparse's own list
            if action.option_strings and action.dest not in SHARED and not action.dest.startswith("_")
            and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))}  # noqa: SLF001


def set_option(parser, args, item):
    """Apply one ``--set KEY=VALUE`` to ``args`` as the option ``KEY`` of ``parser`` would be.

    ``KEY`` is the option's name with ``_`` or ``-`` (``batch_size``, ``batch-size``);
    ``VALUE`` is read as YAML for flags (``true``/``false``) and converted by the
    option's own type (and checked against its choices) otherwise.
    """
    import yaml

    key, text = split_set(item)
    actions = option_actions(parser)
    dest = key.lstrip("-").replace("-", "_")
    action = actions.get(dest)
    if action is None:
        raise ConfigError(f"--set {item!r}: unknown key {key!r}; valid keys: {', '.join(sorted(actions)) or '(none)'}")
    if action.nargs == 0:                                               # store_true / store_false / store_const
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = None
        if not isinstance(value, bool):
            raise ConfigError(f"--set {item!r}: {key} is a flag: give true or false")
        setattr(args, dest, action.const if value else action.default)
        return
    try:
        value = action.type(text) if callable(action.type) else text
    except (ValueError, TypeError, argparse.ArgumentTypeError, ConfigError) as exc:
        kind = getattr(action.type, "__name__", "value")
        raise ConfigError(f"--set {item!r}: {key} takes {'an' if kind[0] in 'aeiou' else 'a'} {kind}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"--set {item!r}: {key} must be one of {', '.join(map(str, action.choices))}")
    if isinstance(action, argparse._AppendAction):                      # noqa: SLF001
        value = [*(getattr(args, dest, None) or []), value]
    setattr(args, dest, value)


def require_gpu():
    """Raise :class:`ConfigError` unless the Keras backend sees a GPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        found = tf.config.list_physical_devices("GPU")
    elif backend == "jax":
        import jax

        found = [d for d in jax.devices() if d.platform == "gpu"]
    elif backend == "torch":
        import torch

        found = list(range(torch.cuda.device_count()))
    else:
        found = []
    if not found:
        raise ConfigError(f"--device gpu: the Keras backend ({backend}) sees no GPU; use --device cpu or auto")


def read_config_file(path, what="config"):
    """Read a YAML or JSON file holding a mapping (JSON is read as YAML); return the dict.

    Raises
    ------
    ConfigError
        The file is missing, is not valid YAML/JSON, or does not hold a mapping.
    """
    import yaml

    if not os.path.isfile(path):
        raise ConfigError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML or JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, got {type(data).__name__}")
    return data


def say(args, *parts, **kwargs):
    """``print`` unless ``--quiet`` (notes and summaries; results and errors are printed always)."""
    if not getattr(args, "quiet", False):
        print(*parts, **kwargs)


def write_text(path, text):
    """Write ``text`` to the file ``path`` atomically (a temporary file renamed into place)."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
