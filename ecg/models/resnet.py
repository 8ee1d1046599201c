"""ResNet (``resnet``), 1-D, with basic or bottleneck blocks.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
"""
import keras

from ecg.models import blocks
from ecg.models.factory import check_task, model_factory


def residual_block(x, filters, strides, params):
    """One basic (kxk, kxk) or bottleneck (1x1, kxk, 1x1) residual block.

    Args:
        x: Tensor ``(batch, steps, channels)``.
        filters: Output channels.
        strides: Stride of the block, in samples (on its kxk convolution).
        params: :class:`ecg.models.params.ResnetParams`.

    Output shape:
        ``(batch, ceil(steps / strides), filters)``.
    """
    residual = blocks.shortcut(x, filters, strides, params.norm)
    if params.block == "basic":
        kernels, widths, stride_at = (params.kernel_size, params.kernel_size), (filters, filters), 0
    else:
        inner = max(1, filters // params.bottleneck_ratio)
        kernels, widths, stride_at = (1, params.kernel_size, 1), (inner, inner, filters), 1
    for index, (kernel, width) in enumerate(zip(kernels, widths)):
        last = index == len(kernels) - 1
        x = blocks.conv_norm_act(x, width, kernel, strides if index == stride_at else 1,
                                 norm_kind=params.norm,
                                 activation_name="linear" if last else params.activation)
    return blocks.activation(blocks.add_residual(x, residual), params.activation)


def resnet(inputs, params, num_classes, task="classification"):
    """1-D ResNet: stem convolution (and max-pool), residual stages, classification head.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``.
        params: :class:`ecg.models.params.ResnetParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"classification"``.

    Input shape:
        ``(batch, steps, channels)``; ``steps`` may be variable.

    Output shape:
        ``(batch, num_classes)``.

    Example:
        >>> import keras
        >>> net = resnet(keras.Input((256, 1)), {"stages": [{"filters": 8}], "block": "bottleneck"}, 2)
        >>> net.output_shape
        (None, 2)
    """
    params = model_factory.validate_params("resnet", params)
    check_task("resnet", task, ("classification",))
    x = blocks.conv_norm_act(inputs, params.stem_filters, params.stem_kernel, params.stem_strides,
                             norm_kind=params.norm, activation_name=params.activation)
    if params.stem_pool:
        x = blocks.pool(x, 2)
    for stage in params.stages:
        for index in range(stage.depth):
            x = residual_block(x, stage.filters, stage.strides if index == 0 else 1, params)
    outputs = blocks.output_head(x, num_classes, task, params.output_activation, params.head_dropout)
    return keras.Model(inputs, outputs, name="resnet")
