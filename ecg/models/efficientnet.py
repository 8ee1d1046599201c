"""EfficientNetV2 (``efficientnet``), 1-D.

Tan and Le, "EfficientNetV2: Smaller Models and Faster Training", ICML 2021.
"""
import keras

from ecg.models import blocks
from ecg.models.factory import check_task, model_factory


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
    params = model_factory.validate_params("efficientnet", params)
    check_task("efficientnet", task, ("classification",))
    x = blocks.conv_norm_act(inputs, params.stem_filters, params.stem_kernel, params.stem_strides,
                             norm_kind=params.norm, activation_name=params.activation)
    for stage in params.stages:
        for index in range(stage.depth):
            x = blocks.mbconv(x, stage.filters, stage.kernel_size,
                              strides=stage.strides if index == 0 else 1,
                              expand_ratio=stage.expand_ratio, se_ratio=stage.se_ratio,
                              fused=stage.fused, norm_kind=params.norm,
                              activation_name=params.activation)
    if params.head_filters:
        x = blocks.conv_norm_act(x, params.head_filters, 1, norm_kind=params.norm,
                                 activation_name=params.activation)
    outputs = blocks.output_head(x, num_classes, task, params.output_activation, params.head_dropout)
    return keras.Model(inputs, outputs, name="efficientnet")
