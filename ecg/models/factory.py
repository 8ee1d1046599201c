"""The model factory: architectures by name, their parameters, and ``build_network``.

An architecture is a function ``fn(inputs, params, num_classes[, task]) -> keras.Model``
registered with a name and a pydantic parameters model. A configuration names it as
``{"name": "tcn", "params": {...}}``; :func:`build_network` validates the parameters,
makes the ``keras.Input`` and calls the function.

How the task reaches an architecture
------------------------------------
``task`` is ``"classification"`` (output ``(batch, num_classes)``) or
``"segmentation"`` (output ``(batch, steps, num_classes)``, one prediction per input
sample). The factory passes ``task=`` to the function only if the function's signature
has a ``task`` parameter (or ``**kwargs``); a function without one is a
classification-only architecture and asking it for segmentation raises ``ConfigError``.
A function that takes ``task`` but cannot do the one asked for raises ``ConfigError``
itself (see :func:`check_task`). The factory checks the returned model's output shape
against the task.

Importing this module does not import Keras: built-ins are registered as
``"module:function"`` strings and resolved on first :meth:`ModelFactory.get`.
"""
import inspect
from importlib import import_module

from pydantic import BaseModel, ValidationError

from ecg.config import find_model
from ecg.errors import ConfigError, ModelError

TASKS = ("classification", "segmentation")

_BUILTINS = {
    "fc": ("ecg.models.fc:fc", "FcParams"),
    "cnn": ("ecg.models.cnn:cnn", "CnnParams"),
    "tcn": ("ecg.models.tcn:tcn", "TcnParams"),
    "unet": ("ecg.models.unet:unet", "UnetParams"),
    "unext": ("ecg.models.unext:unext", "UnextParams"),
    "autoencoder": ("ecg.models.autoencoder:autoencoder", "AutoencoderParams"),
    "efficientnet": ("ecg.models.efficientnet:efficientnet", "EfficientNetParams"),
    "resnet": ("ecg.models.resnet:resnet", "ResnetParams"),
    "mobileone": ("ecg.models.mobileone:mobileone", "MobileOneParams"),
    "conformer": ("ecg.models.conformer:conformer", "ConformerParams"),
    "metaformer": ("ecg.models.metaformer:metaformer", "MetaFormerParams"),
    "tsmixer": ("ecg.models.tsmixer:tsmixer", "TsMixerParams"),
    "layer_spec": ("ecg.models.layer_spec:layer_spec", "LayerSpecParams"),
}


def _resolve(target):
    """Return the object named by ``"package.module:attribute"``, or ``target`` itself."""
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    if not attribute:
        raise ConfigError(f"expected 'module:attribute'. Received: {target!r}")
    return getattr(import_module(module), attribute)


def check_task(name, task, supported):
    """Raise ``ConfigError`` unless ``task`` is one of ``supported``.

    Args:
        name: Architecture name, for the message.
        task: The task asked for.
        supported: The tasks the architecture can do.

    Example:
        >>> check_task("tcn", "segmentation", TASKS)
    """
    if task not in supported:
        raise ConfigError(
            f"architecture {name!r} cannot do task={task!r}; it supports "
            f"{', '.join(map(repr, supported))}. Pick another architecture or task."
        )


def architecture_params(name, params, task, supported=TASKS):
    """Validate ``params`` of built-in architecture ``name`` and check it can do ``task``.

    The first step of every built-in builder, so that it also validates when called
    directly rather than through :func:`build_network`.

    Args:
        name: Architecture name, as registered.
        params: Its parameters (dict, model instance or ``None``).
        task: The task asked for.
        supported: The tasks the architecture can do.

    Returns:
        An instance of the architecture's parameters model.

    Raises:
        ConfigError: Invalid parameters (see :meth:`ModelFactory.validate_params`), or
            a task not in ``supported`` (see :func:`check_task`).

    Example:
        >>> architecture_params("cnn", {"filters": [4]}, "classification").filters
        [4]
    """
    params = model_factory.validate_params(name, params)
    check_task(name, task, supported)
    return params


def check_steps(name, steps, multiple=1, fixed=False):
    """Raise ``ConfigError`` unless the input length ``steps`` suits an architecture.

    Args:
        name: Architecture name, for the message.
        steps: Input length in samples, or ``None`` when variable.
        multiple: ``steps`` must be a multiple of this (e.g. the total pooling factor
            of a U-Net); not checked when ``steps`` is ``None``.
        fixed: The architecture needs a fixed length (``steps`` not ``None``).

    Example:
        >>> check_steps("unet", 1024, multiple=4)
    """
    if steps is None and fixed:
        raise ConfigError(
            f"architecture {name!r} needs a fixed input length; give input_shape=(steps, channels) "
            "with steps an integer number of samples. Received: steps=None"
        )
    if steps is not None and steps % multiple:
        raise ConfigError(
            f"architecture {name!r} needs an input length that is a multiple of {multiple} samples "
            f"(its total down-sampling factor). Received: steps={steps}; use "
            f"{steps - steps % multiple} or {steps - steps % multiple + multiple}."
        )


def _nested_model(model, loc):
    """Return the pydantic model class that holds the field at error location ``loc``."""
    current = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part)
        current = find_model(field.annotation) if field is not None else None
    return current


def validation_message(name, model, error, kind="architecture"):
    """Turn a pydantic ``ValidationError`` into one message naming keys and valid keys."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "params"
        line = f"{key}: {item['msg']}"
        if item["type"] != "missing":
            line += f" (received {item['input']!r})"
        owner = _nested_model(model, item["loc"])
        if item["type"] == "extra_forbidden" and owner is not None and owner is not model:
            line += f"; valid keys here: {', '.join(owner.model_fields)}"
        lines.append(line)
    return (
        f"{kind} {name!r}: invalid params: " + "; ".join(lines)
        + f". Valid keys: {', '.join(model.model_fields)}."
    )


class Registry:
    """Names -> (function, pydantic parameters model), imported on first use.

    The common part of :class:`ModelFactory` (architectures) and
    :class:`ecg.models.frontends.FrontendFactory` (feature front-ends): register,
    list, look up and validate parameters; ``kind`` names what is registered in the
    messages.
    """

    kind = "architecture"

    def __init__(self):
        self._entries = {}

    def register(self, name, fn, params_model, replace=False):
        """Register ``name``.

        Args:
            name: Name used in configurations, e.g. ``"my_net"``.
            fn: The builder, or a ``"module:function"`` string.
            params_model: A pydantic model class (or ``"module:Class"`` string)
                validating the ``params`` of a configuration; use
                ``ConfigDict(extra="forbid")`` so misspelt keys are reported.
            replace: Allow replacing what is already registered as ``name``.

        Raises:
            ConfigError: ``name`` is taken and ``replace`` is false, or it is empty.
        """
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.kind} name must be a non-empty string. Received: {name!r}")
        if name in self._entries and not replace:
            raise ConfigError(
                f"{self.kind} {name!r} is already registered; pass replace=True to replace it"
            )
        self._entries[name] = [fn, params_model]

    def unregister(self, name):
        """Remove ``name``; ``ConfigError`` if it is not registered."""
        self._entry(name)
        del self._entries[name]

    def has(self, name):
        """Whether ``name`` is registered."""
        return name in self._entries

    def list(self):
        """The registered names, sorted."""
        return sorted(self._entries)

    def get(self, name):
        """Return the function of ``name``, importing it on first use."""
        entry = self._entry(name)
        entry[0] = _resolve(entry[0])
        return entry[0]

    def params_model(self, name):
        """Return the pydantic parameters model of ``name`` (without importing Keras)."""
        entry = self._entry(name)
        entry[1] = _resolve(entry[1])
        return entry[1]

    def describe(self, name):
        """The first line of the parameters model's docstring: what ``name`` builds."""
        doc = inspect.getdoc(self.params_model(name)) or ""
        return doc.split("\n\n")[0].replace("\n", " ")

    def validate_params(self, name, params):
        """Validate ``params`` (dict, model instance or ``None``) for ``name``.

        Returns:
            An instance of the parameters model of ``name``.

        Raises:
            ConfigError: Unknown keys or invalid values; the message lists the valid keys.
        """
        model = self.params_model(name)
        if isinstance(params, model):
            return params
        if isinstance(params, BaseModel):
            params = params.model_dump(exclude_unset=True)
        try:
            return model.model_validate(params or {})
        except ValidationError as exc:
            raise ConfigError(validation_message(name, model, exc, self.kind)) from None

    def _entry(self, name):
        if name not in self._entries:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(self.list())}. "
                f"Register your own with {self._register_hint}."
            )
        return self._entries[name]

    _register_hint = "model_factory.register(name, fn, params_model)"


class ModelFactory(Registry):
    """A registry of architectures: name -> (builder function, parameters model).

    A builder is ``fn(inputs, params, num_classes[, task]) -> keras.Model`` where
    ``inputs`` is a ``keras.Input`` of shape ``(batch, steps, channels)`` and
    ``params`` an instance of the registered pydantic model. Builders and models may be
    given as ``"package.module:attribute"`` strings, imported on first use.

    Example:
        >>> from pydantic import BaseModel, ConfigDict
        >>> class TinyParams(BaseModel):
        ...     model_config = ConfigDict(extra="forbid")
        ...     units: int = 8
        >>> factory = ModelFactory()
        >>> factory.register("tiny", "my_package.models:tiny", TinyParams)
        >>> factory.has("tiny"), factory.list()
        (True, ['tiny'])
    """

    def build(self, arch, input_shape, num_classes, task="classification"):
        """Build the network configured by ``arch``; see :func:`build_network`."""
        name, params, frontend = _split_arch(arch)
        params = self.validate_params(name, params)
        if task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}. Received: task={task!r}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive integer. Received: {num_classes!r}")
        input_shape = _check_input_shape(input_shape)
        fn = self.get(name)
        kwargs = {}
        if _accepts_task(fn):
            kwargs["task"] = task
        else:
            check_task(name, task, ("classification",))

        import keras

        inputs = keras.Input(shape=input_shape, name="ecg")
        if frontend is None:
            model = fn(inputs, params, num_classes, **kwargs)
        else:
            from ecg.models.frontends import with_signal_frontend

            model = with_signal_frontend(frontend, inputs, lambda x: fn(x, params, num_classes, **kwargs), task)
        _check_output(name, model, input_shape, num_classes, task)
        return model


def _split_arch(arch):
    if isinstance(arch, str):
        return arch, None, None
    if isinstance(arch, dict):
        unknown = set(arch) - {"name", "params", "frontend"}
        if unknown or "name" not in arch:
            raise ConfigError(
                "architecture must be {'name': ..., 'params': {...}} (and optionally 'frontend': "
                f"{{'name': ..., 'params': {{...}}}}). Received keys: {sorted(arch)}"
            )
        return arch["name"], arch.get("params"), arch.get("frontend")
    if hasattr(arch, "name"):
        return arch.name, getattr(arch, "params", None), getattr(arch, "frontend", None)
    raise ConfigError(f"architecture must be a dict with 'name' and 'params'. Received: {arch!r}")


def _check_input_shape(input_shape):
    shape = tuple(input_shape)
    valid = len(shape) in (2, 3) and all(
        dim is None or (isinstance(dim, int) and dim > 0) for dim in shape[:1]
    ) and all(isinstance(dim, int) and dim > 0 for dim in shape[1:])
    if not valid:
        raise ConfigError(
            "input_shape must be (steps, channels) with positive integers (steps may be None). "
            f"Received: input_shape={input_shape!r}"
        )
    return shape


def _accepts_task(fn):
    parameters = inspect.signature(fn).parameters.values()
    return any(p.name == "task" or p.kind is p.VAR_KEYWORD for p in parameters)


def _check_output(name, model, input_shape, num_classes, task):
    expected = (None, num_classes) if task == "classification" else (None, input_shape[0], num_classes)
    shape = tuple(getattr(model, "output_shape", ()) or ())
    if tuple(shape) != expected:
        raise ModelError(
            f"architecture {name!r} returned a model with output shape {shape} for "
            f"task={task!r}; expected {expected} (batch, {'' if task == 'classification' else 'steps, '}"
            "num_classes)"
        )


model_factory = ModelFactory()
for _name, (_fn, _params) in _BUILTINS.items():
    model_factory.register(_name, _fn, f"ecg.models.params:{_params}")


def build_network(arch, input_shape, num_classes, task="classification"):
    """Build the Keras network an architecture configuration names.

    Args:
        arch: ``{"name": ..., "params": {...}}``, an object with ``.name`` and
            ``.params``, or just a name (default parameters). An optional
            ``"frontend": {"name": "stft", "params": {...}}`` puts a signal front-end
            of :mod:`ecg.models.frontends` (FFT or STFT magnitudes, Keras layers)
            between the input and the architecture.
        input_shape: ``(steps, channels)``: window length in samples and number of
            leads. ``steps`` may be ``None`` for fully convolutional architectures.
        num_classes: Number of output classes.
        task: ``"classification"`` or ``"segmentation"``.

    Returns:
        An uncompiled ``keras.Model`` mapping ``(batch, steps, channels)`` to
        probabilities: ``(batch, num_classes)`` for classification,
        ``(batch, steps, num_classes)`` for segmentation.

    Raises:
        ConfigError: Unknown architecture, invalid parameters (the message lists the
            valid keys), or a task the architecture cannot do.

    Example:
        >>> net = build_network({"name": "cnn", "params": {"filters": [4]}}, (256, 1), 4)
        >>> net.output_shape
        (None, 4)
    """
    return model_factory.build(arch, input_shape, num_classes, task)
