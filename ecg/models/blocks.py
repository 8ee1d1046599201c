"""Building blocks shared by the architectures of ``ecg.models``.

Every block is a function ``block(x, ...) -> y`` on Keras tensors of layout
``(batch, steps, channels)`` (1-D) or ``(batch, steps, width, channels)`` (2-D, where
``width`` is usually the leads). The rank of ``x`` picks the 1-D or 2-D Keras layer, so
one block serves both. Lengths (``kernel_size``, ``strides``, ``dilation``,
``pool_size``) are in samples of the tensor they apply to; in 2-D they apply over time
and ``kernel_size`` may be a ``(time, width)`` pair.

:func:`stem`, :func:`stages` and :func:`head_model` are the parts every architecture
shares: the strided stem, stages whose first block carries the stride, and the output
head that turns the last features into a ``keras.Model``.

Only Keras layers are used (no ``Lambda``, no backend ops), so the networks run on any
Keras backend and save to ``.keras`` files that load with ``safe_mode=True``.
"""
import keras
from keras import layers

from ecg.errors import ConfigError


def _rank(x):
    return len(x.shape) - 2


def _over_time(size, rank):
    """A size over time only: ``size`` in 1-D, ``(size, 1)`` in 2-D."""
    return size if rank == 1 else (size, 1)


def _kernel(kernel_size, rank):
    if rank == 2 and isinstance(kernel_size, int):
        return (kernel_size, 1)
    return kernel_size


def _pick(rank, one_d, two_d):
    return one_d if rank == 1 else two_d


def norm(x, kind="batch"):
    """Normalize over channels.

    Args:
        x: Tensor ``(batch, ..., channels)``.
        kind: ``"batch"`` (batch normalization), ``"layer"`` (layer normalization over
            channels) or ``"none"``.

    Returns:
        Tensor of the same shape.
    """
    if kind == "batch":
        return layers.BatchNormalization()(x)
    if kind == "layer":
        return layers.LayerNormalization(axis=-1)(x)
    return x


def activation(x, name):
    """Apply the activation called ``name`` (``"relu6"``, ``"gelu"``, ...); ``"linear"`` is a no-op."""
    if name == "linear":
        return x
    return layers.Activation(name)(x)


def apply_dropout(x, rate):
    """Dropout at ``rate``; 0 returns ``x`` unchanged (no layer is added)."""
    if rate:
        x = layers.Dropout(rate)(x)
    return x


def conv(x, filters, kernel_size, strides=1, dilation=1, padding="same", separable=False,
         depthwise=False, use_bias=True):
    """Convolution over time (1-D) or time and width (2-D).

    Args:
        x: Tensor ``(batch, steps, channels)`` or ``(batch, steps, width, channels)``.
        filters: Output channels (ignored when ``depthwise``: the output keeps the input
            channels).
        kernel_size: Kernel length, in samples (2-D: int for ``(k, 1)`` or a pair).
        strides: Stride over time, in samples.
        dilation: Dilation rate over time.
        padding: ``"same"`` (centred), ``"causal"`` (zeros on the left only, output at
            sample ``t`` sees samples ``<= t``; 1-D only) or ``"valid"``.
        separable: Depthwise convolution followed by a pointwise one.
        depthwise: Depthwise convolution only.
        use_bias: Add a bias (off when a batch normalization follows).

    Output shape:
        ``(batch, ceil(steps / strides), filters)`` for ``"same"``/``"causal"``.
    """
    rank = _rank(x)
    kernel = _kernel(kernel_size, rank)
    if padding == "causal":
        x = layers.ZeroPadding1D(((kernel_size - 1) * dilation, 0))(x)
        padding = "valid"
    strides, dilation = _over_time(strides, rank), _over_time(dilation, rank)
    if depthwise or separable:
        depthwise_layer = _pick(rank, layers.DepthwiseConv1D, layers.DepthwiseConv2D)
        x = depthwise_layer(kernel, strides=strides, dilation_rate=dilation, padding=padding,
                            use_bias=use_bias and depthwise)(x)
        if depthwise:
            return x
        kernel, strides, dilation, padding = 1, 1, 1, "valid"
    conv_layer = _pick(rank, layers.Conv1D, layers.Conv2D)
    return conv_layer(filters, kernel, strides=strides, dilation_rate=dilation, padding=padding,
                      use_bias=use_bias)(x)


def conv_norm_act(x, filters, kernel_size, strides=1, dilation=1, padding="same", separable=False,
                  depthwise=False, norm_kind="batch", activation_name="relu"):
    """Convolution (see :func:`conv`), then normalization, then activation.

    The convolution has no bias when a normalization follows it.
    """
    x = conv(x, filters, kernel_size, strides, dilation, padding, separable, depthwise,
             use_bias=norm_kind == "none")
    return activation(norm(x, norm_kind), activation_name)


def squeeze_excite(x, ratio, activation_name="relu"):
    """Squeeze-and-excitation: rescale channels by weights computed from their time average.

    Args:
        x: Tensor ``(batch, ..., channels)``.
        ratio: Reduction ratio: the bottleneck has ``max(1, channels // ratio)`` units;
            0 returns ``x`` unchanged.
        activation_name: Activation of the bottleneck.

    Returns:
        Tensor of the same shape as ``x``.
    """
    if not ratio:
        return x
    channels = x.shape[-1]
    pool = _pick(_rank(x), layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D)
    weights = pool(keepdims=True)(x)
    weights = layers.Dense(max(1, channels // ratio), activation=activation_name)(weights)
    weights = layers.Dense(channels, activation="sigmoid")(weights)
    return layers.Multiply()([x, weights])


def shortcut(x, filters, strides=1, norm_kind="batch"):
    """The identity, or a strided 1x1 convolution + normalization when shapes change."""
    if x.shape[-1] == filters and strides == 1:
        return x
    return norm(conv(x, filters, 1, strides=strides, padding="valid", use_bias=norm_kind == "none"),
                norm_kind)


def add_residual(x, residual):
    """``x + residual``."""
    return layers.Add()([x, residual])


def pool(x, pool_size, kind="max"):
    """Max or average pooling over time with stride ``pool_size`` (``"same"`` padding)."""
    rank = _rank(x)
    if kind == "max":
        layer = _pick(rank, layers.MaxPooling1D, layers.MaxPooling2D)
    else:
        layer = _pick(rank, layers.AveragePooling1D, layers.AveragePooling2D)
    size = _over_time(pool_size, rank)
    return layer(size, strides=size, padding="same")(x)


def upsample(x, size):
    """Repeat every step ``size`` times over time."""
    rank = _rank(x)
    return _pick(rank, layers.UpSampling1D, layers.UpSampling2D)(_over_time(size, rank))(x)


def mbconv(x, filters, kernel_size=3, strides=1, expand_ratio=4, se_ratio=0, fused=False,
           norm_kind="batch", activation_name="silu", dropout=0.0):
    """MBConv block (MobileNetV2 / EfficientNet), plain or fused.

    Plain: pointwise expansion to ``channels * expand_ratio``, depthwise convolution,
    squeeze-excite, pointwise projection to ``filters``. Fused (EfficientNetV2): one
    full ``kernel_size`` convolution does the expansion and the spatial mixing. A
    residual connection is added when input and output shapes match.

    Args:
        x: Tensor ``(batch, steps, channels)``.
        filters: Output channels.
        kernel_size: Kernel length, in samples.
        strides: Stride, in samples.
        expand_ratio: Inner channels over input channels; 1 skips the expansion.
        se_ratio: Squeeze-excite reduction ratio (relative to the input channels); 0
            turns it off.
        fused: Fused MBConv.
        norm_kind: Normalization after each convolution.
        activation_name: Activation after the expansion and depthwise convolutions.
        dropout: Dropout rate before the residual sum.

    Output shape:
        ``(batch, ceil(steps / strides), filters)``.
    """
    inputs = x
    channels = x.shape[-1]
    inner = channels * expand_ratio
    if fused:
        x = conv_norm_act(x, inner, kernel_size, strides, norm_kind=norm_kind,
                          activation_name=activation_name)
    else:
        if expand_ratio != 1:
            x = conv_norm_act(x, inner, 1, norm_kind=norm_kind, activation_name=activation_name)
        x = conv_norm_act(x, inner, kernel_size, strides, depthwise=True, norm_kind=norm_kind,
                          activation_name=activation_name)
    if se_ratio:
        x = squeeze_excite(x, se_ratio * expand_ratio, activation_name)
    if not (fused and expand_ratio == 1):
        x = norm(conv(x, filters, 1, use_bias=norm_kind == "none"), norm_kind)
    if strides == 1 and channels == filters:
        x = add_residual(apply_dropout(x, dropout), inputs)
    return x


def feed_forward(x, hidden, activation_name="gelu", dropout=0.0):
    """Two dense layers over channels: ``channels -> hidden -> channels``."""
    channels = x.shape[-1]
    x = apply_dropout(layers.Dense(hidden, activation=activation_name)(x), dropout)
    return apply_dropout(layers.Dense(channels)(x), dropout)


def output_head(x, num_classes, task="classification", output_activation="softmax", dropout=0.0,
                pooling="avg"):
    """The output layer of every built-in architecture.

    Classification: global average pooling over time (and width) if ``x`` still has
    them, dropout, a dense layer of ``num_classes`` units, the output activation.
    Segmentation: a 2-D feature map is flattened over width, then dropout and a dense
    layer applied to every sample (a pointwise convolution), then the activation.

    Args:
        x: Features ``(batch, channels)``, ``(batch, steps, channels)`` or
            ``(batch, steps, width, channels)``.
        num_classes: Number of classes.
        task: ``"classification"`` or ``"segmentation"``.
        output_activation: ``"softmax"``, ``"sigmoid"`` or ``"linear"``.
        dropout: Dropout rate before the dense layer.
        pooling: ``"avg"``, ``"avgmax"`` to concatenate global max pooling to the
            average (classification of 1-D features only), or ``"flatten"``: no pooling,
            the features of every step flattened into the dense layer (fixed lengths only).

    Output shape:
        ``(batch, num_classes)`` or ``(batch, steps, num_classes)``.
    """
    rank = len(x.shape) - 2
    if task == "classification" and rank > 0 and pooling == "flatten":
        if any(dim is None for dim in x.shape[1:]):
            raise ConfigError("head_pooling='flatten' needs a fixed input length; give input_shape=(steps, "
                              f"channels) with steps an integer number of samples. Received: features {x.shape}")
        x = layers.Flatten(name="flattened")(x)
    elif task == "classification" and rank > 0:
        pooled = _pick(rank, layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D)()(x)
        if pooling == "avgmax":
            maxed = _pick(rank, layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D)()(x)
            pooled = layers.Concatenate(name="pooled")([pooled, maxed])
        x = pooled
    elif task == "segmentation" and rank == 2:
        x = layers.Reshape((-1, x.shape[2] * x.shape[3]))(x)
    x = apply_dropout(x, dropout)
    x = layers.Dense(num_classes, name="logits")(x)
    return layers.Activation(output_activation, name="probabilities")(x)


def stem(x, params):
    """The stem of EfficientNet and ResNet: a strided convolution, normalization, activation.

    Args:
        x: Tensor ``(batch, steps, channels)``.
        params: Parameters with the fields of :class:`ecg.models.params.StemParams`
            (``stem_filters``, ``stem_kernel``, ``stem_strides``), ``norm`` and
            ``activation``.

    Output shape:
        ``(batch, ceil(steps / stem_strides), stem_filters)``.
    """
    return conv_norm_act(x, params.stem_filters, params.stem_kernel, params.stem_strides,
                         norm_kind=params.norm, activation_name=params.activation)


def stages(x, stage_params, block):
    """Run every stage's ``depth`` blocks in order; the first block of a stage carries its stride.

    Args:
        x: Tensor ``(batch, steps, channels)``.
        stage_params: The stages, each with ``depth`` and ``strides`` (e.g.
            :class:`ecg.models.params.ResnetStage`).
        block: ``block(x, stage, strides) -> x``, one block of ``stage`` with stride
            ``strides``, in samples.

    Output shape:
        ``(batch, steps', channels)``: ``steps`` divided (rounding up) by each stage's
        ``strides``, ``channels`` those of the last block.
    """
    for stage in stage_params:
        for index in range(stage.depth):
            x = block(x, stage, stage.strides if index == 0 else 1)
    return x


def head_model(inputs, x, params, num_classes, task, name, upsampling=1):
    """Finish an architecture: :func:`output_head` on features ``x``, as a ``keras.Model``.

    Args:
        inputs: The network's ``keras.Input``, ``(batch, steps, channels)``.
        x: Its last features (see :func:`output_head`).
        params: :class:`ecg.models.params.ArchParams` (``output_activation`` and
            ``head_dropout``).
        num_classes: Number of classes.
        task: ``"classification"`` or ``"segmentation"``.
        name: Name of the model.
        upsampling: Input samples per step of ``x`` (the down-sampling factor of a
            patch embedding); for segmentation ``x`` is up-sampled back by it first.

    Returns:
        A ``keras.Model`` from ``inputs`` to the probabilities: ``(batch, num_classes)``
        or ``(batch, steps, num_classes)``.
    """
    if task == "segmentation" and upsampling > 1:
        x = upsample(x, upsampling)
    outputs = output_head(x, num_classes, task, params.output_activation, params.head_dropout,
                          getattr(params, "head_pooling", "avg"))
    return keras.Model(inputs, outputs, name=name)

