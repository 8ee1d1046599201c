"""U-Net (``unet``), 1-D over time or 2-D over time and leads.

Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015.
"""
from keras import layers

from ecg.models import blocks
from ecg.models.factory import architecture_params, check_steps


def encoder_decoder(x, filters, pool_size, encode, decode):
    """The U shape shared by U-Net and U-NeXt.

    Level ``i`` (from the top) runs ``encode(x, filters[i])``, keeps the result as a
    skip connection and down-samples by ``pool_size``; the bottom level only encodes.
    Going up, each level up-samples, concatenates the skip connection and runs
    ``decode(x, filters[i])``.

    Args:
        x: Tensor ``(batch, steps, channels)`` or ``(batch, steps, width, channels)``.
        filters: Channels of each level, top first.
        pool_size: Down- and up-sampling factor over time, in samples.
        encode: ``encode(x, filters) -> x`` at full resolution of its level.
        decode: ``decode(x, filters) -> x`` after the concatenation.

    Output shape:
        ``(batch, steps, [width,] filters[0])``.
    """
    skips = []
    for level_filters in filters[:-1]:
        x = encode(x, level_filters)
        skips.append(x)
        x = blocks.pool(x, pool_size)
    x = encode(x, filters[-1])
    for level_filters, skip in zip(reversed(filters[:-1]), reversed(skips)):
        x = blocks.upsample(x, pool_size)
        x = layers.Concatenate()([x, skip])
        x = decode(x, level_filters)
    return x


def unet(inputs, params, num_classes, task="segmentation"):
    """U-Net for per-sample segmentation (classification also works).

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, leads)``.
        params: :class:`ecg.models.params.UnetParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"segmentation"`` or ``"classification"``.

    Input shape:
        ``(batch, steps, leads)``, ``steps`` a multiple of
        ``pool_size ** (len(filters) - 1)`` samples (may be variable).

    Output shape:
        ``(batch, steps, num_classes)`` or ``(batch, num_classes)``.

    Example:
        >>> import keras
        >>> net = unet(keras.Input((64, 2)), {"filters": [4, 8], "dims": 2}, 3)
        >>> net.output_shape
        (None, 64, 3)
    """
    params = architecture_params("unet", params, task)
    check_steps("unet", inputs.shape[1], multiple=params.pool_size ** (len(params.filters) - 1))
    kernel = params.kernel_size if params.dims == 1 else (params.kernel_size, params.lead_kernel)

    def conv_stack(x, filters, depth):
        for _ in range(depth):
            x = blocks.conv_norm_act(x, filters, kernel, separable=params.separable,
                                     norm_kind=params.norm, activation_name=params.activation)
        return blocks.apply_dropout(x, params.dropout)

    x = inputs if params.dims == 1 else layers.Reshape((-1, inputs.shape[2], 1))(inputs)
    x = encoder_decoder(x, params.filters, params.pool_size,
                        lambda x, filters: conv_stack(x, filters, params.down_depth),
                        lambda x, filters: conv_stack(x, filters, params.up_depth))
    return blocks.head_model(inputs, x, params, num_classes, task, "unet" if params.dims == 1 else "unet2d")
