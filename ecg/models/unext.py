"""U-NeXt (``unext``): a 1-D U-Net with MBConv + squeeze-excite encoder levels."""
from ecg.models import blocks
from ecg.models.factory import architecture_params, check_steps
from ecg.models.unet import encoder_decoder


def unext(inputs, params, num_classes, task="segmentation"):
    """U-NeXt for per-sample segmentation (classification also works).

    Each encoder level projects to its channels with a pointwise convolution and runs
    ``depth`` MBConv blocks with squeeze-excite; each decoder level fuses the
    up-sampled features and the skip connection with a pointwise convolution and one
    MBConv block.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, leads)``.
        params: :class:`ecg.models.params.UnextParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"segmentation"`` or ``"classification"``.

    Input shape:
        ``(batch, steps, leads)``, ``steps`` a multiple of
        ``pool_size ** (len(filters) - 1)`` samples (may be variable).

    Output shape:
        ``(batch, steps, num_classes)`` or ``(batch, num_classes)``.

    Example:
        >>> import keras
        >>> net = unext(keras.Input((64, 1)), {"filters": [4, 8]}, 3)
        >>> net.output_shape
        (None, 64, 3)
    """
    params = architecture_params("unext", params, task)
    check_steps("unext", inputs.shape[1], multiple=params.pool_size ** (len(params.filters) - 1))

    def level(x, filters, depth):
        x = blocks.conv_norm_act(x, filters, 1, norm_kind=params.norm,
                                 activation_name=params.activation)
        for _ in range(depth):
            x = blocks.mbconv(x, filters, params.kernel_size, expand_ratio=params.expand_ratio,
                              se_ratio=params.se_ratio, norm_kind=params.norm,
                              activation_name=params.activation)
        return blocks.apply_dropout(x, params.dropout)

    x = encoder_decoder(inputs, params.filters, params.pool_size,
                        lambda x, filters: level(x, filters, params.depth),
                        lambda x, filters: level(x, filters, 1))
    return blocks.head_model(inputs, x, params, num_classes, task, "unext")
