"""Describe an architecture: its parameters schema, size and compute for an input shape.

What is counted
---------------
Multiply-accumulates (MACs) of one forward pass of **one example**, in inference mode:

* convolutions (``Conv1D/2D``): ``output elements x kernel taps x input channels / groups``;
* depthwise convolutions: ``output elements x kernel taps``;
* separable convolutions: their depthwise and pointwise parts;
* transposed convolutions: ``input elements x kernel taps x output channels / groups``;
* dense layers: ``output elements x input features`` (a dense layer on
  ``(steps, channels)`` counts every step);
* multi-head attention: the query, key, value and output projections, plus
  ``2 x heads x query steps x key steps x key_dim`` for the scores and the weighted sum;
* custom layers that define ``macs(input_shape, output_shape)`` (e.g. MobileOne blocks)
  report their own.

Keras is imported only when a network is built or counted, so printing a
parameters schema stays fast.

Not counted: biases, normalization, activations, pooling, additions and other
element-wise work. FLOPs are reported as ``2 x MACs``.
"""
import inspect
import math
import types
import typing

from pydantic import BaseModel

from ecg.models.factory import build_network, model_factory


def _shape(tensor_or_shape):
    return tuple(getattr(tensor_or_shape, "shape", tensor_or_shape))


def _elements(shape):
    return math.prod(dim for dim in shape[1:])


def layer_macs(layer, input_shape, output_shape):
    """Multiply-accumulates of ``layer`` for one example, given its input and output shapes.

    Args:
        layer: A Keras layer.
        input_shape: Its input shape, batch first (the first input for multi-input layers).
        output_shape: Its output shape, batch first.

    Returns:
        An ``int``; 0 for layers whose work is not counted (see the module docstring).

    Example:
        >>> import keras
        >>> layer_macs(keras.layers.Dense(3), (None, 10), (None, 3))
        30
    """
    from keras import layers

    if hasattr(layer, "macs"):
        return layer.macs(input_shape, output_shape)
    if isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        return _elements(output_shape) * math.prod(layer.kernel_size)
    if isinstance(layer, (layers.SeparableConv1D, layers.SeparableConv2D)):
        taps = math.prod(layer.kernel_size)
        depthwise = _elements(output_shape[:-1]) * input_shape[-1] * layer.depth_multiplier * taps
        return depthwise + _elements(output_shape) * input_shape[-1] * layer.depth_multiplier
    if isinstance(layer, (layers.Conv1DTranspose, layers.Conv2DTranspose)):
        return _elements(input_shape) * math.prod(layer.kernel_size) * layer.filters // layer.groups
    if isinstance(layer, (layers.Conv1D, layers.Conv2D)):
        taps = math.prod(layer.kernel_size)
        return _elements(output_shape) * taps * input_shape[-1] // layer.groups
    if isinstance(layer, layers.Dense):
        return _elements(output_shape) * input_shape[-1]
    if isinstance(layer, layers.MultiHeadAttention):
        return _attention_macs(layer, input_shape, output_shape)
    return 0


def _attention_macs(layer, query_shape, output_shape):
    steps, dim = query_shape[1], query_shape[-1]
    heads, key_dim = layer.num_heads, layer.key_dim
    value_dim = layer.value_dim or key_dim
    projections = steps * dim * heads * (2 * key_dim + value_dim) + steps * heads * value_dim * output_shape[-1]
    return projections + heads * steps * steps * (key_dim + value_dim)


def count_macs(model):
    """Total multiply-accumulates of ``model`` for one example (see the module docstring).

    Args:
        model: A built functional ``keras.Model`` with a known input length.

    Returns:
        An ``int``.
    """
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_macs(layer)
            continue
        if isinstance(layer, keras.layers.InputLayer) or not layer._inbound_nodes:
            continue
        for node in layer._inbound_nodes:
            inputs = node.input_tensors
            outputs = node.output_tensors
            total += layer_macs(layer, _shape(inputs[0]), _shape(outputs[0]))
    return total


def params_schema(model):
    """The fields of a pydantic model as rows ``(key, type, default, description)``.

    Example:
        >>> from ecg.models.params import FcParams
        >>> params_schema(FcParams)[-1]
        ('dropout', 'float', '0.0', 'Dropout rate after each hidden layer.')
    """
    docs = {}
    for cls in reversed(model.__mro__):
        docs.update(_arg_docs(cls.__doc__ or ""))
    rows = []
    for key, field in model.model_fields.items():
        default = "required" if field.is_required() else repr(_plain(field.get_default(call_default_factory=True)))
        rows.append((key, _type_name(field.annotation), default, docs.get(key, field.description or "")))
    return rows


def _type_name(annotation):
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in args)
    if origin is typing.Literal:
        return " | ".join(repr(arg) for arg in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(arg) for arg in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _nested_models(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _nested_models(arg)]


def schema_lines(model):
    """Lines describing ``model``'s keys, then those of the models nested in it."""
    lines, nested = [], []
    for key, annotation, default, doc in params_schema(model):
        lines.append(f"  {key}: {annotation} = {default}")
        if doc:
            lines.append(f"      {doc}")
        nested += [item for item in _nested_models(model.model_fields[key].annotation) if item not in nested]
    for item in nested:
        lines += ["", f"{item.__name__}: {inspect.getdoc(item).splitlines()[0]}"]
        lines += schema_lines(item)
    return lines


def _plain(value):
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_defaults=True)
    return value


def _arg_docs(doc):
    """Map each ``name:`` entry of the ``Args:`` sections of the class hierarchy docstring."""
    docs, key = {}, None
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped == "Args:":
            in_args = True
            continue
        if not in_args:
            continue
        if not stripped:
            in_args = False
            continue
        head, sep, rest = stripped.partition(": ")
        if sep and head.isidentifier() and len(line) - len(line.lstrip()) <= 8:
            key = head
            docs[key] = rest
        elif key:
            docs[key] += " " + stripped
    return docs


def _compute_lines(model, input_shape):
    if input_shape[0] is None:
        return ["  MACs and FLOPs: give a fixed number of steps to count them"]
    macs = count_macs(model)
    return [f"  MACs per example: {macs:,}",
            f"  FLOPs per example: {2 * macs:,} (2 x MACs; see ecg.models.describe for what is counted)"]


def describe(name, input_shape=None, num_classes=4, params=None, task="classification"):
    """A text description of architecture ``name``.

    Args:
        name: Registered architecture name.
        input_shape: ``(steps, channels)`` in samples and leads; with it, the network
            is built and its parameter count, MACs, FLOPs and summary are included.
        num_classes: Number of classes of the built network.
        params: Parameters for the built network (defaults otherwise).
        task: ``"classification"`` or ``"segmentation"``.

    Returns:
        The description as a string.
    """
    lines = [f"{name}: {model_factory.describe(name)}", "", "Parameters (key: type = default):"]
    lines += schema_lines(model_factory.params_model(name))
    if input_shape is not None:
        model = build_network({"name": name, "params": params}, input_shape, num_classes, task)
        summary = []
        model.summary(print_fn=lambda line, *args, **kwargs: summary.append(line))
        lines += [
            "",
            f"For input_shape={tuple(input_shape)} (steps in samples, channels), "
            f"num_classes={num_classes}, task={task}:",
            f"  parameters: {model.count_params():,}",
            *_compute_lines(model, input_shape),
            "",
            *summary,
        ]
    return "\n".join(lines)
