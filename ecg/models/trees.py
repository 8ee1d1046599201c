"""Boosted decision trees as a layer: a gradient-boosting model inside a Keras network.

Hand-made features (RR intervals, HRV) and boosted trees make a strong, quick model of
their own, and blending its probabilities with a network's is a classic gain on CinC
2017. A scikit-learn model can only be saved as a pickle, which a model folder must
never hold; :func:`tree_arrays` reads a fitted
:class:`sklearn.ensemble.GradientBoostingClassifier` through its public ``tree_``
arrays instead, and :class:`TreeEnsemble` evaluates them as tensor operations, so the
trees are weights of the network: saved, loaded (no code runs), exported and predicted
like any other layer.

Evaluation. Tree ``t`` has up to ``n_nodes`` split nodes and ``n_leaves`` leaves. Each
node compares one feature with its threshold (``x <= threshold`` goes left, as in
scikit-learn); ``paths[t, leaf, node]`` is ``+1`` where the way to ``leaf`` goes left
at ``node``, ``-1`` where it goes right, 0 off the way. With ``d`` the 0/1 decisions of
a tree's nodes, ``paths @ d`` reaches its largest value, the number of left turns on the
way (``lefts``), at exactly one leaf: the one the record falls into.
"""
import numpy as np

from ecg.errors import ConfigError



def tree_arrays(model):
    """The arrays of a fitted ``GradientBoostingClassifier`` for :class:`TreeEnsemble`.

    Parameters
    ----------
    model : sklearn.ensemble.GradientBoostingClassifier
        Fitted with the default ``init`` (class priors) and ``loss="log_loss"``.

    Returns
    -------
    dict
        ``feature``, ``threshold`` ``(n_trees, n_nodes)``; ``paths``
        ``(n_trees, n_leaves, n_nodes)``; ``lefts``, ``value`` ``(n_trees, n_leaves)``
        (leaf values times the learning rate; unused leaves unreachable, value 0);
        ``tree_class`` ``(n_trees, n_outputs)`` (which raw output each tree adds to);
        ``init`` ``(n_outputs,)``, the raw prediction before the first tree; all
        float32, and ``n_features``, ``n_classes``.

    Raises
    ------
    ConfigError
        The model is not fitted, or has an ``init`` estimator or a loss this layer does
        not evaluate.
    """
    estimators = getattr(model, "estimators_", None)
    if estimators is None:
        raise ConfigError("tree_arrays needs a fitted GradientBoostingClassifier")
    if model.init not in (None,) or getattr(model, "loss", "log_loss") not in ("log_loss", "deviance"):
        raise ConfigError("tree_arrays evaluates GradientBoostingClassifier(loss='log_loss') with the default "
                          f"init only; got loss={model.loss!r}, init={model.init!r}")
    n_stages, n_outputs = estimators.shape
    trees = [est.tree_ for est in estimators.ravel()]          # stage-major: tree k of stage s
    n_nodes = max(1, max(int((t.children_left != -1).sum()) for t in trees))
    n_leaves = max(int((t.children_left == -1).sum()) for t in trees)
    n_trees = len(trees)
    feature = np.zeros((n_trees, n_nodes), np.float32)
    threshold = np.zeros((n_trees, n_nodes), np.float32)
    paths = np.zeros((n_trees, n_leaves, n_nodes), np.float32)
    # an unused leaf: no score reaches n_nodes + 1 (a small number, so that an int8 export
    # quantizes the lefts of the used leaves exactly)
    lefts = np.full((n_trees, n_leaves), n_nodes + 1, np.float32)
    value = np.zeros((n_trees, n_leaves), np.float32)
    for t, tree in enumerate(trees):
        split_of, leaf_of = {}, {}
        for node in range(tree.node_count):
            if tree.children_left[node] == -1:
                leaf_of[node] = len(leaf_of)
            else:
                split_of[node] = len(split_of)
                feature[t, split_of[node]] = tree.feature[node]
                threshold[t, split_of[node]] = tree.threshold[node]
        stack = [(0, [])]
        while stack:
            node, way = stack.pop()
            if node in leaf_of:
                leaf = leaf_of[node]
                for split, sign in way:
                    paths[t, leaf, split] = sign
                lefts[t, leaf] = sum(1 for _, sign in way if sign > 0)
                value[t, leaf] = model.learning_rate * float(tree.value[node].ravel()[0])
                continue
            split = split_of[node]
            stack.append((int(tree.children_left[node]), way + [(split, 1.0)]))
            stack.append((int(tree.children_right[node]), way + [(split, -1.0)]))
    tree_class = np.zeros((n_trees, n_outputs), np.float32)
    tree_class[np.arange(n_trees), np.tile(np.arange(n_outputs), n_stages)] = 1.0
    prior = np.clip(np.asarray(model.init_.class_prior_, dtype=np.float64), np.finfo(np.float64).eps, 1.0)
    if n_outputs == 1:                                          # binary: one logit
        init = np.log(prior[1:] / prior[:1])
    else:
        init = np.log(prior)
    return {"feature": feature, "threshold": threshold, "paths": paths, "lefts": lefts, "value": value,
            "tree_class": tree_class, "init": init.astype(np.float32),
            "n_features": int(model.n_features_in_), "n_classes": int(len(model.classes_))}


def tree_layer_config(arrays):
    """The :class:`TreeEnsemble` arguments that fit ``arrays`` (shapes only)."""
    n_trees, n_leaves, n_nodes = arrays["paths"].shape
    return {"n_trees": int(n_trees), "n_nodes": int(n_nodes), "n_leaves": int(n_leaves),
            "n_features": int(arrays["n_features"]), "n_classes": int(arrays["n_classes"]),
            "n_outputs": int(arrays["tree_class"].shape[1])}


WEIGHT_NAMES = ("feature", "threshold", "paths", "lefts", "value", "tree_class", "init")
RETURNS = ("probabilities", "leaves")
"""What :class:`TreeEnsemble` outputs: class probabilities, or the 0/1 indicators of the
reached leaves ``(batch, n_trees * n_leaves)`` (for :func:`leaf_logits`)."""


def leaf_logits(weights):
    """Dense-layer weights that turn reached-leaf indicators into the trees' class logits.

    ``logits = reached @ (fine + coarse) + bias`` gives the logits whose softmax
    :class:`TreeEnsemble` outputs (for one raw output, binary trees, the logits
    ``[-raw / 2, raw / 2]``, whose softmax equals that of ``[0, raw]``). The leaf values
    are split in two matrices, ``fine`` (clipped to 1/16 of the largest value) and
    ``coarse`` (the rest: a few large leaves), so that an int8 export, which gives a
    weight matrix one scale per output, keeps the many small leaves exact to 1/16 of
    the step the largest one would set. As constant weights of ``Dense`` layers (not
    computed in the graph), they quantize as weights, symmetric and per output.

    Parameters
    ----------
    weights : dict
        The layer's weights by :data:`WEIGHT_NAMES`.

    Returns
    -------
    tuple of numpy.ndarray
        ``fine``, ``coarse`` ``(n_trees * n_leaves, n_classes)`` and ``bias`` ``(n_classes,)``, float32.
    """
    value = np.asarray(weights["value"], np.float64)
    tree_class = np.asarray(weights["tree_class"], np.float64)
    init = np.asarray(weights["init"], np.float64)
    leaves = (value[:, :, None] * tree_class[:, None, :]).reshape(-1, tree_class.shape[1])
    if leaves.shape[1] == 1:
        leaves, init = np.concatenate([-leaves / 2, leaves / 2], axis=1), np.r_[-init / 2, init / 2]
    bound = np.abs(leaves).max() / 16.0
    fine = np.clip(leaves, -bound, bound)
    return fine.astype(np.float32), (leaves - fine).astype(np.float32), init.astype(np.float32)


def _layer_class():
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="ecg")
    class TreeEnsemble(keras.layers.Layer):
        """Class probabilities of boosted trees (see :mod:`ecg.models.trees`) for a feature vector.

        Input shape ``(batch, n_features)``; output ``(batch, n_classes)``. The weights
        (non-trainable, set from :func:`tree_arrays`) are exact: a compact save keeps
        them in float32 (``exact_weights``).
        """

        exact_weights = True

        def __init__(self, n_trees, n_nodes, n_leaves, n_features, n_classes, n_outputs, returns="probabilities",
                     **kwargs):
            super().__init__(**kwargs)
            if returns not in RETURNS:
                raise ConfigError(f"TreeEnsemble returns must be one of {RETURNS}. Received: returns={returns!r}")
            self.returns = returns
            self.n_trees, self.n_nodes, self.n_leaves = int(n_trees), int(n_nodes), int(n_leaves)
            self.n_features, self.n_classes, self.n_outputs = int(n_features), int(n_classes), int(n_outputs)
            shapes = {"feature": (n_trees, n_nodes), "threshold": (n_trees, n_nodes),
                      "paths": (n_trees, n_leaves, n_nodes), "lefts": (n_trees, n_leaves),
                      "value": (n_trees, n_leaves), "tree_class": (n_trees, n_outputs), "init": (n_outputs,)}
            for name in WEIGHT_NAMES:
                setattr(self, name, self.add_weight(shape=shapes[name], initializer="zeros", trainable=False,
                                                    name=name))

        def call(self, x):
            index = ops.cast(self.feature, "int32")
            chosen = ops.take(x, ops.reshape(index, (-1,)), axis=1)            # (batch, trees * nodes)
            chosen = ops.reshape(chosen, (-1, self.n_trees, self.n_nodes))
            decisions = ops.cast(ops.less_equal(chosen, self.threshold), x.dtype)
            score = ops.einsum("btn,tln->btl", decisions, self.paths)
            reached = ops.cast(ops.greater(score, self.lefts - 0.5), x.dtype)
            flat = ops.reshape(reached, (-1, self.n_trees * self.n_leaves))
            if self.returns == "leaves":
                return flat
            # the raw outputs as one matrix product of the reached leaves with the leaf values,
            # (trees * leaves, outputs); an int8 export takes the leaves and splits the values
            # for its weight scales instead (leaf_logits)
            leaf_values = ops.reshape(self.value[:, :, None] * self.tree_class[:, None, :],
                                      (self.n_trees * self.n_leaves, self.n_outputs))
            raw = ops.matmul(flat, leaf_values) + self.init
            if self.n_outputs == 1:
                raw = ops.concatenate([ops.zeros_like(raw), raw], axis=-1)
            return ops.softmax(raw, axis=-1)

        def compute_output_shape(self, input_shape):
            if self.returns == "leaves":
                return (input_shape[0], self.n_trees * self.n_leaves)
            return (input_shape[0], self.n_classes)

        def get_config(self):
            return {**super().get_config(), "n_trees": self.n_trees, "n_nodes": self.n_nodes,
                    "n_leaves": self.n_leaves, "n_features": self.n_features, "n_classes": self.n_classes,
                    "n_outputs": self.n_outputs, "returns": self.returns}

    return TreeEnsemble


_CLASS = []


def tree_ensemble_class():
    """The :class:`TreeEnsemble` Keras layer class (made on first use: ``import ecg`` imports no Keras)."""
    if not _CLASS:
        _CLASS.append(_layer_class())
    return _CLASS[0]


def blended(network, trees, weight):
    """A network whose output is ``(1 - weight) * network + weight * trees(features)``.

    Parameters
    ----------
    network : keras.Model
        A classifier with a ``features`` input (see :mod:`ecg.models.fusion`).
    trees : dict
        :func:`tree_layer_config` of the trees.
    weight : float
        The trees' share of the probabilities, in [0, 1].
    """
    import keras

    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"the trees' weight must lie in [0, 1]. Received: {weight}")
    names = [t.name.split(":")[0] for t in network.inputs]
    if "features" not in names:
        raise ConfigError("boosted trees need a network with a 'features' input (feature_input in the config)")
    inputs = [keras.Input(tuple(t.shape[1:]), name=name) for t, name in zip(network.inputs, names)]
    out = keras.Model(network.inputs, network.outputs[0], name="network")(inputs)
    tree_out = tree_ensemble_class()(**trees, name="trees")(inputs[names.index("features")])
    net_part = keras.layers.Rescaling(1.0 - weight, name="network_share")(out)
    tree_part = keras.layers.Rescaling(weight, name="trees_share")(tree_out)
    return keras.Model(inputs, keras.layers.Add(name="blend")([net_part, tree_part]), name="blended")
