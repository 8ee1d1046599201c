"""Small CNN baseline (``cnn``): convolution stages with max-pooling."""
from ecg.errors import ConfigError
from ecg.models import blocks
from ecg.models.factory import architecture_params


def cnn(inputs, params, num_classes, task="classification"):
    """Stages of convolution, normalization, activation and max-pooling, then the head.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``.
        params: :class:`ecg.models.params.CnnParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"classification"``, or ``"segmentation"`` with ``pool_size=1``.

    Input shape:
        ``(batch, steps, channels)``; ``steps`` may be variable.

    Output shape:
        ``(batch, num_classes)`` or ``(batch, steps, num_classes)``.

    Parameter count (batch norm, classification): with ``c0 = channels`` and stage
    filters ``c1 ... ck``: ``sum(kernel_size * c[i-1] * c[i] + 4 * c[i]) + ck *
    num_classes + num_classes`` (batch norm holds 4 values per channel, 2 trainable).

    Example:
        >>> import keras
        >>> net = cnn(keras.Input((None, 1)), {"filters": [4], "kernel_size": 5}, 2)
        >>> net.count_params() == 5 * 1 * 4 + 4 * 4 + 4 * 2 + 2
        True
    """
    params = architecture_params("cnn", params, task)
    if task == "segmentation" and params.pool_size != 1:
        raise ConfigError(
            "architecture 'cnn' does segmentation only without pooling, which would shorten "
            f"the output; set pool_size=1. Received: pool_size={params.pool_size}"
        )
    x = inputs
    for filters in params.filters:
        x = blocks.conv_norm_act(x, filters, params.kernel_size, norm_kind=params.norm,
                                 activation_name=params.activation)
        if params.pool_size > 1:
            x = blocks.pool(x, params.pool_size)
        x = blocks.apply_dropout(x, params.dropout)
    return blocks.head_model(inputs, x, params, num_classes, task, "cnn")
