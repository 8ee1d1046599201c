"""Layer-spec models (``layer_spec``): a network written as a list of layer dicts.

In the style of TI Tiny ML's spec models, a network is a list such as::

    layers:
      - {type: ConvBNReLU, out_channels: 8, kernel_size: 5}
      - {type: MaxPool, kernel_size: 2}
      - {type: PWConvBNReLU, out_channels: 16}
      - {type: GlobalAvgPool}
      - {type: Linear}

read from a config or from a YAML/JSON file with :func:`read_layer_spec`. All layers
work over time on ``(batch, steps, channels)``: a 2-D ``kernel_size`` such as
``[5, 1]`` is accepted when its width is 1. With ``npu_check: true`` the network is
checked against the rules of a small NPU, and every violation is reported with the
layer's index and type.

NPU rules checked
-----------------
1. *channels*: every convolution's output channels, and its input channels, are
   multiples of 4 (the first convolution may take a single input channel).
2. *kernel*: convolution kernel height (length over time) at most 7 samples.
3. *pool*: pooling kernel at most 4 samples.
4. *groups*: convolution groups are 1 or equal to the input channels (depthwise).
5. *dense input*: the final dense layer is fed by at least 16 values.
"""
import json
from pathlib import Path

import keras
import yaml
from keras import layers

from ecg.errors import ConfigError
from ecg.models.factory import architecture_params

NPU_CHANNEL_MULTIPLE = 4
NPU_MAX_KERNEL = 7
NPU_MAX_POOL = 4
NPU_MIN_DENSE_INPUTS = 16


def read_layer_spec(path):
    """Read a layer spec from a YAML or JSON file, as ``layer_spec`` params.

    Args:
        path: File holding either a list of layer dicts or a mapping with ``layers``
            (and optionally ``npu_check``, ``output_activation``).

    Returns:
        A dict to use as ``{"name": "layer_spec", "params": ...}``.

    Example:
        >>> import tempfile, os
        >>> spec = os.path.join(tempfile.mkdtemp(), "net.yaml")
        >>> _ = open(spec, "w").write("- {type: GlobalAvgPool}\\n- {type: Linear}\\n")
        >>> read_layer_spec(spec)
        {'layers': [{'type': 'GlobalAvgPool'}, {'type': 'Linear'}]}
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if isinstance(data, list):
        return {"layers": data}
    if isinstance(data, dict):
        return data
    raise ConfigError(f"layer spec {str(path)!r} must hold a list of layers or a mapping with 'layers'")


def _height(size, index, spec, key):
    """The length over time of a ``kernel_size``/``stride``/``padding`` given as int or pair."""
    if not isinstance(size, tuple):
        return size
    if size[1] not in (0, 1):
        raise ConfigError(
            f"layer {index} ({spec.type}): {key}={list(size)} has width {size[1]}; layer-spec "
            "models run over time only, so the width must be 1 (0 for padding)"
        )
    return size[0]


class _Builder:
    """Walks the spec, adding Keras layers and collecting NPU violations."""

    def __init__(self, params, num_classes):
        self.params = params
        self.num_classes = num_classes
        self.violations = []
        self.seen_conv = False

    def violate(self, index, spec, rule, text):
        self.violations.append(f"layer {index} ({spec.type}): {text} [NPU rule: {rule}]")

    def check_conv(self, index, spec, x, out_channels, kernel, groups=1):
        in_channels = x.shape[-1]
        if spec.in_channels is not None and spec.in_channels != in_channels:
            raise ConfigError(f"layer {index} ({spec.type}): in_channels={spec.in_channels} but its "
                              f"input has {in_channels} channels")
        if out_channels % NPU_CHANNEL_MULTIPLE:
            self.violate(index, spec, "channels", f"out_channels={out_channels} is not a multiple of "
                         f"{NPU_CHANNEL_MULTIPLE}")
        if in_channels % NPU_CHANNEL_MULTIPLE and (self.seen_conv or in_channels != 1):
            self.violate(index, spec, "channels", f"in_channels={in_channels} is not a multiple of "
                         f"{NPU_CHANNEL_MULTIPLE}" + ("" if self.seen_conv else " nor 1"))
        if kernel > NPU_MAX_KERNEL:
            self.violate(index, spec, "kernel", f"kernel height {kernel} exceeds {NPU_MAX_KERNEL}")
        if groups not in (1, in_channels):
            self.violate(index, spec, "groups", f"groups={groups} is neither 1 nor the "
                         f"{in_channels} input channels")
        self.seen_conv = True

    def conv_bn_relu(self, x, index, spec, out_channels, kernel, stride, padding, groups=1):
        self.check_conv(index, spec, x, out_channels, kernel, groups)
        if padding is None:
            padding = "same"
        else:
            if padding:
                x = layers.ZeroPadding1D(padding)(x)
            padding = "valid"
        if groups == x.shape[-1] == out_channels and groups > 1:
            x = layers.DepthwiseConv1D(kernel, strides=stride, padding=padding, use_bias=False)(x)
        else:
            x = layers.Conv1D(out_channels, kernel, strides=stride, padding=padding, groups=groups,
                              use_bias=False)(x)
        return layers.ReLU()(layers.BatchNormalization()(x))

    def dense(self, x, index, spec, units):
        if len(x.shape) != 2:
            raise ConfigError(f"layer {index} ({spec.type}): needs a flat input (batch, features); "
                              "put a Reshape or GlobalAvgPool layer before it")
        if getattr(spec, "in_features", None) not in (None, x.shape[-1]):
            raise ConfigError(f"layer {index} ({spec.type}): in_features={spec.in_features} but its "
                              f"input has {x.shape[-1]} values")
        return layers.Dense(units)(x)

    def add(self, x, index, spec):
        kind = spec.type
        if kind == "ConvBNReLU":
            return self.conv_bn_relu(x, index, spec, spec.out_channels,
                                     _height(spec.kernel_size, index, spec, "kernel_size"),
                                     _height(spec.stride, index, spec, "stride"),
                                     _height(spec.padding, index, spec, "padding"), spec.groups)
        if kind == "DWConvBNReLU":
            channels = x.shape[-1]
            if spec.out_channels not in (None, channels):
                raise ConfigError(f"layer {index} ({kind}): out_channels={spec.out_channels} must "
                                  f"equal its {channels} input channels")
            return self.conv_bn_relu(x, index, spec, channels,
                                     _height(spec.kernel_size, index, spec, "kernel_size"),
                                     _height(spec.stride, index, spec, "stride"),
                                     _height(spec.padding, index, spec, "padding"), channels)
        if kind == "PWConvBNReLU":
            return self.conv_bn_relu(x, index, spec, spec.out_channels, 1, 1, 0)
        if kind in ("MaxPool", "AvgPool"):
            size = _height(spec.kernel_size, index, spec, "kernel_size")
            stride = size if spec.stride is None else _height(spec.stride, index, spec, "stride")
            if size > NPU_MAX_POOL:
                self.violate(index, spec, "pool", f"pool kernel {size} exceeds {NPU_MAX_POOL}")
            layer = layers.MaxPooling1D if kind == "MaxPool" else layers.AveragePooling1D
            return layer(size, strides=stride)(x)
        if kind == "GlobalAvgPool":
            return layers.GlobalAveragePooling1D()(x)
        if kind == "Reshape":
            return layers.Flatten()(x)
        if kind == "Linear":
            return self.dense(x, index, spec, spec.out_features or self.num_classes)
        if kind == "BatchNorm":
            if spec.num_features not in (None, x.shape[-1]):
                raise ConfigError(f"layer {index} ({kind}): num_features={spec.num_features} but its "
                                  f"input has {x.shape[-1]} channels")
            return layers.BatchNormalization()(x)
        if kind == "Dropout":
            return layers.Dropout(spec.p)(x)
        return layers.ReLU()(x)

    def build(self, inputs):
        x = inputs
        specs = self.params.layers
        for index, spec in enumerate(specs):
            last_is_head = index == len(specs) - 1 and spec.type == "Linear" and (
                spec.out_features in (None, self.num_classes))
            if last_is_head and x.shape[-1] < NPU_MIN_DENSE_INPUTS:
                self.violate(index, spec, "dense input", f"the final dense layer is fed by "
                             f"{x.shape[-1]} values, fewer than {NPU_MIN_DENSE_INPUTS}")
            x = self.add(x, index, spec)
        if not last_is_head:
            if len(x.shape) > 2:
                x = layers.GlobalAveragePooling1D()(x)
            if x.shape[-1] < NPU_MIN_DENSE_INPUTS:
                self.violations.append(
                    f"appended classification head: the final dense layer is fed by {x.shape[-1]} "
                    f"values, fewer than {NPU_MIN_DENSE_INPUTS} [NPU rule: dense input]")
            x = layers.Dense(self.num_classes)(x)
        return layers.Activation(self.params.output_activation, name="probabilities")(x)


def layer_spec(inputs, params, num_classes, task="classification"):
    """Build the network a list of layer dicts describes (see the module docstring).

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``.
        params: :class:`ecg.models.params.LayerSpecParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"classification"``.

    Input shape:
        ``(batch, steps, channels)``; fixed ``steps`` when the spec has ``Reshape``.

    Output shape:
        ``(batch, num_classes)``.

    Raises:
        ConfigError: Inconsistent layers, or with ``npu_check``, NPU rule violations
            (all of them, each naming the layer index and type, and the rule).

    Parameter count: ``ConvBNReLU``: ``kernel * in * out / groups + 4 * out``;
    ``DWConvBNReLU``: ``kernel * channels + 4 * channels``; ``PWConvBNReLU``:
    ``in * out + 4 * out``; ``Linear``: ``in * out + out``; ``BatchNorm``:
    ``4 * channels`` (batch norm holds gamma, beta and the moving mean and variance).

    Example:
        >>> import keras
        >>> spec = {"layers": [{"type": "ConvBNReLULayer", "out_channels": 4, "kernel_size": [5, 1]},
        ...                    {"type": "GlobalAvgPool"}, {"type": "Linear"}]}
        >>> layer_spec(keras.Input((128, 1)), spec, 3).count_params() == 5 * 4 + 4 * 4 + 4 * 3 + 3
        True
    """
    params = architecture_params("layer_spec", params, task, ("classification",))
    if params.head_dropout:
        raise ConfigError("layer_spec does not use head_dropout; add a Dropout layer to the spec")
    builder = _Builder(params, num_classes)
    outputs = builder.build(inputs)
    if params.npu_check and builder.violations:
        raise ConfigError(f"layer spec breaks {len(builder.violations)} NPU rule(s): "
                          + "; ".join(builder.violations))
    return keras.Model(inputs, outputs, name="layer_spec")
