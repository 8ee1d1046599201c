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
compresses into a few int8 steps of the clipped scores, so that rounding would move many
CinC 2017 windows across them. So the trees get an input of their own,
``tree_features``, computed on the host from the same raw features: for each run of a
feature's thresholds, how many of them lie below the value (:func:`threshold_levels`).
Those counts are small integers, which int8 holds exactly, and each split compares one
with ``k + 1/2``: the trees decide in int8 as in float. Their leaf values become the
constant weights of two ``Dense`` layers (:func:`ecg.models.trees.leaf_logits`), which
int8 quantizes per class.
"""
import numpy as np

FEATURE_LAYERS = ("feature_norm", "feature_clip_in", "feature_clip", "feature_clip_out")


def split_feature_transform(network):
    """The network without its feature standardisation and clip, and the host transforms.

    Parameters
    ----------
    network : keras.Model

    Returns
    -------
    tuple
        ``(network, {})`` when the network has none of the feature layers, else a new
        network with copies of every other layer (and of its weights) and ``{input name:
        transform}``: ``"features"`` -> ``{"mean": [...], "std": [...], "clip": float}``
        (keys of the steps it had); with trees, also ``"tree_features"`` -> ``{"from":
        "features", "thresholds": [[j, [...]], ...]}`` (the new input of the trees, see
        :func:`threshold_levels`).
    """
    import keras

    layers = {layer.name: layer for layer in network.layers}
    if "trees" in layers and isinstance(layers.get("network"), keras.Model):
        return _split_blended(network, layers)
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


LEVELS = 100
"""Thresholds per column of ``tree_features``: its values are counts of thresholds in
``[0, LEVELS]``, whose int8 step (``LEVELS / 255``) and the step of the thresholds'
constant (about the same) together stay under 1/2, so that each count and each
``k + 1/2`` quantize to the sides of each other they are on in float."""


def _split_blended(network, layers):
    """:func:`split_feature_transform` of a network with boosted trees (:func:`ecg.models.trees.blended`)."""
    import keras

    from ecg.models.trees import WEIGHT_NAMES, leaf_logits, tree_ensemble_class

    inner, transforms = split_feature_transform(layers["network"])
    if not transforms:
        return network, {}
    trees = layers["trees"]
    shapes = {key: trees.get_config()[key] for key in ("n_trees", "n_nodes", "n_leaves", "n_features",
                                                       "n_classes", "n_outputs")}
    weights = dict(zip(WEIGHT_NAMES, trees.get_weights()))
    tree_transform, weights["feature"], weights["threshold"] = threshold_levels(
        weights["feature"], weights["threshold"], weights["paths"], shapes["n_features"])
    shapes["n_features"] = len(tree_transform["thresholds"])
    # unused leaves: lefts beyond any score, but small (models saved before 2026-12-03 hold 1e9,
    # which makes the int8 scale of the comparison so coarse that no leaf is reached)
    weights["lefts"] = np.minimum(weights["lefts"], shapes["n_nodes"] + 1).astype(np.float32)

    names = [t.name.split(":")[0] for t in inner.inputs]
    inputs = [keras.Input(tuple(t.shape[1:]), name=name) for t, name in zip(inner.inputs, names)]
    tree_input = keras.Input((shapes["n_features"],), name="tree_features")
    out = keras.Model(inner.inputs, inner.outputs[0], name="network")(inputs)
    # the trees' leaves, then their values as constant Dense weights (see leaf_logits)
    leaves = tree_ensemble_class()(**shapes, returns="leaves", name="trees")(tree_input)
    fine, coarse, bias = leaf_logits(weights)
    fine_layer = keras.layers.Dense(fine.shape[1], name="tree_leaves_fine")
    coarse_layer = keras.layers.Dense(fine.shape[1], use_bias=False, name="tree_leaves_coarse")
    logits = keras.layers.Add(name="tree_logits")([fine_layer(leaves), coarse_layer(leaves)])
    tree_out = keras.layers.Softmax(name="tree_probabilities")(logits)
    weight = float(layers["trees_share"].scale)
    net_part = keras.layers.Rescaling(1.0 - weight, name="network_share")(out)
    tree_part = keras.layers.Rescaling(weight, name="trees_share")(tree_out)
    cut = keras.Model(inputs + [tree_input], keras.layers.Add(name="blend")([net_part, tree_part]), name="blended")
    cut.get_layer("trees").set_weights([weights[name] for name in WEIGHT_NAMES])
    fine_layer.set_weights([fine, bias])
    coarse_layer.set_weights([coarse])
    return cut, {**transforms, "tree_features": tree_transform}


def threshold_levels(feature, threshold, paths, n_features, levels=LEVELS):
    """The trees' splits re-coded on threshold counts: exact under int8.

    A tree only asks of feature ``j`` whether ``x <= t`` for its thresholds ``t``. With
    ``T`` the distinct thresholds of ``j``, sorted, ``x <= T[k]`` exactly when fewer than
    ``k + 1`` of them lie below ``x``: ``count(T < x) <= k``. So ``tree_features`` carries,
    per column, that count over a run of at most ``levels`` thresholds of one feature
    (a feature with more gets several columns), and each split compares its column with
    ``k + 1/2``. Counts are small integers, so int8 rounding cannot move a record across
    a split (see :data:`LEVELS`).

    Parameters
    ----------
    feature, threshold : numpy.ndarray
        ``(n_trees, n_nodes)``: the feature index and threshold of each split.
    paths : numpy.ndarray
        ``(n_trees, n_leaves, n_nodes)``: which splits exist (a split no leaf's way uses is padding).
    n_features : int

    Returns
    -------
    tuple
        ``(transform, feature, threshold)``: the ``tree_features`` transform ``{"from":
        "features", "thresholds": [[feature j, [t, ...]], ...]}`` (one entry per column),
        and the splits' new column indices and thresholds, float32.
    """
    feature = np.asarray(feature).astype(np.int64)
    threshold = np.asarray(threshold, np.float32)
    used = np.abs(np.asarray(paths)).sum(axis=1) > 0
    columns, new_feature = [], np.zeros(feature.shape, np.float32)
    new_threshold = np.zeros(feature.shape, np.float32)
    for j in range(n_features):
        at = used & (feature == j)
        distinct = np.unique(threshold[at])
        first = len(columns)
        for start in range(0, len(distinct), levels):
            columns.append([j, distinct[start:start + levels].astype(np.float64).tolist()])
        k = np.searchsorted(distinct, threshold[at])
        new_feature[at] = first + k // levels
        new_threshold[at] = k % levels + 0.5
    if not columns:                                            # trees of stumps that never split
        columns.append([0, []])
    return {"from": "features", "thresholds": columns}, new_feature, new_threshold


def calibration_pins(windows, transforms):
    """Calibration windows with two more, whose threshold counts are 0 and :data:`LEVELS`.

    The int8 scale of ``tree_features`` then spans ``[0, LEVELS]`` whatever counts the
    calibration records reach (a count beyond the calibrated range would saturate and
    cross a split). The other inputs of the two extra windows repeat the first window.

    Parameters
    ----------
    windows : dict
        ``{input name: (n, ...) float32 array}`` of the cut network.
    transforms : dict
        From :func:`split_feature_transform`.
    """
    pinned = {}
    for name, array in windows.items():
        if "thresholds" in transforms.get(name, {}):
            extra = np.stack([np.zeros(array.shape[1:]), np.full(array.shape[1:], LEVELS)])
        else:
            extra = np.repeat(array[:1], 2, axis=0)
        pinned[name] = np.concatenate([array, extra.astype(array.dtype)])
    return pinned


def apply_feature_transform(features, transform):
    """Raw features -> what a cut network takes (see the module docstring).

    Examples
    --------
    >>> apply_feature_transform(np.array([[3.0, 100.0]]), {"mean": [1.0, 0.0], "std": [2.0, 1.0], "clip": 4.0}).round(3)
    array([[0.98, 4.  ]], dtype=float32)
    """
    if "thresholds" in transform:                               # threshold counts (threshold_levels)
        x = np.asarray(features, np.float32)
        return np.stack([np.searchsorted(np.asarray(t, np.float32), x[:, j], side="left")
                         for j, t in transform["thresholds"]], axis=1).astype(np.float32)
    x = np.asarray(features, np.float64)
    if "mean" in transform:
        x = (x - np.asarray(transform["mean"])) / np.asarray(transform["std"])
    if "clip" in transform:
        x = transform["clip"] * np.tanh(x / transform["clip"])
    return x.astype(np.float32)
