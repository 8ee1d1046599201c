"""What an export costs on a device: size, compute, activation memory, CPU latency.

* **bytes**: size of the exported file.
* **parameters** and **MACs**: of the Keras network, for one window (see
  :mod:`ecg.models.describe` for what is counted).
* **peak activation bytes** (LiteRT only): the largest total size of the tensors alive
  at once when the flatbuffer's operators run in their order, in their stored dtypes
  (int8 for an int8 model), for one window; constants are not counted. An arena without
  fragmentation holds exactly this; LiteRT's planner may need a little more.
* **latency**: milliseconds per window (batch of 1) on one CPU thread, the median of
  ``repeats`` timed runs after ``warmup`` untimed ones, through the same runtime
  wrappers ``ecg predict`` uses (:mod:`ecg.export.runtime`).
"""
import statistics
import time

import numpy as np

_ELEMENT_BYTES = {"FLOAT32": 4, "FLOAT16": 2, "BFLOAT16": 2, "INT32": 4, "UINT32": 4, "UINT8": 1, "INT8": 1,
                  "INT64": 8, "UINT64": 8, "FLOAT64": 8, "BOOL": 1, "INT16": 2, "UINT16": 2, "COMPLEX64": 8}
"""Bytes of an element of a LiteRT tensor type, by its name in the flatbuffer schema."""


def peak_activation_bytes(path):
    """Peak live activation bytes of a ``.tflite`` file's main subgraph, for one window.

    Examples
    --------
    >>> peak_activation_bytes("cinc2017_int8.tflite")                          # doctest: +SKIP
    12032
    """
    from ai_edge_litert import schema_py_generated as schema

    with open(path, "rb") as file:
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(file.read(), 0))
    graph = model.subgraphs[0]
    type_names = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}

    def constant(index):
        buffer = model.buffers[graph.tensors[index].buffer]
        return buffer.data is not None and len(buffer.data) > 0

    def size(index):
        tensor = graph.tensors[index]
        shape = [max(int(dim), 1) for dim in (tensor.shape if tensor.shape is not None else [])]
        return int(np.prod(shape)) * _ELEMENT_BYTES.get(type_names.get(tensor.type), 4)

    first, last = {}, {}
    for index in graph.inputs:
        first[int(index)] = -1
    for step, op in enumerate(graph.operators):
        for index in op.outputs:
            first.setdefault(int(index), step)
        for index in op.inputs:
            if index >= 0:
                last[int(index)] = step
    for index in graph.outputs:
        last[int(index)] = len(graph.operators)
    live = [(first[i], last.get(i, first[i]), size(i)) for i in first if not constant(i)]
    return max(sum(nbytes for start, end, nbytes in live if start <= step <= end)
               for step in range(len(graph.operators)))


def latency_ms(model, x, repeats=50, warmup=5):
    """Median milliseconds of ``model.predict_on_batch(x)`` over ``repeats`` runs.

    Parameters
    ----------
    model : ExportedModel
        Opened with ``num_threads=1`` for a per-core figure.
    x : array or list of arrays
        One window (batch of 1), as the model takes it.
    """
    for _ in range(warmup):
        model.predict_on_batch(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def parity(reference, probabilities):
    """How an export's probabilities match the Keras model's on the same windows.

    Returns
    -------
    dict
        ``max_abs_diff`` (probabilities) and ``same_class`` (share of windows with the
        same predicted class).

    Examples
    --------
    >>> parity(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([[0.8, 0.2], [0.6, 0.4]]))
    {'windows': 2, 'max_abs_diff': 0.2, 'same_class': 0.5}
    """
    reference, probabilities = np.asarray(reference), np.asarray(probabilities)
    same = reference.argmax(-1) == probabilities.argmax(-1)
    return {"windows": int(len(reference)), "max_abs_diff": round(float(np.abs(reference - probabilities).max()), 8),
            "same_class": float(same.mean())}


def format_report(report):
    """The report as the lines ``ecg export`` prints."""
    def number(value, unit=""):
        return "n/a" if value is None else f"{value:,}{unit}"

    lines = [f"exported {report['file']} ({report['format']}, {report['quantization']})",
             f"  size: {number(report['bytes'], ' bytes')}",
             f"  parameters: {number(report['parameters'])}",
             f"  MACs per window: {number(report['macs'])}",
             f"  peak activation memory: {number(report['peak_activation_bytes'], ' bytes')}"]
    for runtime, value in report["latency_ms"].items():
        lines.append(f"  CPU latency per window ({runtime}, 1 thread, median of {report['latency_repeats']}): "
                     f"{value:.3f} ms")
    if report.get("parity"):
        p = report["parity"]
        lines.append(f"  parity with Keras on {p['windows']} {p['source']} windows: max |diff| "
                     f"{p['max_abs_diff']:.2e}, same class {100 * p['same_class']:.1f} %")
    if report.get("calibration"):
        c = report["calibration"]
        lines.append(f"  int8 ranges from {c['used']} of {c['windows']} calibration windows (those with the "
                     "least extreme activations)" + ("; same class on the calibration windows by share kept: "
                     + ", ".join(f"{k}: {100 * v:.1f} %" for k, v in c["same_class_by_keep"].items())
                     if c.get("same_class_by_keep") else ""))
    for spec in report.get("quantization_params", []):
        lines.append(f"  int8 {spec['role']} {spec['name']!r}: scale {spec['scale']:.6g}, zero point "
                     f"{spec['zero_point']}")
    for key in ("sidecar", "c_header", "report"):
        if report.get(key):
            lines.append(f"  {key.replace('_', ' ')}: {report[key]}")
    return "\n".join(lines)
