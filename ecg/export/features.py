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

Boosted trees blended into the network (:mod:`ecg.models.trees`) split the raw
features at thresholds that often lie in their long tails, which the soft clip
compresses into a few int8 steps of the clipped scores, so that rounding moves many
CinC 2017 windows across them. So the trees get an input of their own,
``tree_features``, computed on the host from the same raw features: each feature's rank
among the calibration windows' (a piecewise-linear map through its quantiles, into
[0, 1], continued beyond them), where an int8 step moves a record by about 1/255 of the records; the trees'
thresholds go through the same increasing map, so in float the decisions are unchanged.
"""
import numpy as np

FEATURE_LAYERS = ("feature_norm", "feature_clip_in", "feature_clip", "feature_clip_out")


def split_feature_transform(network, features=None):
    """The network without its feature standardisation and clip, and the host transforms.

    Parameters
    ----------
    network : keras.Model
    features : numpy.ndarray, optional
        Raw features of calibration windows ``(n, n_features)``: needed for a network with
        boosted trees, whose ``tree_features`` input maps features through their quantiles.

    Returns
    -------
    tuple
        ``(network, {})`` when the network has none of the feature layers, else a new
        network with copies of every other layer (and of its weights) and ``{input name:
        transform}``: ``"features"`` -> ``{"mean": [...], "std": [...], "clip": float}``
        (keys of the steps it had); with trees, also ``"tree_features"`` -> ``{"from":
        "features", "quantiles": [[...], ...]}`` (the new input of the trees).
    """
    import keras

    layers = {layer.name: layer for layer in network.layers}
    if "trees" in layers and isinstance(layers.get("network"), keras.Model):
        return _split_blended(network, layers, features)
    if not set(FEATURE_LAYERS) & set(layers):
        return network, {}
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
    return cut, {"features": transform}


QUANTILES = 257
"""Points of the quantile map of ``tree_features`` (256 steps, one per int8 level)."""


def _split_blended(network, layers, features):
    """:func:`split_feature_transform` of a network with boosted trees (:func:`ecg.models.trees.blended`)."""
    import keras

    from ecg.errors import ConfigError
    from ecg.models.trees import WEIGHT_NAMES, tree_ensemble_class

    inner, transforms = split_feature_transform(layers["network"])
    if not transforms:
        return network, {}
    if features is None or len(features) < 2:
        raise ConfigError("an int8 export of a network with boosted trees needs calibration features "
                          "(the trees' input maps each feature through its quantiles)")
    trees = layers["trees"]
    shapes = {key: trees.get_config()[key] for key in ("n_trees", "n_nodes", "n_leaves", "n_features",
                                                       "n_classes", "n_outputs")}
    quantiles = np.quantile(np.asarray(features, np.float64), np.linspace(0, 1, QUANTILES), axis=0).T
    tree_transform = {"from": "features", "quantiles": quantiles.tolist()}
    weights = dict(zip(WEIGHT_NAMES, trees.get_weights()))
    feature = weights["feature"].astype(np.int64)
    threshold = np.asarray(weights["threshold"], np.float64)
    mapped = np.empty_like(threshold)
    for j in range(quantiles.shape[0]):
        at = feature == j
        mapped[at] = _ranks(threshold[at], quantiles[j])
    weights["threshold"] = mapped.astype(np.float32)
    # unused leaves: lefts beyond any score, but small (models saved before 2026-12-03 hold 1e9,
    # which makes the int8 scale of the comparison so coarse that no leaf is reached)
    weights["lefts"] = np.minimum(weights["lefts"], shapes["n_nodes"] + 1).astype(np.float32)

    names = [t.name.split(":")[0] for t in inner.inputs]
    inputs = [keras.Input(tuple(t.shape[1:]), name=name) for t, name in zip(inner.inputs, names)]
    tree_input = keras.Input((shapes["n_features"],), name="tree_features")
    out = keras.Model(inner.inputs, inner.outputs[0], name="network")(inputs)
    tree_out = tree_ensemble_class()(**shapes, name="trees")(tree_input)
    weight = float(layers["trees_share"].scale)
    net_part = keras.layers.Rescaling(1.0 - weight, name="network_share")(out)
    tree_part = keras.layers.Rescaling(weight, name="trees_share")(tree_out)
    cut = keras.Model(inputs + [tree_input], keras.layers.Add(name="blend")([net_part, tree_part]), name="blended")
    cut.get_layer("trees").set_weights([weights[name] for name in WEIGHT_NAMES])
    return cut, {**transforms, "tree_features": tree_transform}


def _ranks(values, quantiles):
    """``values`` of one feature -> [0, 1] through its ``quantiles``, strictly increasing.

    Tied quantiles are jumped (the first of each run is kept). Beyond the quantiles, at a
    distance ``d`` of ``r = d / span`` spans, the map goes on as ``1 + r / (1 + r)`` (and
    ``-r / (1 + r)`` below): into (1, 2) and (-1, 0), so that values and thresholds
    outside the calibration range keep their order.
    """
    grid = np.asarray(quantiles, np.float64)
    levels = np.linspace(0.0, 1.0, len(grid))
    keep = np.r_[True, np.diff(grid) > 0]                       # ties: keep the first of each run
    grid, levels = grid[keep], levels[keep]
    span = grid[-1] - grid[0] if grid[-1] > grid[0] else max(abs(grid[0]), 1.0)
    v = np.asarray(values, np.float64)
    if len(grid) > 1:
        u = np.interp(v, grid, levels)
    else:
        u = np.zeros_like(v)
    above = np.maximum(v - grid[-1], 0) / span
    below = np.maximum(grid[0] - v, 0) / span
    return u + above / (1 + above) - below / (1 + below)


def apply_feature_transform(features, transform):
    """Raw features -> what a cut network takes (see the module docstring).

    Examples
    --------
    >>> apply_feature_transform(np.array([[3.0, 100.0]]), {"mean": [1.0, 0.0], "std": [2.0, 1.0], "clip": 4.0}).round(3)
    array([[0.98, 4.  ]], dtype=float32)
    """
    x = np.asarray(features, np.float64)
    if "quantiles" in transform:
        return np.stack([_ranks(x[:, j], q) for j, q in enumerate(transform["quantiles"])], axis=1).astype(np.float32)
    if "mean" in transform:
        x = (x - np.asarray(transform["mean"])) / np.asarray(transform["std"])
    if "clip" in transform:
        x = transform["clip"] * np.tanh(x / transform["clip"])
    return x.astype(np.float32)
