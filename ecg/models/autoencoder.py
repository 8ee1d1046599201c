"""Convolutional autoencoder (``autoencoder``): a bottleneck between an encoder and a decoder.

Reconstruction-based anomaly detection (e.g. Chalapathy & Chawla, "Deep Learning for
Anomaly Detection: A Survey", arXiv:1901.03407, 2019): trained to reproduce normal
beats through a small latent vector, the network reproduces unusual beats worse.
"""
from keras import layers

from ecg.models import blocks
from ecg.models.factory import architecture_params, check_steps


def autoencoder(inputs, params, num_classes, task="segmentation"):
    """Encoder (convolution + pooling per level), a dense bottleneck, a mirrored decoder.

    Args:
        inputs: ``keras.Input`` of shape ``(batch, steps, channels)``, ``steps`` fixed.
        params: :class:`ecg.models.params.AutoencoderParams` (or a dict of its keys).
        num_classes: Output channels per sample (the input's channels, to reconstruct it).
        task: ``"segmentation"`` (one output row per input sample) only.

    Input shape:
        ``(batch, steps, channels)``, ``steps`` a multiple of ``pool_size ** len(filters)``.

    Output shape:
        ``(batch, steps, num_classes)``.

    Example:
        >>> import keras
        >>> net = autoencoder(keras.Input((64, 2)), {"filters": [4, 8], "latent": 3}, 2)
        >>> net.output_shape, net.get_layer("latent").output.shape
        ((None, 64, 2), (None, 3))
    """
    params = architecture_params("autoencoder", params, task, supported=("segmentation",))
    check_steps("autoencoder", inputs.shape[1], multiple=params.pool_size ** len(params.filters), fixed=True)
    x = inputs
    for filters in params.filters:
        x = blocks.conv_norm_act(x, filters, params.kernel_size, norm_kind=params.norm,
                                 activation_name=params.activation)
        x = blocks.pool(x, params.pool_size)
    shape = tuple(x.shape[1:])
    x = layers.Dense(params.latent, name="latent")(layers.Flatten()(x))
    x = layers.Reshape(shape)(layers.Dense(shape[0] * shape[1], activation=params.activation)(x))
    for filters in reversed(params.filters):
        x = blocks.upsample(x, params.pool_size)
        x = blocks.conv_norm_act(x, filters, params.kernel_size, norm_kind=params.norm,
                                 activation_name=params.activation)
    return blocks.head_model(inputs, x, params, num_classes, task, "autoencoder")
