"""Keras network -> ONNX or LiteRT flatbuffer, through Keras 3's own ``model.export``.

Both converters start from ``keras.Model.export(format="onnx" | "litert")``, which
traces the network with its weights (converting a bare concrete function instead, as
``TFLiteConverter.from_concrete_functions([cf], model)`` does, gives a network with no
weights that outputs NaN). On top of it:

* **ONNX**: tf2onnx learns ``Erfc`` (in Keras' exact GELU) as ``1 - Erf``. It lists
  tensors the traced function captured (the constants of a ``Normalization`` layer
  built with ``mean``/``variance``) as graph inputs; they are turned back into
  initializers, so the graph takes the network's inputs only. tf2onnx
  leaves an op it cannot convert in the graph; such an op fails the export here, by
  layer, instead of failing later in ONNX Runtime.
* **LiteRT**: only builtin kernels (no Flex ops, which the LiteRT runtime cannot run);
  ``int8`` is full-integer quantization (int8 weights, activations, input and output)
  calibrated on a representative set of real windows.

A network that cannot be converted raises :class:`ExportError` naming the Keras layer(s)
and the reason.
"""
import contextlib
import functools
import os
import re

from ecg.errors import ModelError

FORMATS = ("onnx", "tflite")
QUANTIZATIONS = (None, "int8")
_SUFFIX = re.compile(r"_\d+$")


class ExportError(ModelError):
    """A network cannot be exported to the format asked for; the message names the layer."""


def layer_of(network, op_name):
    """The Keras layer an op of the traced graph belongs to, as ``"name (Class)"``, or ``None``.

    Graph op names are the layers' name scopes, e.g. ``"resnet_1/stage0_conv_1/Conv2D"``
    (TensorFlow adds ``_1`` suffixes); the deepest scope that is a layer name wins.
    """
    layers = {layer.name: layer for layer in _all_layers(network)}
    found = None
    for part in re.split(r"[/@]", str(op_name)):
        for name in (part, _SUFFIX.sub("", part)):
            if name in layers:
                found = layers[name]
                break
    return None if found is None else f"{found.name} ({type(found).__name__})"


def _all_layers(network):
    import keras

    for layer in network.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def _layers_named_in(network, text):
    """Every Keras layer whose scope appears in an op name quoted in ``text``, in order."""
    names = []
    for quoted in re.findall(r'"([^"]+)"', text) + re.findall(r"'([^']+)'", text):
        layer = layer_of(network, quoted)
        if layer and layer not in names:
            names.append(layer)
    return names


def check_exportable(network):
    """Raise :class:`ExportError` for what no converter here takes: non-float32 weights or dtypes.

    Examples
    --------
    >>> import keras
    >>> check_exportable(keras.Sequential([keras.Input((8, 1)), keras.layers.Dense(2)]))
    """
    for layer in _all_layers(network):
        policy = getattr(layer, "dtype_policy", None)
        if policy is not None and getattr(policy, "name", "float32") != "float32":
            raise ExportError(f"layer {layer.name} ({type(layer).__name__}) has dtype policy {policy.name!r}; "
                              "export needs float32 layers (int8 is made by the exporter from a float32 "
                              "network): rebuild it under keras.config.set_dtype_policy('float32')")


def to_onnx(network, path, opset=None):
    """Write ``network`` as an ONNX model to ``path``; return the loaded ``onnx.ModelProto``.

    Raises
    ------
    ExportError
        The conversion fails, or leaves ops that have no ONNX definition (naming their layers).
    """
    import onnx

    check_exportable(network)
    _register_onnx_handlers()
    try:
        with _quiet():
            network.export(os.fspath(path), format="onnx", verbose=False, opset_version=opset)
    except Exception as exc:
        raise ExportError(_failure(network, "ONNX", exc)) from exc
    model = onnx.load(os.fspath(path))
    _captures_to_initializers(network, model)
    unknown = [node for node in model.graph.node if not _onnx_defined(node)]
    if unknown:
        raise ExportError("ONNX export: " + "; ".join(
            f"layer {layer_of(network, node.name) or '?'}: TensorFlow op {node.op_type} (node {node.name}) has "
            "no ONNX conversion" for node in unknown)
            + ". Replace the layer by one built from standard ops, or export to tflite")
    return model


@functools.lru_cache(maxsize=None)
def _register_onnx_handlers():
    """Teach tf2onnx the TensorFlow ops ecg networks use that it lacks.

    ``Erfc``: Keras' exact GELU on TensorFlow is ``0.5 * x * erfc(-x / sqrt(2))``;
    ONNX has ``Erf`` (opset 9), so ``erfc(x) = 1 - erf(x)``.
    """
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
            erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
            node.type = "Sub"
            ctx.replace_inputs(node, [one.output[0], erf.output[0]])

    return Erfc


def _onnx_defined(node):
    import onnx

    if node.domain not in ("", "ai.onnx", "ai.onnx.ml"):
        return node.domain == "com.microsoft"       # ONNX Runtime's contrib ops (tf2onnx uses a few)
    return onnx.defs.has(node.op_type, node.domain)


def _captures_to_initializers(network, model):
    """Turn graph inputs that are tensors captured by the traced function into initializers."""
    import numpy as np
    import onnx
    import tensorflow as tf
    from keras.src import tree
    from keras.src.export.export_utils import get_input_signature, make_tf_tensor_spec
    from keras.src.export.onnx import get_concrete_fn

    wanted = {tensor.name.split(":")[0] for tensor in network.inputs}
    extra = [item for item in model.graph.input if item.name.split(":")[0] not in wanted]
    if not extra:
        return
    # The same trace as model.export(format="onnx") makes, so the capture names match.
    signature = tree.map_structure(make_tf_tensor_spec, get_input_signature(network))
    concrete = get_concrete_fn(network, signature).get_concrete_function(*signature)
    values = {placeholder.name: value for value, placeholder in concrete.graph.captures
              if value.dtype != tf.resource}
    for item in extra:
        if item.name not in values:
            raise ExportError(f"ONNX export: the graph takes an input {item.name!r} that is neither an input of "
                              f"the network {sorted(wanted)} nor a constant it captured "
                              f"(layer {layer_of(network, item.name) or '?'})")
        model.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(values[item.name]), item.name))
        model.graph.input.remove(item)


def to_litert(network, path, representative=None):
    """Write ``network`` as a LiteRT flatbuffer to ``path``: float32, or full int8.

    Parameters
    ----------
    network : keras.Model
    path : str
        Ends with ``.tflite``.
    representative : callable, optional
        For int8: a generator function yielding ``{input name: float32 (1, ...) array}``
        for each calibration window. Without it the flatbuffer is float32.

    Raises
    ------
    ExportError
        An op has no builtin (or no int8) LiteRT kernel, naming its layers.
    """
    import tensorflow as tf

    check_exportable(network)
    if representative is None:
        kwargs = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    else:
        kwargs = {"optimizations": [tf.lite.Optimize.DEFAULT], "representative_dataset": representative,
                  "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
                  "inference_input_type": tf.int8, "inference_output_type": tf.int8}
    try:
        with _quiet():
            network.export(os.fspath(path), format="litert", verbose=False, **kwargs)
    except Exception as exc:
        kind = "LiteRT int8" if representative is not None else "LiteRT"
        raise ExportError(_failure(network, kind, exc)) from exc


def _failure(network, kind, exc):
    """The message of a failed conversion: the ops refused, their layers, the converter's reason."""
    text = str(exc)
    ops = list(dict.fromkeys(re.findall(r"'tf\.(\w+)' op", text)))
    layers = _layers_named_in(network, text)
    reasons = list(dict.fromkeys(line.strip() for line in text.splitlines()
                                 if "error:" in line or "not supported" in line or "neither" in line))
    head = f"{kind} export failed"
    if layers:
        head += f" at layer {', '.join(layers)}"
    if ops:
        head += f": op {', '.join(ops)} has no {'int8 ' if 'int8' in kind else ''}builtin kernel"
    detail = "; ".join(re.sub(r"^.*?error:\s*|loc\(.*\)\s*:\s*", "", reason).strip() for reason in reasons[:3])
    return f"{head}. {detail or type(exc).__name__ + ': ' + text[:500]}"


@contextlib.contextmanager
def _quiet():
    """Hush TensorFlow's Python logging and warnings during a conversion."""
    import logging
    import warnings

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
