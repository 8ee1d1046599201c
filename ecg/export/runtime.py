"""Run exported models: ONNX Runtime and LiteRT behind the ecg model verbs.

:func:`load_exported` opens ``model.onnx`` or ``model.tflite`` with its sidecar (see
:mod:`ecg.export.metadata`) and returns a model with the ``predict_on_batch`` of a
:class:`~ecg.models.keras_model.KerasBaseModel`: the same float32 inputs (windows
``(batch, steps, channels)``, and features ``(batch, n_features)`` for a model with a
feature input), the same class probabilities out. An int8 model's inputs are quantized
and its outputs dequantized with the scale and zero point of the sidecar. The model's
``config`` is the saved model's, recipe included, so a pipeline (``ecg predict``) runs
an exported file exactly as the saved model it came from.

Examples
--------
>>> model = load_exported("cinc2017_int8.tflite")                                # doctest: +SKIP
>>> model.predict_on_batch([windows, features]).shape                            # doctest: +SKIP
(8, 4)
"""
import os

import numpy as np

from ecg.config import parse_config
from ecg.errors import ModelError
from ecg.export.features import apply_feature_transform
from ecg.export.metadata import read_sidecar
from ecg.models.base import BaseModel

SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}


def exported_format(path):
    """``"onnx"`` or ``"tflite"`` for a path with that suffix, else ``None``.

    Examples
    --------
    >>> exported_format("m.tflite"), exported_format("runs/cinc2017/model")
    ('tflite', None)
    """
    return SUFFIXES.get(os.path.splitext(os.fspath(path))[1].lower())


def load_exported(path, num_threads=None):
    """Open an exported ``.onnx`` or ``.tflite`` file with its sidecar.

    Parameters
    ----------
    path : str
        The exported file; its sidecar ``<path>.json`` must be beside it.
    num_threads : int, optional
        CPU threads of the runtime (default: the runtime's choice).

    Returns
    -------
    OnnxRuntimeModel or LiteRTModel

    Raises
    ------
    ModelError
        Unknown suffix, missing file or sidecar, or a file the runtime cannot open.
    """
    kind = exported_format(path)
    if kind is None:
        raise ModelError(f"{path}: an exported model ends with {' or '.join(SUFFIXES)}")
    if not os.path.isfile(path):
        raise ModelError(f"{path}: no such file")
    return (OnnxRuntimeModel if kind == "onnx" else LiteRTModel)(path, num_threads)


def as_predictor(path):
    """An exported model for an ``.onnx``/``.tflite`` path; any other path as it is (a saved model)."""
    return load_exported(path) if exported_format(path) else path


def quantize(x, scale, zero_point):
    """float32 -> int8: ``clip(round(x / scale) + zero_point, -128, 127)``.

    Examples
    --------
    >>> quantize(np.array([0.0, 1.0, 100.0]), 0.5, -4).tolist()
    [-4, -2, 127]
    """
    return np.clip(np.round(np.asarray(x, np.float32) / scale) + zero_point, -128, 127).astype(np.int8)


def dequantize(q, scale, zero_point):
    """int8 -> float32: ``(q - zero_point) * scale``.

    Examples
    --------
    >>> dequantize(np.array([-128, 127], np.int8), 1 / 256, -128).tolist()
    [0.0, 0.99609375]
    """
    return ((np.asarray(q, np.float32) - zero_point) * scale).astype(np.float32)


class ExportedModel(BaseModel):
    """An exported network with the predict verb of ecg models (inference only).

    Attributes
    ----------
    path : str
        The exported file.
    metadata : dict
        Its sidecar.
    config : KerasModelConfig
        The config of the saved model it was exported from (recipe, classes, features).
    """

    def __init__(self, path, num_threads=None):
        from ecg.models.keras_model import KerasModelConfig

        self.path = os.fspath(path)
        self.metadata = read_sidecar(self.path)
        super().__init__(parse_config(KerasModelConfig, self.metadata["model_config"], f"{self.path}.json"))
        self.inputs, self.outputs = self.metadata["inputs"], self.metadata["outputs"]
        self.num_threads = num_threads
        self._open()

    @property
    def classes(self):
        """Class names of the output columns, or ``None``."""
        return self.config.classes

    @property
    def given_inputs(self):
        """The inputs a caller gives (windows, and features): those not computed from another one
        (an int8 export's ``tree_features`` come from the ``features``)."""
        return [spec for spec in self.inputs if "from" not in spec.get("transform", {})]

    @property
    def takes_features(self):
        """True when the network has a feature input beside the windows."""
        return len(self.given_inputs) > 1

    @property
    def quantized(self):
        """True for an int8 model."""
        return self.metadata.get("quantization") == "int8"

    def _feeds(self, x):
        """``{input name: array}`` in the network's dtype from ``x`` (windows, or [windows, features])."""
        arrays = list(x) if isinstance(x, (list, tuple)) else [x]
        given = self.given_inputs
        if len(arrays) != len(given):
            raise ModelError(f"{self.path} takes {len(given)} input(s) "
                             f"{[spec['name'] for spec in given]}; got {len(arrays)}")
        raw = {spec["name"]: array for spec, array in zip(given, arrays)}
        feeds = {}
        for spec in self.inputs:
            source = spec.get("transform", {}).get("from", spec["name"])
            array = np.asarray(raw[source], dtype=np.float32)
            if "transform" in spec:
                array = apply_feature_transform(array, spec["transform"])
            expected = tuple(spec["shape"][1:])
            if len(array.shape) != len(expected) + 1 or any(e is not None and e != a
                                                            for e, a in zip(expected, array.shape[1:])):
                raise ModelError(f"{self.path}: input {spec['name']!r} must be (batch, "
                                 f"{', '.join(map(str, expected))}); got {array.shape}")
            feeds[spec["name"]] = quantize(array, spec["scale"], spec["zero_point"]) if "scale" in spec else array
        return feeds

    def _probabilities(self, out):
        spec = self.outputs[0]
        if "scale" not in spec:
            return np.asarray(out, dtype=np.float32)
        probabilities = dequantize(out, spec["scale"], spec["zero_point"])
        if self.config.model.params.get("output_activation", "softmax") == "softmax":
            # int8 steps of 1/256 leave softmax rows summing to 1 +- a few steps: renormalize them
            total = probabilities.sum(axis=-1, keepdims=True)
            probabilities = np.where(total > 0, probabilities / np.where(total > 0, total, 1), probabilities)
        return probabilities.astype(np.float32)

    def predict_on_batch(self, x, **kwargs):
        """Class probabilities for float32 ``x``, as :meth:`KerasBaseModel.predict_on_batch`."""
        feeds = self._feeds(x)
        with self.lock:
            if len(next(iter(feeds.values()))) == 0:
                return np.zeros((0, *self.outputs[0]["shape"][1:]), np.float32)
            return self._probabilities(self._run(feeds))

    def _not_trainable(self, *args, **kwargs):
        raise ModelError(f"{self.path} is an exported model: it predicts only; train and save the Keras model "
                         "it came from")

    load = save = train_on_batch = test_on_batch = _not_trainable


class OnnxRuntimeModel(ExportedModel):
    """An ``.onnx`` file run by ONNX Runtime on the CPU."""

    def _open(self):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if self.num_threads:
            options.intra_op_num_threads = options.inter_op_num_threads = int(self.num_threads)
        try:
            self.session = onnxruntime.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"ONNX Runtime cannot open {self.path}: {exc}") from exc
        names = [item.name for item in self.session.get_inputs()]
        if names != [spec["name"] for spec in self.inputs]:
            raise ModelError(f"{self.path} takes inputs {names}; its sidecar lists "
                             f"{[spec['name'] for spec in self.inputs]}")

    def _run(self, feeds):
        return self.session.run(None, feeds)[0]


class LiteRTModel(ExportedModel):
    """A ``.tflite`` flatbuffer run by the LiteRT interpreter (``ai-edge-litert``) on the CPU."""

    def _open(self):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_path=self.path, num_threads=self.num_threads)
            self.runner = self.interpreter.get_signature_runner()
        except Exception as exc:
            raise ModelError(f"LiteRT cannot open {self.path}: {exc}") from exc
        names = sorted(self.runner.get_input_details())
        if names != sorted(spec["name"] for spec in self.inputs):
            raise ModelError(f"{self.path} takes inputs {names}; its sidecar lists "
                             f"{[spec['name'] for spec in self.inputs]}")

    def _run(self, feeds):
        outputs = self.runner(**feeds)
        return outputs[self.outputs[0]["name"]]
