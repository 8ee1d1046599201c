"""Temporal convolutional network (``tcn``).

Lea et al., "Temporal Convolutional Networks: A Unified Approach to Action
Segmentation", ECCV Workshops 2016; Bai et al., "An Empirical Evaluation of Generic
Convolutional and Recurrent Networks for Sequence Modeling", arXiv:1803.01271, 2018.
"""
from ecg.errors import ConfigError
from ecg.models import blocks
from ecg.models.factory import architecture_params


def tcn_block(x, block, padding, norm_kind, activation_name):
    """One residual TCN block (see :class:`ecg.models.params.TcnBlock`).

    Two dilated convolutions, each followed by normalization and activation, then
    squeeze-excite, dropout and a residual sum (through a 1x1 convolution when the
    channels change).

    Args:
        x: Tensor ``(batch, steps, channels)``.
        block: A :class:`~ecg.models.params.TcnBlock`.
        padding: ``"causal"`` or ``"same"``.
        norm_kind: Normalization, unless the block sets its own.
        activation_name: Activation after each convolution.

    Output shape:
        ``(batch, steps, block.filters)``.
    """
    norm_kind = block.norm or norm_kind
    residual = blocks.shortcut(x, block.filters, norm_kind=norm_kind)
    for _ in range(2):
        x = blocks.conv_norm_act(x, block.filters, block.kernel_size, dilation=block.dilation,
                                 padding=padding, separable=block.separable, norm_kind=norm_kind,
                                 activation_name=activation_name)
    x = blocks.apply_dropout(blocks.squeeze_excite(x, block.se_ratio, activation_name), block.dropout)
    return blocks.add_residual(x, residual)


def tcn(inputs, params, num_classes, task="classification"):
    """Temporal convolutional network: input convolution and residual dilated blocks.

    The time resolution is kept throughout, so it does both classification and
    per-sample segmentation, on inputs of any length. The receptive field is
    ``input_kernel + sum(2 * depth * (kernel_size - 1) * dilation)`` samples.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``.
        params: :class:`ecg.models.params.TcnParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"classification"`` or ``"segmentation"``.

    Input shape:
        ``(batch, steps, channels)``; ``steps`` may be variable.

    Output shape:
        ``(batch, num_classes)`` or ``(batch, steps, num_classes)``.

    Example:
        >>> import keras
        >>> net = tcn(keras.Input((None, 1)), {"blocks": [{"filters": 4, "dilation": 2}]}, 2,
        ...           task="segmentation")
        >>> net.output_shape
        (None, None, 2)
    """
    params = architecture_params("tcn", params, task)
    if params.causal and any(block.se_ratio for block in params.blocks):
        raise ConfigError(
            "architecture 'tcn': squeeze-excite averages over the whole window, so a causal TCN "
            "cannot use it; set se_ratio=0 in every block when causal=True"
        )
    padding = "causal" if params.causal else "same"
    x = blocks.conv_norm_act(inputs, params.input_filters, params.input_kernel, padding=padding,
                             norm_kind=params.norm, activation_name=params.activation)
    for block in params.blocks:
        for _ in range(block.depth):
            x = tcn_block(x, block, padding, params.norm, params.activation)
    return blocks.head_model(inputs, x, params, num_classes, task, "tcn")
