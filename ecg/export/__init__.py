"""Export for deployment: ONNX and LiteRT (float32 or full-integer int8), with what a device needs.

* :func:`export_model` (also ``KerasBaseModel.export`` and ``ecg export``) converts a
  model, writes the JSON sidecar (classes, input shape, sampling rate, preprocessing
  recipe, int8 scales: :mod:`ecg.export.metadata`), optionally a C header
  (:mod:`ecg.export.c_header`), checks parity with the Keras model and measures the
  export (:mod:`ecg.export.report`).
* :func:`load_exported` runs an exported file like a Keras model
  (:mod:`ecg.export.runtime`); ``ecg predict --model FILE.onnx|FILE.tflite`` uses it.

Importing this package loads neither Keras, TensorFlow nor the runtimes.
"""
from ecg.export.convert import ExportError
from ecg.export.exporter import export_model
from ecg.export.runtime import load_exported

__all__ = ["ExportError", "export_model", "load_exported"]
