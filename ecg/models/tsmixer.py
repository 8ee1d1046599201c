"""TSMixer (``tsmixer``): an all-MLP network for time series.

Chen et al., "TSMixer: An All-MLP Architecture for Time Series Forecasting", TMLR 2023.
"""
from keras import layers

from ecg.models import blocks
from ecg.models.factory import architecture_params, check_steps


def mixer_block(x, params):
    """Time mixing then channel (feature) mixing, each normalized and residual.

    Time mixing applies one dense layer of ``steps`` units along time to every channel
    (shared across channels); channel mixing is a two-layer MLP applied to every step.

    Args:
        x: Tensor ``(batch, steps, channels)`` with a fixed ``steps``.
        params: :class:`ecg.models.params.TsMixerParams`.

    Output shape:
        ``(batch, steps, channels)``.
    """
    steps = x.shape[1]
    y = layers.Permute((2, 1))(blocks.norm(x, params.norm))
    y = blocks.apply_dropout(layers.Dense(steps, activation=params.activation)(y), params.dropout)
    x = blocks.add_residual(x, layers.Permute((2, 1))(y))
    y = blocks.feed_forward(blocks.norm(x, params.norm), params.ff_dim, params.activation,
                            params.dropout)
    return blocks.add_residual(x, y)


def tsmixer(inputs, params, num_classes, task="classification"):
    """TSMixer: optional input projection, mixer blocks, the head.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``; ``steps`` fixed.
        params: :class:`ecg.models.params.TsMixerParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"classification"`` or ``"segmentation"``.

    Input shape:
        ``(batch, steps, channels)``; the time-mixing layers have ``steps x steps``
        weights, so keep windows short (a few hundred samples).

    Output shape:
        ``(batch, num_classes)`` or ``(batch, steps, num_classes)``.

    Example:
        >>> import keras
        >>> net = tsmixer(keras.Input((32, 2)), {"dim": 4, "depth": 1}, 3, task="segmentation")
        >>> net.output_shape
        (None, 32, 3)
    """
    params = architecture_params("tsmixer", params, task)
    check_steps("tsmixer", inputs.shape[1], fixed=True)
    x = inputs if params.dim is None else layers.Dense(params.dim)(inputs)
    for _ in range(params.depth):
        x = mixer_block(x, params)
    return blocks.head_model(inputs, x, params, num_classes, task, "tsmixer")
