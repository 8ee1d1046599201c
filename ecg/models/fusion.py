"""A feature input beside the signal: learned and hand-made features in one network.

:func:`with_feature_branch` takes any classification network of the factory and
returns a two-input network: the signal goes through the architecture up to its
pooled features (the input of its ``logits`` layer), the per-record feature vector
(RR/HRV features, see :mod:`ecg.ops.hrv`) through a normalisation and a dense layer,
and both meet in a hidden dense layer before the output. The normalisation constants
are part of the saved network, so a deployment feeds raw features.
"""
import numpy as np

from ecg.errors import ConfigError


def with_feature_branch(network, n_features, mean=None, std=None, units=32, hidden=64, dropout=0.3, clip=4.0):
    """Add a feature input to a classification network.

    Args:
        network: A ``keras.Model`` from the factory, classification, with a ``logits``
            dense layer before its output activation.
        n_features: Length of the feature vector.
        mean, std: Per-feature mean and standard deviation (training set) used to
            standardise the features inside the network; ``None`` leaves them as given.
        units: Width of the dense layer on the features.
        hidden: Width of the dense layer on both (0: none).
        dropout: Dropout rate before the hidden layer.
        clip: Standardised features are soft-clipped to ``clip * tanh(z / clip)``: equal
            to ``z`` near 0, never beyond ``±clip`` (HRV features of a few records lie
            50 SD out); ``None`` leaves them as they are.

    Input shape:
        ``[(batch, steps, channels), (batch, n_features)]``.

    Output shape:
        ``(batch, num_classes)``, with the network's output activation.

    Raises:
        ConfigError: The network has no ``logits`` layer or is not a classifier, or the
            statistics do not have ``n_features`` values.

    Example:
        >>> from ecg.models.factory import build_network
        >>> net = build_network({"name": "cnn", "params": {"filters": [4]}}, (256, 1), 3)
        >>> with_feature_branch(net, 5).output_shape
        (None, 3)
    """
    import keras
    from keras import layers

    names = [layer.name for layer in network.layers]
    if "logits" not in names or len(network.output.shape) != 2:
        raise ConfigError(f"a feature input needs a classification network with a 'logits' layer; "
                          f"{network.name!r} has output shape {network.output.shape}")
    logits = network.get_layer("logits")
    activation = network.layers[-1].get_config().get("activation", "softmax")
    features = keras.Input((n_features,), name="features")
    f = features
    if mean is not None or std is not None:
        mean = np.zeros(n_features) if mean is None else np.asarray(mean, dtype=np.float64)
        std = np.ones(n_features) if std is None else np.asarray(std, dtype=np.float64)
        if mean.shape != (n_features,) or std.shape != (n_features,):
            raise ConfigError(f"feature statistics need {n_features} values each; got mean {mean.shape}, "
                              f"std {std.shape}")
        f = layers.Normalization(mean=mean, variance=np.maximum(std, 1e-6) ** 2, name="feature_norm")(f)
    if clip:
        f = layers.Rescaling(1.0 / clip, name="feature_clip_in")(f)
        f = layers.Activation("tanh", name="feature_clip")(f)
        f = layers.Rescaling(clip, name="feature_clip_out")(f)
    f = layers.Dense(units, activation="relu", name="feature_dense")(f)
    x = layers.Concatenate(name="fused")([logits.input, f])
    if dropout:
        x = layers.Dropout(dropout, name="fused_dropout")(x)
    if hidden:
        x = layers.Dense(hidden, activation="relu", name="fused_hidden")(x)
    x = layers.Dense(logits.units, name="fused_logits")(x)
    outputs = layers.Activation(activation, name="fused_probabilities")(x)
    return keras.Model([network.input, features], outputs, name=f"{network.name}_features")
