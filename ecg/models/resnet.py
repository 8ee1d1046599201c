"""ResNet (``resnet``), 1-D, with basic or bottleneck blocks.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
"""
from ecg.models import blocks
from ecg.models.factory import architecture_params


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
    params = architecture_params("resnet", params, task, ("classification",))
    x = blocks.stem(inputs, params)
    if params.stem_pool:
        x = blocks.pool(x, 2)
    x = blocks.stages(x, params.stages,
                      lambda x, stage, strides: residual_block(x, stage.filters, strides, params))
    return blocks.head_model(inputs, x, params, num_classes, task, "resnet")
