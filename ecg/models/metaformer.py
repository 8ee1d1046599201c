"""MetaFormer (``metaformer``), 1-D, with pooling or attention token mixers.

Yu et al., "MetaFormer Is Actually What You Need for Vision", CVPR 2022.
"""
import math

from keras import layers

from ecg.models import blocks
from ecg.models.factory import architecture_params, check_steps


def token_mixer(x, mixer, params):
    """Mix information across tokens.

    ``"pooling"`` (PoolFormer): ``AvgPool(x) - x`` with a window of ``pool_size``
    tokens and stride 1. ``"attention"``: multi-head self-attention.

    Output shape:
        Same as ``x``: ``(batch, tokens, dim)``.
    """
    if mixer == "pooling":
        pooled = layers.AveragePooling1D(params.pool_size, strides=1, padding="same")(x)
        return layers.Subtract()([pooled, x])
    dim = x.shape[-1]
    return layers.MultiHeadAttention(params.num_heads, max(1, dim // params.num_heads),
                                     dropout=params.dropout)(x, x)


def metaformer_block(x, mixer, params):
    """``x + TokenMixer(Norm(x))`` then ``x + MLP(Norm(x))``, on ``(batch, tokens, dim)``."""
    x = blocks.add_residual(x, token_mixer(layers.LayerNormalization()(x), mixer, params))
    y = blocks.feed_forward(layers.LayerNormalization()(x), x.shape[-1] * params.mlp_ratio,
                            params.activation, params.dropout)
    return blocks.add_residual(x, y)


def metaformer(inputs, params, num_classes, task="classification"):
    """MetaFormer: stages of a strided patch embedding and MetaFormer blocks.

    For segmentation the last stage's tokens are up-sampled back by the product of
    the ``patch_size`` of all stages, which the input length must be a multiple of.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``.
        params: :class:`ecg.models.params.MetaFormerParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"classification"`` or ``"segmentation"``.

    Input shape:
        ``(batch, steps, channels)``; ``steps`` may be variable.

    Output shape:
        ``(batch, num_classes)`` or ``(batch, steps, num_classes)``.

    Example:
        >>> import keras
        >>> net = metaformer(keras.Input((64, 1)), {"stages": [{"dim": 8}]}, 2)
        >>> net.output_shape
        (None, 2)
    """
    params = architecture_params("metaformer", params, task)
    factor = math.prod(stage.patch_size for stage in params.stages)
    if task == "segmentation":
        check_steps("metaformer", inputs.shape[1], multiple=factor)
    x = inputs
    for stage in params.stages:
        x = blocks.conv(x, stage.dim, stage.patch_size, strides=stage.patch_size)
        for _ in range(stage.depth):
            x = metaformer_block(x, stage.mixer, params)
    x = layers.LayerNormalization()(x)
    return blocks.head_model(inputs, x, params, num_classes, task, "metaformer", upsampling=factor)
