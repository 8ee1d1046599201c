"""The feature input of an int8 export: standardised and soft-clipped on the host.

A network with a feature input (:func:`ecg.models.fusion.with_feature_branch`) takes
raw RR/HRV features and standardises them inside (``feature_norm``), then soft-clips
them (``feature_clip_in`` -> ``feature_clip`` -> ``feature_clip_out``:
``clip * tanh(z / clip)``). Raw features span four orders of magnitude (RR intervals
in seconds beside sample entropies and counts), and an int8 input has one scale for the
whole vector: most features would round to zero. So the int8 export cuts these layers
off the network: its feature input takes the clipped standard scores, bounded by
``±clip``, which the sidecar's ``transform`` of that input describes and
:mod:`ecg.export.runtime` applies before quantizing::

    z = (x - mean) / std;  z = clip * tanh(z / clip)
"""
import numpy as np

FEATURE_LAYERS = ("feature_norm", "feature_clip_in", "feature_clip", "feature_clip_out")


def split_feature_transform(network):
    """The network without its feature standardisation and clip, and that transform.

    Returns
    -------
    tuple
        ``(network, None)`` when the network has none of the feature layers, else a
        new network with copies of every other layer (and of its weights) and the transform
        ``{"mean": [...], "std": [...], "clip": float}`` (keys of the steps it had).
    """
    import keras

    layers = {layer.name: layer for layer in network.layers}
    if not set(FEATURE_LAYERS) & set(layers):
        return network, None
    transform = {}
    if "feature_norm" in layers:
        norm = layers["feature_norm"]
        transform["mean"] = np.asarray(norm.mean, np.float64).reshape(-1).tolist()
        transform["std"] = np.maximum(np.sqrt(np.asarray(norm.variance, np.float64)),
                                      keras.backend.epsilon()).reshape(-1).tolist()
    if "feature_clip_out" in layers:
        transform["clip"] = float(layers["feature_clip_out"].scale)

    def call(layer, *args, **kwargs):
        return args[0] if layer.name in FEATURE_LAYERS else layer(*args, **kwargs)

    cut = keras.models.clone_model(network, call_function=call)
    for layer in cut.layers:
        if layer.name in layers and layer.weights:
            layer.set_weights(layers[layer.name].get_weights())
    return cut, transform


def apply_feature_transform(features, transform):
    """Raw features -> what a cut network takes (see the module docstring).

    Examples
    --------
    >>> apply_feature_transform(np.array([[3.0, 100.0]]), {"mean": [1.0, 0.0], "std": [2.0, 1.0], "clip": 4.0}).round(3)
    array([[0.98, 4.  ]], dtype=float32)
    """
    x = np.asarray(features, np.float64)
    if "mean" in transform:
        x = (x - np.asarray(transform["mean"])) / np.asarray(transform["std"])
    if "clip" in transform:
        x = transform["clip"] * np.tanh(x / transform["clip"])
    return x.astype(np.float32)
