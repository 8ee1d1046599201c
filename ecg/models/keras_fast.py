"""Training steps through Keras' compiled train function: the one home of Keras internals in ecg.

``keras.Model.train_on_batch`` converts every loss and metric to a Python float after
each step, which waits for the device, and on JAX it also writes the weights back into
the Keras variables after every step. :class:`TrainStep` calls the compiled step that
``train_on_batch`` itself runs (``Model.train_function``) without those two costs: logs
stay backend scalars until they are read, and on JAX the weights stay in the jitted
step's state between steps, as in ``fit``, until :meth:`TrainStep.sync` writes them back.
It gives the same weights as ``train_on_batch`` (``tests/test_keras_model.py``, on
TensorFlow and JAX).

``train_function`` and ``make_train_function`` are undocumented and the calling
convention of ``train_function`` differs between backends and may change in any Keras
release. So this module is the only place in ``ecg`` that touches them (a test greps
the package for Keras internals elsewhere), and the fast path runs only on the Keras
versions it is tested with (:data:`TESTED_KERAS`). On any other version, or when an
attribute it needs is missing, it warns once and every step goes through the public
``keras.Model.train_on_batch``; so it does with ``ECG_KERAS_FAST=0`` in the environment
(no warning) and with ``fast_path=False`` in a model's config.
"""
import os
import warnings

import numpy as np

TESTED_KERAS = ((3, 15),)
"""(major, minor) Keras versions the fast path is tested with."""
ENV_SWITCH = "ECG_KERAS_FAST"
BACKENDS = ("tensorflow", "jax")
_NEEDED = ("make_train_function", "train_function", "reset_metrics", "trainable_variables",
           "non_trainable_variables", "metrics_variables", "optimizer")
_warned = set()


def fast_path_switched_off():
    """True when the environment asks for the public path: ``ECG_KERAS_FAST`` set to 0, false, no or off."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off")


def untested_reason(network):
    """Why the fast path cannot be trusted for ``network`` here, or ``None`` when it can.

    Args:
        network: A compiled ``keras.Model``.

    Returns:
        ``None``, or a sentence naming the installed Keras version or the missing
        attributes.
    """
    import keras

    version = keras.__version__
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        major_minor = None
    if major_minor not in TESTED_KERAS:
        tested = ", ".join(f"{major}.{minor}.x" for major, minor in TESTED_KERAS)
        return f"it is tested with Keras {tested}, and Keras {version} is installed"
    missing = [name for name in _NEEDED if not hasattr(network, name)]
    if missing:
        return f"keras.Model of Keras {version} has no {', '.join(missing)}"
    return None


def _warn_once(reason):
    if reason in _warned:
        return
    _warned.add(reason)
    warnings.warn(f"ecg trains through the public keras.Model.train_on_batch, not its fast path: {reason}. "
                  "Results are the same, steps are slower on GPUs; set ECG_KERAS_FAST=0 to choose the "
                  "public path and silence this warning.", RuntimeWarning, stacklevel=5)


class TrainStep:
    """The training steps of one compiled ``keras.Model``, on the fast path where it applies.

    Args:
        network: A compiled ``keras.Model``.

    Attributes:
        network: The ``keras.Model``.
        counts: ``{"fast": n, "public": n}``, the steps taken on each path so far.

    The first step always goes through ``keras.Model.train_on_batch``, which builds the
    optimizer, the loss and the metrics (also on a freshly loaded model); so does every
    step with arguments other than ``sample_weight`` (``class_weight``...), on a backend
    other than TensorFlow and JAX, on an untested Keras version, and when the fast path
    is switched off. Not thread-safe: the caller holds a lock.

    Example:
        >>> step = TrainStep(network)                                      # doctest: +SKIP
        >>> logs = step(x, y)           # x (batch, steps, channels), y one-hot   # doctest: +SKIP
        >>> step.sync()                 # weights back in network's variables     # doctest: +SKIP
    """

    def __init__(self, network):
        self.network = network
        self.counts = {"fast": 0, "public": 0}
        self._fast_ok = None            # decided at the first step that may take the fast path
        self._state = None              # JAX: the jitted step's state while it holds the weights
        self._metrics_start = None

    def __call__(self, x, y, fast=True, **kwargs):
        """One gradient step on ``x`` ``(batch, steps, channels)`` and targets ``y``.

        Args:
            x: Inputs.
            y: Targets.
            fast: Take the fast path where it applies.
            kwargs: Arguments of ``keras.Model.train_on_batch`` (``sample_weight``...).

        Returns:
            dict of loss and metrics: Python floats on the public path, backend scalars
            (``float(value)`` waits for the step) on the fast path.
        """
        if fast and self.counts["public"] and not kwargs.keys() - {"sample_weight"} and self._fast_allowed():
            logs = self._fast_step(x, y, kwargs.get("sample_weight"))
            self.counts["fast"] += 1
            return logs
        self.sync()
        logs = self.network.train_on_batch(x, y, return_dict=True, **kwargs)
        self.counts["public"] += 1
        return logs

    def _fast_allowed(self):
        if self._fast_ok is None:
            import keras

            reason = None
            if fast_path_switched_off() or keras.backend.backend() not in BACKENDS:
                self._fast_ok = False
            else:
                reason = untested_reason(self.network)
                self._fast_ok = reason is None
            if reason:
                _warn_once(reason)
        return self._fast_ok

    def _fast_step(self, x, y, sample_weight):
        import keras

        network = self.network
        from ecg.models.distribution import split_batch

        network.make_train_function()       # compiles the step unless it exists (returns None then)
        # under a Keras distribution (ecg.models.distribution), the batch split across the devices
        # as train_on_batch splits it
        data = iter([split_batch((x, y, sample_weight))])
        if keras.backend.backend() == "tensorflow":
            network.reset_metrics()
            return network.train_function(data)
        if self._state is None:
            network.reset_metrics()
            self._state = tuple([v.value for v in variables] for variables in self._variables())
            # host copies: the jitted step donates its input buffers, so fresh ones each call
            self._metrics_start = [np.array(value) for value in self._state[3]]
        trainable, non_trainable, optimizer, _ = self._state
        state = (trainable, non_trainable, optimizer, [value.copy() for value in self._metrics_start])
        logs, self._state = network.train_function(state, data)
        return logs

    def _variables(self):
        """The Keras variables of a JAX train step's state, in the order of its four lists."""
        network = self.network
        return (network.trainable_variables, network.non_trainable_variables, network.optimizer.variables,
                network.metrics_variables)

    @property
    def holds_state(self):
        """True while the weights live in the fast path's state, not in the Keras variables (JAX)."""
        return self._state is not None

    def sync(self):
        """Write weights held in the fast path's state back into the Keras variables (JAX; else a no-op)."""
        if self._state is None:
            return
        for variables, values in zip(self._variables(), self._state):
            for variable, value in zip(variables, values):
                variable.assign(value)
        self._state = None
