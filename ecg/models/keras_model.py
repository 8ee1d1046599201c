"""KerasBaseModel: a Keras 3 network built from the first batch, trained from pipelines."""
import inspect
import json
import os
import shutil
import tempfile
import time
from typing import Any, Literal, Optional, Union

import numpy as np
from pydantic import Field

from ecg import __version__
from ecg.config import StrictConfig, parse_config
from ecg.errors import ModelError
from ecg.locks import file_lock
from ecg.models.base import BaseModel
from ecg.models.frontends import FeatureFrontend, SignalFrontend
from ecg.models.keras_fast import TrainStep
from ecg.recipes import Recipe

FORMAT = "ecg-keras-model"
FORMAT_VERSION = 1
NETWORK_FILE = "model.keras"
COMPACT_FILE = "weights.npz"        # save(compact=True): float16 weights, the network rebuilt from the config
CONFIG_FILE = "ecg_model.json"
OWN_NETWORK = "own"                 # config.model.name of a network a subclass's build() made


class Architecture(StrictConfig):
    """Which network to build: a name in the ModelFactory and its parameters.

    ``frontend`` (optional) is a signal front-end of :mod:`ecg.models.frontends`,
    ``{"name": "stft", "params": {...}}``: Keras layers between the input window and
    the architecture, saved and exported with the network.
    """

    name: str = "fc"
    params: dict[str, Any] = {}
    frontend: Optional[SignalFrontend] = None


class KerasModelConfig(StrictConfig):
    """Settings of a :class:`KerasBaseModel` (unknown keys are errors).

    Attributes
    ----------
    model : Architecture
        ``{"name": "tcn", "params": {...}}``: an architecture of the ModelFactory.
    task : {"classification", "segmentation"}
        One label per input window, or one label per sample.
    input_shape : tuple, optional
        ``(steps, channels)``; by default taken from the first batch.
    num_classes : int, optional
        By default the last axis of the first batch's one-hot targets.
    classes : list of str, optional
        Class names, in the order of the output columns; by default the batch's.
    optimizer : str or dict
        A Keras optimizer name, or ``{"name": "adam", "learning_rate": 1e-3, ...}``.
    loss : str
        A Keras loss name.
    metrics : list
        Metric names (see :func:`ecg.metrics.keras_metric`) or dicts ``{"name": ..., **kwargs}``.
    seed : int, optional
        Seeds Keras, numpy and the backend before the network is built.
    preprocess : list of dict
        The EcgBatch actions new records need before this model predicts them, as a
        recipe ``[{"band_pass_signals": {"low": 0.5, "high": 40}}, ...]`` (see
        :mod:`ecg.recipes`); saved with the model and applied by ``ecg predict``.
    fast_path : bool
        Train through the compiled Keras step directly (see :mod:`ecg.models.keras_fast`),
        without Keras' per-call metric conversion: the loss and metrics of each batch stay
        on the device until :attr:`KerasBaseModel.hist` is read, and on JAX the weights
        stay in the jitted step's state between batches. TensorFlow and JAX backends, on
        the tested Keras versions only (others warn once and use
        ``keras.Model.train_on_batch``); ``ECG_KERAS_FAST=0`` in the environment turns it
        off for every model. Same seed, same weights either way.
    feature_input : FeatureInput, optional
        Give the network a second input, the batch's ``features`` (see
        :mod:`ecg.models.fusion`): ``{"mean": [...], "std": [...], "units": 32,
        "hidden": 64, "dropout": 0.3}``; the statistics standardise the features inside
        the network. Classification only. With ``"frontend": {"name": "hrv", "params":
        {...}}`` (a feature front-end of :mod:`ecg.models.frontends`) the features are
        computed from the model's own windows for every batch, in training and in
        prediction alike, instead of read from the batch's ``features``.
    class_weight : dict, optional
        Class name -> weight of its samples in the loss (e.g. inverse square-root class
        frequencies); applied to every training batch.
    info : dict
        Free-form data saved with the model (the task, dataset and metrics it reached);
        never code.
    trees : TreeBlend, optional
        Boosted decision trees on the feature input, blended into the output:
        ``(1 - weight) * network + weight * trees`` (see :mod:`ecg.models.trees` and
        :meth:`KerasBaseModel.with_trees`); the trees are weights of the network.
    members : int
        An ensemble: ``members`` copies of the network (each with its own weights) whose
        output probabilities are averaged. :meth:`KerasBaseModel.ensemble` joins models
        trained apart (e.g. with other seeds) into one; saved, loaded and exported as
        one network.
    path : str, optional
        Load a model saved with :meth:`KerasBaseModel.save` from this folder.
    """

    model: Architecture = Architecture()
    task: Literal["classification", "segmentation"] = "classification"
    input_shape: Optional[tuple[Optional[int], int]] = None
    num_classes: Optional[int] = None
    classes: Optional[list[str]] = None
    optimizer: Union[str, dict[str, Any]] = "adam"
    loss: str = "categorical_crossentropy"
    metrics: list[Union[str, dict[str, Any]]] = []
    seed: Optional[int] = None
    preprocess: Recipe = []
    fast_path: bool = True
    feature_input: Optional["FeatureInput"] = None
    class_weight: Optional[dict[str, float]] = None
    info: dict[str, Any] = {}
    members: int = Field(default=1, ge=1)
    trees: Optional["TreeBlend"] = None
    path: Optional[str] = None


class FeatureInput(StrictConfig):
    """The feature input of a :class:`KerasBaseModel` (see :func:`ecg.models.fusion.with_feature_branch`).

    ``frontend``: a feature front-end computing the features from the windows (see
    :mod:`ecg.models.frontends`); without one they come from the batch's ``features``.
    """

    frontend: Optional[FeatureFrontend] = None
    n_features: Optional[int] = None
    mean: Optional[list[float]] = None
    std: Optional[list[float]] = None
    units: int = 32
    hidden: int = 64
    dropout: float = 0.3
    clip: Optional[float] = 4.0


class TreeBlend(StrictConfig):
    """Boosted trees blended into a :class:`KerasBaseModel`'s output (shapes and weight; the trees are weights)."""

    n_trees: int = Field(ge=1)
    n_nodes: int = Field(ge=1)
    n_leaves: int = Field(ge=1)
    n_features: int = Field(ge=1)
    n_classes: int = Field(ge=2)
    n_outputs: int = Field(ge=1)
    weight: float = Field(ge=0.0, le=1.0)

    def layer_config(self):
        """The arguments of :class:`ecg.models.trees.TreeEnsemble`."""
        return self.model_dump(exclude={"weight"})


KerasModelConfig.model_rebuild()


def _averaged(networks):
    """One network that averages the outputs of ``networks`` (same inputs), each a named sub-model."""
    import keras

    inputs = [keras.Input(tuple(t.shape[1:]), name=t.name.split(":")[0]) for t in networks[0].inputs]
    feed = inputs if len(inputs) > 1 else inputs[0]
    outputs = [keras.Model(net.inputs, net.outputs[0], name=f"member_{i}")(feed) for i, net in enumerate(networks)]
    return keras.Model(feed, keras.layers.Average(name="ensemble_mean")(outputs), name="ensemble")


def _all_layers(model):
    """Every layer of ``model``, inside nested models too."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


class _Floats(dict):
    """Logs already converted to Python floats."""


def _metric_specs(metrics):
    specs = []
    for item in metrics or []:
        if isinstance(item, dict):
            item = dict(item)
            specs.append((item.pop("name"), item))
        else:
            specs.append((item, {}))
    return specs


def _check_outputs(network, config, meta_path):
    """Refuse a saved config whose ``num_classes`` or class names do not fit the network's outputs."""
    shape = network.output_shape
    if isinstance(shape, list) or not shape:
        return
    outputs = int(shape[-1])
    if config.num_classes is not None and config.num_classes != outputs:
        raise ModelError(f"{meta_path} says num_classes={config.num_classes}, but the network beside it has "
                         f"{outputs} outputs: the model folder is inconsistent; save the model again")
    if config.classes is not None and len(config.classes) != outputs:
        raise ModelError(f"{meta_path} lists {len(config.classes)} class names {config.classes} for the "
                         f"{outputs} outputs of the network beside it: predictions would be labelled "
                         "wrongly; fix 'classes' in the file or save the model again")


class KerasBaseModel(BaseModel):
    """A Keras 3 model for ECG pipelines, built on the fly from the first batch.

    Parameters
    ----------
    config : dict or KerasModelConfig
        See :class:`KerasModelConfig`. With ``path``, the saved model is loaded.

    Attributes
    ----------
    model : keras.Model or None
        The network, ``None`` until the first batch (or a load).
    hist : list of dict
        Loss and metrics of every training batch, in order.
    test_hist : list of dict
        Loss and metrics of every :meth:`test_on_batch` call.

    Notes
    -----
    Inputs are ``(batch, steps, channels)`` float32 (``EcgBatch`` turns its
    ``(n_leads, n_samples)`` signals into that layout); targets are one-hot
    ``(batch, n_classes)`` (classification) or ``(batch, steps, n_classes)``
    (segmentation). Predictions are class probabilities of the same shape.

    Bring your own network: a subclass that defines ``build(self, input_shape)`` makes
    the layers, sets :attr:`model` to a compiled ``keras.Model`` and returns ``self``.
    The model calls it with the first batch's ``(steps, channels)`` (dynamic) or with
    ``input_shape`` of its config (static); ``num_classes`` comes from the network's
    output and ``classes`` from the first training batch. Such a model trains, saves
    and loads like any other: the saved network is a plain functional Keras model, so
    ``KerasBaseModel({"path": ...})`` loads it in safe mode without the subclass.
    ``save(compact=True)`` needs an architecture of the ModelFactory and refuses it.

    Examples
    --------
    >>> model = KerasBaseModel({"model": {"name": "fc"}, "seed": 1})          # doctest: +SKIP
    >>> model.train_on_batch(x, y)                                          # doctest: +SKIP
    {'loss': 1.39}

    Your own network (see the README, "Bring your own model"):

    >>> import keras
    >>> class SimpleFCModel(KerasBaseModel):
    ...     def build(self, input_shape):
    ...         inputs = keras.Input(input_shape)
    ...         x = keras.layers.GlobalAveragePooling1D()(keras.layers.Dense(16, activation="relu")(inputs))
    ...         self.model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    ...         self.model.compile(loss="categorical_crossentropy", optimizer="adam")
    ...         return self
    >>> model = SimpleFCModel({"seed": 0}).build((3000, 1))
    >>> model.config.input_shape, model.config.num_classes
    ((3000, 1), 2)

    In a pipeline, dynamic (built from the first batch), static (``input_shape`` in the
    config), or as a function of the first batch, which batchflow calls with the config's
    named expressions evaluated on that batch:

    >>> def fc_model(config=None):
    ...     return SimpleFCModel({"seed": 0}).build(config["batch"].model_inputs().shape[1:])
    >>> train = (ds.p.init_model("fc", SimpleFCModel, mode="dynamic", config={"seed": 0})  # doctest: +SKIP
    ...          .load(fmt="wfdb").load(src="REFERENCE.csv", fmt="csv").crop_signals(3000)
    ...          .binarize_labels(["A"]).train_on_batch("fc"))
    >>> ds.p.init_model("fc", SimpleFCModel, mode="static", config={"input_shape": (3000, 1)})  # doctest: +SKIP
    >>> ds.p.init_model("fc", fc_model, config={"batch": B()})                              # doctest: +SKIP
    >>> KerasBaseModel({"path": "runs/fc"})       # a saved SimpleFCModel, loaded without its class  # doctest: +SKIP
    """

    def __init__(self, config=None):
        super().__init__(config)
        self.config = parse_config(KerasModelConfig, config, "KerasBaseModel config")
        self._network = None
        self._train_step = None
        self._hist = []
        self.test_hist = []
        self.reset_timing()
        if self.config.path:
            self.load(self.config.path)

    # --- building ------------------------------------------------------------------------
    @property
    def is_built(self):
        """True once the network exists (after the first batch or a load)."""
        return self._network is not None

    @property
    def classes(self):
        """Class names of the output columns, or ``None`` when unknown."""
        return self.config.classes

    @property
    def takes_features(self):
        """True when the network has a feature input beside the signal (``feature_input``)."""
        return self.config.feature_input is not None

    @property
    def feature_frontend(self):
        """The feature front-end the features come from (``feature_input.frontend``), or ``None``."""
        return self.config.feature_input.frontend if self.config.feature_input is not None else None

    def frontend_features(self, windows, fs):
        """Features of ``windows`` ``(n_windows, steps, channels)`` at ``fs`` Hz from :attr:`feature_frontend`.

        Returns
        -------
        numpy.ndarray
            float32 ``(n_windows, n_features)``: the network's second input.

        Raises
        ------
        ModelError
            If the model has no feature front-end.
        """
        from ecg.models.frontends import compute_features

        if self.feature_frontend is None:
            raise ModelError("the model has no feature front-end (feature_input.frontend in its config)")
        return compute_features(self.feature_frontend, windows, fs)

    @property
    def builds_own_network(self):
        """True when the class defines its own ``build(self, input_shape)`` (see the class docstring)."""
        build = type(self).build
        if build is KerasBaseModel.build:
            return False
        params = list(inspect.signature(build).parameters.values())[1:]
        return len(params) == 1 and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                       inspect.Parameter.POSITIONAL_OR_KEYWORD)

    def build(self, input_shape, num_classes, classes=None, metrics=None, n_features=None):
        """Build and compile the network for ``input_shape`` ``(steps, channels)``.

        ``n_features`` is the length of the feature vector of a network with a feature
        input (``feature_input`` in the config). A subclass may replace this method with
        its own ``build(self, input_shape)`` that sets :attr:`model` (see the class
        docstring).
        """
        import keras

        from ecg.metrics import keras_metric

        cfg = self.config
        updates = {"input_shape": tuple(cfg.input_shape or input_shape),
                   "num_classes": int(cfg.num_classes or num_classes)}
        if cfg.feature_input is not None and cfg.feature_input.n_features is None:
            if n_features is None:
                raise ModelError("the model takes features: give n_features, or train it on a batch "
                                 "with features first")
            updates["feature_input"] = cfg.feature_input.model_copy(update={"n_features": int(n_features)})
        if classes is not None and cfg.classes is None:
            updates["classes"] = [str(c) for c in classes]
        if metrics:
            updates["metrics"] = list(cfg.metrics) + list(metrics)
        self.config = cfg.model_copy(update=updates)
        cfg = self.config
        if cfg.classes is not None and len(cfg.classes) != cfg.num_classes:
            raise ModelError(f"{len(cfg.classes)} class names {cfg.classes} for {cfg.num_classes} outputs")
        if cfg.seed is not None:
            keras.utils.set_random_seed(cfg.seed)
        networks = [self._member_network() for _ in range(cfg.members)]
        network = networks[0] if cfg.members == 1 else _averaged(networks)
        if cfg.trees is not None:
            from ecg.models.trees import blended

            if cfg.feature_input is None:
                raise ModelError("trees in a model config need its feature_input")
            network = blended(network, cfg.trees.layer_config(), cfg.trees.weight)
        optimizer = cfg.optimizer
        if isinstance(optimizer, dict):
            optimizer = dict(optimizer)
            optimizer = keras.optimizers.get({"class_name": optimizer.pop("name"), "config": optimizer})
        network.compile(optimizer=optimizer, loss=cfg.loss,
                        metrics=[keras_metric(name, **kw) for name, kw in _metric_specs(cfg.metrics)])
        self._network, self._train_step = network, TrainStep(network)
        return self

    def _member_network(self):
        """One network of the config: the architecture, with its feature input if any."""
        from ecg.models.factory import build_network

        cfg = self.config
        network = build_network(cfg.model.model_dump(), cfg.input_shape, cfg.num_classes, task=cfg.task)
        if cfg.feature_input is not None:
            from ecg.models.fusion import with_feature_branch

            spec = cfg.feature_input
            network = with_feature_branch(network, spec.n_features, spec.mean, spec.std, spec.units,
                                          spec.hidden, spec.dropout, spec.clip)
        return network

    @classmethod
    def ensemble(cls, models, **updates):
        """Join trained models of one architecture into an ensemble that averages their outputs.

        Parameters
        ----------
        models : list of KerasBaseModel
            Built models whose configs agree except for ``seed`` and ``info`` (the same
            architecture, input, classes, feature input and recipe), e.g. one training
            run per seed.
        **updates
            Config fields of the ensemble to change (``info``, ...).

        Returns
        -------
        KerasBaseModel
            A built model with ``members = len(models)``; its network holds every member's
            weights and outputs the mean of their probabilities.

        Raises
        ------
        ModelError
            If a model is not built, builds its own network, or differs in config.

        Examples
        --------
        >>> both = KerasBaseModel.ensemble([seed_0, seed_1])  # doctest: +SKIP
        >>> both.save("runs/ensemble/model")  # doctest: +SKIP
        """
        models = list(models)
        if not models:
            raise ModelError("an ensemble needs at least one model")
        free = {"seed", "info", "path", "members", "optimizer", "metrics"}
        first = models[0].config.model_dump(exclude=free)
        for i, model in enumerate(models):
            if not model.is_built or model.builds_own_network or model.config.members != 1:
                raise ModelError(f"ensemble member {i} must be a built factory model of one network")
            config = model.config.model_dump(exclude=free)
            differ = sorted(k for k in config if config[k] != first[k])
            if differ:
                raise ModelError(f"ensemble member {i} differs from member 0 in {differ}")
        base = models[0].config
        joined = cls(base.model_copy(update={"members": len(models), "path": None, **updates}))
        joined.build(base.input_shape, base.num_classes)
        joined.model.set_weights([w for model in models for w in model.model.get_weights()])
        return joined

    @classmethod
    def with_trees(cls, model, trees, weight, **updates):
        """``model`` with boosted trees blended into its output.

        Parameters
        ----------
        model : KerasBaseModel
            A built factory model (one network or an ensemble) with a feature input.
        trees : sklearn.ensemble.GradientBoostingClassifier or dict
            Fitted on the same raw feature vectors the model's ``features`` input takes,
            with the model's classes in order; or :func:`ecg.models.trees.tree_arrays` of one.
        weight : float
            The trees' share of the output probabilities, in [0, 1].
        **updates
            Config fields of the new model to change (``info``, ...).

        Returns
        -------
        KerasBaseModel
            A built model whose network outputs ``(1 - weight) * model + weight * trees``;
            saved, loaded and exported like any model (the trees are its weights).

        Raises
        ------
        ModelError
            The model is not built, has no feature input or trees already, or the trees
            do not fit its features and classes.
        """
        from ecg.models.trees import WEIGHT_NAMES, tree_arrays, tree_layer_config

        arrays = trees if isinstance(trees, dict) else tree_arrays(trees)
        cfg = model.config
        if not model.is_built or model.builds_own_network or cfg.trees is not None:
            raise ModelError("with_trees needs a built factory model without trees")
        if cfg.feature_input is None:
            raise ModelError("with_trees needs a model with a feature input (feature_input in its config)")
        shapes = tree_layer_config(arrays)
        if shapes["n_features"] != cfg.feature_input.n_features or shapes["n_classes"] != cfg.num_classes:
            raise ModelError(f"the trees take {shapes['n_features']} features into {shapes['n_classes']} classes; "
                             f"the model takes {cfg.feature_input.n_features} into {cfg.num_classes}")
        joined = cls(cfg.model_copy(update={"trees": TreeBlend(**shapes, weight=float(weight)), "path": None,
                                            **updates}))
        joined.build(cfg.input_shape, cfg.num_classes)
        joined.model.get_layer("network").set_weights(model.model.get_weights())
        joined.model.get_layer("trees").set_weights([arrays[name] for name in WEIGHT_NAMES])
        return joined

    def _build_own(self, x, metrics):
        """Call the subclass's ``build(input_shape)``, with the config's shape or the batch's."""
        import keras

        if metrics:
            raise ModelError(f"{type(self).__name__} compiles its network in its own build(): give the metrics "
                             f"{[n for n, _ in _metric_specs(metrics)]} to compile() there, not to train_on_batch")
        if self.config.input_shape is None and x is None:
            raise ModelError(f"{type(self).__name__} is not built: train it on a batch first, set input_shape in "
                             "its config, or load a saved one with config={'path': ...}")
        input_shape = self.config.input_shape or tuple(np.shape(x[0] if isinstance(x, (list, tuple)) else x)[1:])
        if self.config.seed is not None:
            keras.utils.set_random_seed(self.config.seed)
        self.build(tuple(input_shape))
        if self._network is None:
            raise ModelError(f"{type(self).__name__}.build(input_shape) returned without a network: set "
                             "self.model = keras.Model(...) and compile it there")

    def _ensure_built(self, x, y=None, classes=None, metrics=None):
        if self._network is None and self.builds_own_network:
            self._build_own(x, metrics)
            metrics = None
        if self._network is not None:
            if x is not None:
                self._check_input(x)
            if classes is not None and self.config.classes is None and len(classes) == self.config.num_classes:
                self.config = self.config.model_copy(update={"classes": [str(c) for c in classes]})
            if metrics and _metric_specs(metrics) != _metric_specs(self.config.metrics)[-len(metrics):]:
                known = [name for name, _ in _metric_specs(self.config.metrics)]
                raise ModelError(f"the model was compiled with metrics {known}; it cannot switch to "
                                 f"{[n for n, _ in _metric_specs(metrics)]} (set them in the config)")
            return
        if y is None and self.config.num_classes is None:
            raise ModelError("the model is not built: train it on a batch first, set input_shape and "
                             "num_classes in its config, or load a saved one with config={'path': ...}")
        num_classes = self.config.num_classes or np.shape(y)[-1]
        if self.takes_features:
            if not isinstance(x, (list, tuple)) or len(x) != 2:
                raise ModelError("the model takes [signal windows, features]; got one input (does the "
                                 "batch have features? compute them, e.g. find_r_peaks(0).rr_features())")
            self.build(np.shape(x[0])[1:], num_classes, classes=classes, metrics=metrics,
                       n_features=np.shape(x[1])[-1])
            return
        self.build(np.shape(x)[1:], num_classes, classes=classes, metrics=metrics)

    def _check_input(self, x):
        """Refuse in one line windows of another number of leads than the network takes (instead of
        a Keras traceback)."""
        shape = self._network.input_shape
        if isinstance(shape, list):                           # [signal windows, features]
            if not isinstance(x, (list, tuple)):
                return
            shape, x = shape[0], x[0]
        got = tuple(np.shape(x))
        if len(got) != len(shape):
            raise ModelError(f"the model takes windows of shape {tuple(shape)} (batch, steps, channels); "
                             f"received an array of shape {got}")
        channels = shape[-1]
        if channels is not None and got[-1] != channels:
            raise ModelError(f"the model takes {channels} lead{'s' * (channels != 1)} (channels); this batch has "
                             f"{got[-1]} (windows of shape {got}): give it the leads it was trained on "
                             "(select_leads), or train a model for these")

    def reset(self):
        """Drop the network; the next batch builds a fresh one with the same config."""
        with self.lock:
            self._network, self._train_step = None, None
            self._hist, self.test_hist = [], []

    def model_summary(self, **kwargs):
        """Print the Keras summary of the network."""
        if self._network is None:
            raise ModelError("the model is not built yet: it is built from the first batch")
        self.model.summary(**kwargs)

    # --- the five verbs ----------------------------------------------------------------------
    def train_on_batch(self, x, y, classes=None, metrics=None, **kwargs):
        """One gradient step on ``x`` ``(batch, steps, channels)`` and one-hot ``y``.

        Parameters
        ----------
        classes : list of str, optional
            Names of the target columns, stored with the model at build time.
        metrics : list, optional
            Training metrics, fixed when the network is built (see :class:`KerasModelConfig`).
        kwargs
            Passed to ``keras.Model.train_on_batch`` (``sample_weight``, ``class_weight``).

        Returns
        -------
        dict
            Loss and metrics of this batch (also appended to :attr:`hist`). On the fast
            path the values are backend scalars; ``float(value)`` reads one (and waits
            for the step), :attr:`hist` reads them all.
        """
        with self.lock:
            start = time.perf_counter()
            if self._step_end is not None:
                self._input_wait += start - self._step_end
            self._ensure_built(x, y, classes, metrics)
            if self.config.class_weight and "sample_weight" not in kwargs and "class_weight" not in kwargs:
                kwargs["sample_weight"] = self._sample_weights(y)
            logs = self._train_step(x, y, fast=self.config.fast_path, **kwargs)
            self._hist.append(logs)
            self._step_end = time.perf_counter()
            self._train_time += self._step_end - start
        return logs

    def _sample_weights(self, y):
        """float32 weight of each row of one-hot ``y`` from ``class_weight`` (by class name)."""
        classes = self.config.classes or [str(i) for i in range(self.config.num_classes)]
        unknown = sorted(set(self.config.class_weight) - set(classes))
        if unknown:
            raise ModelError(f"class_weight names {unknown}, which are not classes of the model {classes}")
        weights = np.array([self.config.class_weight.get(c, 1.0) for c in classes], dtype=np.float32)
        return weights[np.asarray(y).argmax(axis=-1)]

    @property
    def hist(self):
        """list of dict: loss and metrics of every training batch, as floats."""
        with self.lock:
            for i, logs in enumerate(self._hist):
                if not isinstance(logs, _Floats):
                    self._hist[i] = _Floats((k, float(v)) for k, v in logs.items())
            return self._hist

    @property
    def step_counts(self):
        """dict: training steps taken so far ``{"fast": n, "public": n}`` (see ``fast_path``)."""
        return dict(self._train_step.counts) if self._train_step is not None else {"fast": 0, "public": 0}

    def _sync(self):
        """Write weights kept in the fast path's state back into the Keras variables."""
        if self._train_step is not None:
            self._train_step.sync()

    @property
    def model(self):
        """keras.Model or None: the network, its variables up to date with training.

        Setting it installs a network (a subclass's ``build`` does, see the class
        docstring): ``input_shape`` and ``num_classes`` of the config follow its input and
        output, ``model`` of the config becomes ``{"name": "own", "params": {"class": ...}}``
        (no ModelFactory architecture, so no ``save(compact=True)``), and training goes on
        from its weights.
        """
        with self.lock:
            self._sync()
            return self._network

    @model.setter
    def model(self, network):
        import keras

        if network is not None and not isinstance(network, keras.Model):
            raise ModelError(f"model must be a keras.Model. Received: {type(network).__name__}")
        with self.lock:
            self._network, self._train_step = network, None if network is None else TrainStep(network)
            if network is None:
                return
            updates = {"num_classes": int(network.output_shape[-1])}
            if not isinstance(network.input_shape, list) and len(network.input_shape) == 3:
                updates["input_shape"] = tuple(network.input_shape[1:])
            updates["model"] = Architecture(name=OWN_NETWORK,
                                            params={"class": f"{type(self).__module__}.{type(self).__qualname__}"})
            if self.config.classes is not None and len(self.config.classes) != updates["num_classes"]:
                updates["classes"] = None
            self.config = self.config.model_copy(update=updates)

    def reset_timing(self):
        """Restart the clocks behind :meth:`timing`."""
        self._step_end = None
        self._input_wait = 0.0
        self._train_time = 0.0

    def sync(self):
        """Wait until every queued training step has finished; weights back in the variables."""
        with self.lock:
            self._sync()
            if self._hist:
                _ = self.hist[-1]           # reading the last loss waits for the last step
        return self

    def timing(self, elapsed=None):
        """Seconds spent in training steps and waiting for the next batch between them.

        ``input_wait`` is the share of ``elapsed`` (default: train + wait time) the model
        sat idle waiting for input: near 0 when the pipeline keeps up.
        """
        total = elapsed or (self._train_time + self._input_wait) or 1.0
        return {"train_seconds": self._train_time, "wait_seconds": self._input_wait,
                "input_wait": self._input_wait / total}

    def test_on_batch(self, x, y, **kwargs):
        """Loss and metrics on ``(x, y)`` without a weight update (appended to :attr:`test_hist`)."""
        with self.lock:
            self._ensure_built(x, y)
            logs = self.model.test_on_batch(x, y, return_dict=True, **kwargs)
            self.test_hist.append(logs)
        return logs

    def predict_on_batch(self, x, **kwargs):
        """Class probabilities for ``x``: ``(batch, n_classes)`` or ``(batch, steps, n_classes)``."""
        with self.lock:
            self._ensure_built(x)
            return np.asarray(self.model.predict_on_batch(x, **kwargs))

    # --- files ---------------------------------------------------------------------------
    def save(self, path, compact=False):
        """Write the network and its config to folder ``path``, atomically.

        With ``compact=True`` the folder holds ``weights.npz`` (the weights in float16,
        no optimizer state, about a sixth of ``model.keras``) instead of ``model.keras``;
        loading rebuilds the network from the saved config and casts the weights back
        to float32. For the model zoo and for deployment; not for resuming a training.

        The folder holds ``model.keras`` (Keras 3 format) and ``ecg_model.json``. It is
        written beside ``path`` under a temporary name and renamed into place, so a
        crash never leaves a half-written model, and an older model at ``path`` is
        replaced only once the new one is complete.
        """
        with self.lock:
            if self._network is None:
                raise ModelError("nothing to save: the model is not built yet")
            if compact and self.config.model.name == OWN_NETWORK:
                raise ModelError(f"save(compact=True) rebuilds the network from a ModelFactory architecture; "
                                 f"this one was set as the model of {self.config.model.params.get('class')}: "
                                 "save it with compact=False")
            path = os.path.abspath(os.fspath(path))
            parent, name = os.path.split(path)
            os.makedirs(parent, exist_ok=True)
            # Another process may save to the same path: one writer at a time, and what a
            # killed writer left behind (its temporary folders) is removed by the next one.
            with file_lock(os.path.join(parent, f".{name}.lock")):
                for stale in os.listdir(parent):
                    if stale.startswith((f".{name}.tmp-", f".{name}.old-")):
                        shutil.rmtree(os.path.join(parent, stale), ignore_errors=True)
                self._save_into(path, compact)
        return path

    def _save_into(self, path, compact):
        """Write the model to a temporary folder beside ``path`` and rename it into place."""
        import keras

        parent = os.path.dirname(path)
        tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.tmp-")
        try:
            if compact:
                # float16, except the weights that must stay exact (tree thresholds, indices)
                exact = {id(v) for layer in _all_layers(self.model) if getattr(layer, "exact_weights", False)
                         for v in layer.weights}
                weights = {f"w{i:04d}": np.asarray(v.numpy() if id(v) in exact else v.numpy().astype(np.float16))
                           for i, v in enumerate(self.model.weights)}
                np.savez_compressed(os.path.join(tmp, COMPACT_FILE), **weights)
            else:
                self.model.save(os.path.join(tmp, NETWORK_FILE))
            meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "ecg_version": __version__,
                    "keras_version": keras.__version__, "backend": keras.backend.backend(),
                    "config": self.config.model_dump(mode="json", exclude={"path"})}
            with open(os.path.join(tmp, CONFIG_FILE), "w", encoding="utf-8") as file:
                json.dump(meta, file, indent=2)
            old = None
            if os.path.exists(path):
                old = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.old-")
                os.replace(path, os.path.join(old, "model"))
            os.replace(tmp, path)
            if old:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    def export(self, path, format=None, quantize=None, calibration=None, **kwargs):
        """Export the network for deployment: ONNX, or LiteRT in float32 or full-integer int8.

        Writes ``path`` (``.onnx`` or ``.tflite``) and its sidecar ``<path>.json`` (classes,
        input shape, sampling rate, preprocessing recipe, int8 scales), checks it against
        this model and returns the report (size, MACs, latency...). The arguments are those
        of :func:`ecg.export.export_model`, e.g. ``model.export("m.tflite", quantize="int8",
        calibration="records/")``; ``ecg predict --model m.tflite`` runs the file.
        """
        from ecg.export import export_model

        return export_model(self, path, format=format, quantize=quantize, calibration=calibration, **kwargs)

    def load(self, path):
        """Restore a model written by :meth:`save` (Keras safe mode: no code from the file runs)."""
        import keras

        from ecg.zoo import resolve

        path = os.fspath(resolve(path))
        meta_path = os.path.join(path, CONFIG_FILE)
        if not os.path.isfile(meta_path):
            raise ModelError(f"{path} is not a saved ecg model: {CONFIG_FILE} is missing")
        try:
            with open(meta_path, encoding="utf-8") as file:
                meta = json.load(file)
        except (OSError, ValueError) as exc:
            raise ModelError(f"{meta_path} is unreadable: {exc}") from exc
        if not isinstance(meta, dict):
            raise ModelError(f"{meta_path} holds a JSON {type(meta).__name__}, not the object that "
                             "KerasBaseModel.save writes: the model folder is damaged; save the model again")
        if meta.get("format") != FORMAT:
            raise ModelError(f"{path} holds {meta.get('format')!r}, not an {FORMAT!r}")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"{path} was saved in format version {meta.get('format_version')} by ecg "
                             f"{meta.get('ecg_version')}; this ecg {__version__} reads version "
                             f"{FORMAT_VERSION}: re-train or re-save it with a matching ecg version")
        if not isinstance(meta.get("config"), dict):
            raise ModelError(f"{meta_path} has no model config (its 'config' is {meta.get('config')!r}, not an "
                             "object): the model folder is damaged; save the model again")
        config = parse_config(KerasModelConfig, meta["config"], f"config saved in {meta_path}")
        self._import_architecture(config.model.name)
        if config.model.frontend is not None:             # its module defines the layers of the network
            from ecg.models.frontends import frontend_factory

            frontend_factory.get(config.model.frontend.name)
        if config.trees is not None:                      # registers the trees' layer class with Keras
            from ecg.models.trees import tree_ensemble_class

            tree_ensemble_class()
        if os.path.isfile(os.path.join(path, COMPACT_FILE)):
            return self._load_compact(path, config)
        try:
            network = keras.saving.load_model(os.path.join(path, NETWORK_FILE), safe_mode=True)
        except Exception as exc:
            raise ModelError(f"cannot load the network in {path}: {type(exc).__name__}: {exc}") from exc
        _check_outputs(network, config, meta_path)
        with self.lock:
            self.config = config.model_copy(update={"path": path})
            self._network, self._train_step = network, TrainStep(network)
        return self

    def _load_compact(self, path, config):
        """Rebuild the network from ``config`` and set the float16 weights of ``weights.npz``."""
        file = os.path.join(path, COMPACT_FILE)
        if config.input_shape is None or config.num_classes is None:
            raise ModelError(f"{path}: a compact model needs input_shape and num_classes in its config")
        try:
            with np.load(file, allow_pickle=False) as data:
                weights = [data[key].astype(np.float32) for key in sorted(data.files)]
        except Exception as exc:
            raise ModelError(f"cannot read the weights in {file}: {type(exc).__name__}: {exc}") from exc
        self.config = config.model_copy(update={"path": None, "metrics": []})
        self.build(config.input_shape, config.num_classes)
        shapes = [tuple(w.shape) for w in self._network.get_weights()]
        if shapes != [w.shape for w in weights]:
            raise ModelError(f"{file} holds {len(weights)} weights that do not fit the network of its config "
                             f"({len(shapes)} weights)")
        self._network.set_weights(weights)
        self.config = self.config.model_copy(update={"path": path})
        return self

    @staticmethod
    def _import_architecture(name):
        """Import the module of a registered architecture so its custom layers are known."""
        from ecg.models.factory import model_factory

        if model_factory.has(name):
            model_factory.get(name)
