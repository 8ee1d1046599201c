"""Plain dense network (``fc``): the simplest baseline of the zoo."""
from keras import layers

from ecg.models import blocks
from ecg.models.factory import architecture_params, check_steps


def fc(inputs, params, num_classes, task="classification"):
    """Dense layers over the whole window (classification) or over each sample (segmentation).

    Classification flattens the ``steps x channels`` window into one vector, so the
    window length must be fixed. Segmentation applies the same dense layers to the
    ``channels`` values of every sample.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``.
        params: :class:`ecg.models.params.FcParams` (or a dict of its keys).
        num_classes: Number of classes.
        task: ``"classification"`` or ``"segmentation"``.

    Input shape:
        ``(batch, steps, channels)``: ``steps`` samples of ``channels`` leads.

    Output shape:
        ``(batch, num_classes)`` or ``(batch, steps, num_classes)``.

    Parameter count (classification): with ``n0 = steps * channels`` and hidden units
    ``n1 ... nk``: ``sum(n[i-1] * n[i] + n[i]) + nk * num_classes + num_classes``.

    Example:
        >>> import keras
        >>> net = fc(keras.Input((100, 1)), {"units": [8]}, 3)
        >>> net.count_params() == 100 * 8 + 8 + 8 * 3 + 3
        True
    """
    params = architecture_params("fc", params, task)
    x = inputs
    if task == "classification":
        check_steps("fc", inputs.shape[1], fixed=True)
        x = layers.Flatten()(x)
    for units in params.units:
        x = blocks.apply_dropout(layers.Dense(units, activation=params.activation)(x), params.dropout)
    return blocks.head_model(inputs, x, params, num_classes, task, "fc")

