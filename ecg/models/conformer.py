"""Conformer (``conformer``), 1-D.

Gulati et al., "Conformer: Convolution-augmented Transformer for Speech Recognition",
Interspeech 2020.
"""
from keras import layers

from ecg.models import blocks
from ecg.models.factory import architecture_params, check_steps


def half_step_feed_forward(x, params):
    """``x + 0.5 * FeedForward(LayerNorm(x))``, the Macaron half-step of a Conformer block."""
    y = layers.LayerNormalization()(x)
    y = blocks.feed_forward(y, params.dim * params.ff_ratio, "silu", params.dropout)
    return blocks.add_residual(x, layers.Rescaling(0.5)(y))


def conformer_block(x, params):
    """One Conformer block: half feed-forward, self-attention, convolution module,
    half feed-forward, layer norm; each module with a residual sum.

    The convolution module is pointwise convolution + GLU, depthwise convolution of
    ``conv_kernel`` tokens, batch norm, swish, pointwise convolution. It gives the
    block its sense of order, so no positional encoding is added.

    Args:
        x: Tensor ``(batch, tokens, dim)``.
        params: :class:`ecg.models.params.ConformerParams`.

    Output shape:
        ``(batch, tokens, dim)``.
    """
    x = half_step_feed_forward(x, params)
    y = layers.LayerNormalization()(x)
    y = layers.MultiHeadAttention(params.num_heads, params.dim // params.num_heads,
                                  dropout=params.dropout)(y, y)
    x = blocks.add_residual(x, y)
    y = layers.LayerNormalization()(x)
    # GLU as two dense halves: Dense(activation="glu") would report twice its output width
    y = layers.Multiply()([layers.Dense(params.dim)(y), layers.Dense(params.dim, activation="sigmoid")(y)])
    y = blocks.conv_norm_act(y, params.dim, params.conv_kernel, depthwise=True, norm_kind="batch",
                             activation_name="silu")
    y = blocks.apply_dropout(layers.Dense(params.dim)(y), params.dropout)
    x = blocks.add_residual(x, y)
    x = half_step_feed_forward(x, params)
    return layers.LayerNormalization()(x)


def conformer(inputs, params, num_classes, task="classification"):
    """Conformer: strided convolution subsampling into tokens, then Conformer blocks.

    For segmentation the tokens are up-sampled back by ``patch_size`` before the
    per-sample head, so the input length must be a multiple of ``patch_size``.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``.
        params: :class:`ecg.models.params.ConformerParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"classification"`` or ``"segmentation"``.

    Input shape:
        ``(batch, steps, channels)``; ``steps`` may be variable.

    Output shape:
        ``(batch, num_classes)`` or ``(batch, steps, num_classes)``.

    Example:
        >>> import keras
        >>> net = conformer(keras.Input((64, 1)), {"dim": 8, "depth": 1}, 2, task="segmentation")
        >>> net.output_shape
        (None, 64, 2)
    """
    params = architecture_params("conformer", params, task)
    if task == "segmentation":
        check_steps("conformer", inputs.shape[1], multiple=params.patch_size)
    x = blocks.conv(inputs, params.dim, params.patch_size, strides=params.patch_size)
    for _ in range(params.depth):
        x = conformer_block(x, params)
    return blocks.head_model(inputs, x, params, num_classes, task, "conformer", upsampling=params.patch_size)
