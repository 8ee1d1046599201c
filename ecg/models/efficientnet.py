"""EfficientNetV2 (``efficientnet``), 1-D.

Tan and Le, "EfficientNetV2: Smaller Models and Faster Training", ICML 2021.
"""
from ecg.models import blocks
from ecg.models.factory import architecture_params


def efficientnet(inputs, params, num_classes, task="classification"):
    """EfficientNetV2: strided stem, fused and plain MBConv stages, pointwise head conv.

    The stages down-sample, so this is a classification network.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``.
        params: :class:`ecg.models.params.EfficientNetParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"classification"``.

    Input shape:
        ``(batch, steps, channels)``; ``steps`` may be variable.

    Output shape:
        ``(batch, num_classes)``.

    Example:
        >>> import keras
        >>> stages = [{"filters": 8, "fused": True}, {"filters": 8, "strides": 2, "se_ratio": 2}]
        >>> net = efficientnet(keras.Input((256, 1)), {"stages": stages, "stem_filters": 8}, 4)
        >>> net.output_shape
        (None, 4)
    """
    params = architecture_params("efficientnet", params, task, ("classification",))

    def mbconv(x, stage, strides):
        return blocks.mbconv(x, stage.filters, stage.kernel_size, strides=strides,
                             expand_ratio=stage.expand_ratio, se_ratio=stage.se_ratio,
                             fused=stage.fused, norm_kind=params.norm,
                             activation_name=params.activation)

    x = blocks.stages(blocks.stem(inputs, params), params.stages, mbconv)
    if params.head_filters:
        x = blocks.conv_norm_act(x, params.head_filters, 1, norm_kind=params.norm,
                                 activation_name=params.activation)
    return blocks.head_model(inputs, x, params, num_classes, task, "efficientnet")
