"""``export_model``: a saved or trained model -> ONNX / LiteRT file, sidecar, C header, report."""
import json
import os

import numpy as np

from ecg.errors import ConfigError, ModelError
from ecg.export.calibration import (DEFAULT_RECORDS, DEFAULT_WINDOWS, TRIM_KEEP, representative_windows,
                                    trim_outlier_windows)
from ecg.export.convert import FORMATS, QUANTIZATIONS, ExportError, to_litert, to_onnx
from ecg.export.features import apply_feature_transform, calibration_pins, split_feature_transform
from ecg.export.metadata import export_metadata, sidecar_path, tensor_entry, write_sidecar
from ecg.export.report import format_report, latency_ms, parity, peak_activation_bytes
from ecg.export.runtime import exported_format, load_exported

RUNTIMES = {"onnx": "onnxruntime", "tflite": "litert"}
KEEP_CANDIDATES = (1.0, TRIM_KEEP)
"""Shares of the calibration windows an int8 export tries by default (``calibration_keep="auto"``).
The calmest half made the CinC 2017 zoo model agree with float on 99.0 % of its
validation windows (98.6 % with every window) but the MIT-BIH beat model on fewer test
beats (99.20 % against 99.66 %), so each export picks by its own calibration windows."""
CHECK_WINDOWS = 16
"""Windows of the parity check when no calibration set is given (seeded random normal)."""


INPUT_PERCENTILE = 99.9
"""An int8 input's range is calibrated on windows clipped to this percentile: normalised ECG
has rare spikes 30 robust SDs out, and a range that holds them makes the int8 step of every
ordinary sample coarse (on the CinC 2017 model, window agreement with float 96.0 % with
the full range, 98.3 % clipped). Samples beyond saturate at the int8 limits."""


def report_path(path):
    """The JSON report of exported file ``path``: ``<path>.report.json``."""
    return os.fspath(path) + ".report.json"


def export_model(model, out, format=None, quantize=None, calibration=None, *, c_header=False, fs=None,
                 mirror=None, data_path=None, calibration_records=DEFAULT_RECORDS, max_windows=DEFAULT_WINDOWS,
                 calibration_keep="auto", npu_check=False, latency_repeats=50, log=print):
    """Export a model for deployment; return its report.

    Parameters
    ----------
    model : KerasBaseModel or str
        A built model, or a saved model folder, or ``"zoo:NAME"``.
    out : str
        The file to write, ``.onnx`` or ``.tflite``. Its sidecar ``<out>.json`` (classes,
        input shape, sampling rate, recipe, int8 scales; see :mod:`ecg.export.metadata`)
        and its report ``<out>.report.json`` are written beside it.
    format : {"onnx", "tflite"}, optional
        By default from the suffix of ``out``.
    quantize : {None, "int8"}
        ``"int8"``: full-integer LiteRT (int8 weights, activations, input and output),
        calibrated on ``calibration``.
    calibration : str or list of numpy.ndarray, optional
        Real windows to calibrate int8 on and to check parity with: a folder of records
        or a dataset name (run through the model's own recipe, see
        :func:`~ecg.export.calibration.representative_windows`), or the model inputs
        themselves (``[windows]`` or ``[windows, features]``, float32). Without it the
        parity check uses seeded random windows.
    c_header : bool or str
        Also write the ``.tflite`` as a C array: to this path, or ``<out stem>.h``.
    fs : float, optional
        Sampling rate of the windows in Hz for the sidecar, when the recipe has no
        ``resample_signals``.
    mirror, data_path : str, optional
        Where a calibration dataset comes from (see :func:`ecg.data.datasets.get_dataset`).
    calibration_records, max_windows : int
        Records read for, and windows kept in, a calibration set from records.
    calibration_keep : float, None or "auto"
        int8: the share of the calibration windows, those with the least extreme
        activations, that set the int8 ranges (see
        :func:`~ecg.export.calibration.trim_outlier_windows`); ``None`` or 1: every
        window. ``"auto"``: each share of :data:`KEEP_CANDIDATES` is converted and the
        file that predicts the float class on the most calibration windows (all of them)
        is kept; a tie keeps the larger share. The parity check runs on every window.
    npu_check : bool
        Check a ``layer_spec`` network against the NPU rules first (see
        :mod:`ecg.models.layer_spec`); a violation fails the export.
    latency_repeats : int
        Timed runs of the latency measurement.
    log : callable
        Prints the report (``None``: silent).

    Returns
    -------
    dict
        The report: ``file``, ``format``, ``quantization``, ``bytes``, ``parameters``,
        ``macs``, ``peak_activation_bytes`` (LiteRT), ``latency_ms`` (per runtime),
        ``parity`` (with the Keras model), ``quantization_params``, ``sidecar``,
        ``c_header``, ``report``.

    Raises
    ------
    ExportError
        The network cannot be converted (naming the layer and the reason), breaks an
        NPU rule, or its export outputs non-finite values.
    ConfigError
        Inconsistent arguments (int8 without calibration, int8 ONNX, unknown format).

    Examples
    --------
    >>> report = export_model("zoo:cinc2017", "cinc2017_int8.tflite", quantize="int8",      # doctest: +SKIP
    ...                       calibration="cinc2017", mirror="../shared/data/mirror", c_header=True)
    """
    from ecg.models.describe import count_macs
    from ecg.models.keras_model import KerasBaseModel

    source = None
    if not isinstance(model, KerasBaseModel):
        source = str(model)
        model = KerasBaseModel({"path": source})
    elif model.config.path:
        source = model.config.path
    out = os.fspath(out)
    fmt = format or exported_format(out)
    if fmt not in FORMATS:
        raise ConfigError(f"export format must be one of {FORMATS}. Received: format={fmt!r} (out={out!r})")
    if exported_format(out) != fmt:
        raise ConfigError(f"a {fmt} export is written to a file ending with .{fmt}. Received: out={out!r}")
    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"quantize must be one of {QUANTIZATIONS}. Received: quantize={quantize!r}")
    if quantize and fmt != "tflite":
        raise ConfigError("int8 quantization is made for LiteRT: use format='tflite' (out=*.tflite)")
    if quantize and calibration is None:
        raise ConfigError("int8 needs a calibration set of real windows: give calibration=<records folder "
                          "or dataset name>")
    if c_header and fmt != "tflite":
        raise ConfigError("a C header holds a LiteRT flatbuffer: use format='tflite' (out=*.tflite)")
    if not model.is_built:
        raise ModelError("the model is not built: train it on a batch first, or load a saved one")
    network = model.model
    if npu_check:
        _check_npu(model)
    windows = _windows(model, calibration, calibration_records, max_windows, mirror, data_path)
    check = windows if windows is not None else _random_windows(network)
    reference = model.predict_on_batch(_x(check))          # also: Keras exports only networks called once
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    shares = KEEP_CANDIDATES if quantize and calibration_keep == "auto" else (calibration_keep,)
    tried, best = {}, None
    for share in shares:
        target = out if len(shares) == 1 else _candidate_path(out, share)
        inputs, outputs, proto, trimmed = _convert(network, target, fmt, quantize, windows, share)
        metadata = export_metadata(model.config, fmt, inputs, outputs, quantize, fs, source)
        if proto is not None:
            _embed_onnx_metadata(proto, metadata, target)
        write_sidecar(target, metadata)
        got = load_exported(target, num_threads=1).predict_on_batch(_x(check))
        if not np.all(np.isfinite(got)):
            raise ExportError(f"{out}: the exported network outputs non-finite values on {len(got)} windows; "
                              "it is not usable")
        agreement = dict(parity(reference, got), source="calibration" if windows is not None else "random")
        tried[str(share)] = agreement["same_class"]
        if best is None or agreement["same_class"] > best[1]["same_class"]:   # a tie keeps the larger share
            best = (target, agreement, trimmed)
    target, agreement, trimmed = best
    if len(shares) > 1:
        trimmed["same_class_by_keep"] = tried
        os.replace(target, out)
        os.replace(sidecar_path(target), sidecar_path(out))
        for share in shares:
            for leftover in (_candidate_path(out, share), sidecar_path(_candidate_path(out, share))):
                if os.path.exists(leftover):
                    os.remove(leftover)
    sidecar = sidecar_path(out)
    exported = load_exported(out, num_threads=1)
    one = [array[:1] for array in check]
    report = {"file": out, "format": fmt, "quantization": quantize or "float32", "source": source,
              "bytes": os.path.getsize(out), "parameters": int(network.count_params()),
              "macs": _macs(network, count_macs),
              "peak_activation_bytes": peak_activation_bytes(out) if fmt == "tflite" else None,
              "latency_ms": {RUNTIMES[fmt]: latency_ms(exported, _x(one), repeats=latency_repeats)},
              "latency_repeats": latency_repeats, "threads": 1, "parity": agreement,
              "calibration": trimmed,
              "quantization_params": [dict(role=role, name=spec["name"], scale=spec["scale"],
                                           zero_point=spec["zero_point"])
                                      for role, specs in (("input", inputs), ("output", outputs))
                                      for spec in specs if "scale" in spec],
              "sidecar": sidecar, "c_header": None, "report": report_path(out)}
    if c_header:
        from ecg.export.c_header import write_c_header

        header = c_header if isinstance(c_header, (str, os.PathLike)) else os.path.splitext(out)[0] + ".h"
        report["c_header"], report["c_array"] = write_c_header(out, header)
    with open(report["report"], "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)
    if log is not None:
        log(format_report(report))
    return report


def _convert(network, out, fmt, quantize, windows, share):
    """Write the file; return the sidecar rows of its inputs and outputs, the ONNX proto (or None),
    and for int8 ``{"windows", "used", "keep"}`` (or None)."""
    names = [tensor.name.split(":")[0] for tensor in network.inputs]
    if fmt == "onnx":
        proto = to_onnx(network, out)
        if [item.name for item in proto.graph.input] != names:
            raise ExportError(f"{out}: the ONNX graph takes {[item.name for item in proto.graph.input]}, "
                              f"the network {names}")
        inputs = [tensor_entry(name, (None, *shape), "float32") for name, shape in zip(names, _input_shapes(network))]
        return (inputs, [tensor_entry(proto.graph.output[0].name, network.output_shape, "float32", role="output")],
                proto, None)
    if not quantize:
        to_litert(network, out)
        return (*_litert_tensors(out, names, network), None, None)
    raw = dict(zip(names, windows))
    cut, transforms = split_feature_transform(network)
    cut_names = [tensor.name.split(":")[0] for tensor in cut.inputs]
    windows = {name: apply_feature_transform(raw[transforms[name].get("from", name)], transforms[name])
               if name in transforms else clip_outliers(raw[name]) for name in cut_names}
    keep = trim_outlier_windows(cut, windows, share)
    windows = calibration_pins({name: array[keep] for name, array in windows.items()}, transforms)
    to_litert(cut, out, _representative(cut_names, [windows[name] for name in cut_names]))
    inputs, outputs = _litert_tensors(out, cut_names, cut)
    for spec in inputs:
        if spec["name"] in transforms:
            spec["transform"] = transforms[spec["name"]]
    return inputs, outputs, None, {"windows": int(len(keep)), "used": int(keep.sum()), "keep": share}


def _candidate_path(out, share):
    """Where the int8 candidate of calibration share ``share`` is written before one is kept."""
    stem, suffix = os.path.splitext(out)
    return f"{stem}.keep{share}.tmp{suffix}"


def clip_outliers(windows, percentile=INPUT_PERCENTILE):
    """Calibration windows clipped to their ``[100 - p, p]`` percentiles (see :data:`INPUT_PERCENTILE`).

    Examples
    --------
    >>> float(clip_outliers(np.r_[np.zeros(998), -50.0, 50.0], 99.8).max())
    0.0
    """
    low, high = np.percentile(windows, [100 - percentile, percentile])
    return np.clip(windows, low, high).astype(windows.dtype)


def _x(arrays):
    """What a model's predict_on_batch takes: the windows alone, or [windows, features]."""
    return arrays if len(arrays) > 1 else arrays[0]


def _windows(model, calibration, n_records, max_windows, mirror, data_path):
    """The calibration / check windows as a list of float32 arrays, or ``None``."""
    if calibration is None:
        return None
    if isinstance(calibration, (str, os.PathLike)):
        return representative_windows(model.config, os.fspath(calibration), n_records, max_windows,
                                      mirror=mirror, data_path=data_path)
    arrays = list(calibration) if isinstance(calibration, (list, tuple)) else [calibration]
    expected = 2 if model.takes_features else 1
    if len(arrays) != expected:
        raise ConfigError(f"calibration arrays: the model takes {expected} input(s), got {len(arrays)}")
    return [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]


def _random_windows(network, steps=1024):
    """Random check windows; a network of any input length (a U-Net, a TCN) gets ``steps``
    samples, a multiple of every down-sampling of the built-in architectures."""
    rng = np.random.default_rng(0)
    return [rng.standard_normal((CHECK_WINDOWS, *(steps if dim is None else dim for dim in shape))).astype(np.float32)
            for shape in _input_shapes(network)]


def _input_shapes(network):
    """Shapes of the network's inputs without the batch axis."""
    return [tuple(tensor.shape[1:]) for tensor in network.inputs]


def _representative(names, windows):
    """The converter's representative dataset: one ``{input name: (1, ...) window}`` per window."""
    def generate():
        for i in range(len(windows[0])):
            yield {name: array[i:i + 1] for name, array in zip(names, windows)}
    return generate


def _litert_tensors(path, names, network):
    """Sidecar rows of a ``.tflite`` file's signature inputs (in the network's order) and output."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path).get_signature_runner()
    details = runner.get_input_details()
    if sorted(details) != sorted(names):
        raise ExportError(f"{path}: the LiteRT signature takes {sorted(details)}, the network {names}")
    shapes = dict(zip(names, _input_shapes(network)))

    def entry(name, item, shape, role="input"):
        scale, zero_point = item["quantization"]
        quantized = np.dtype(item["dtype"]) == np.int8
        return tensor_entry(name, (None, *shape), np.dtype(item["dtype"]).name,
                            (scale, zero_point) if quantized else None, role)

    (out_name, out_item), = runner.get_output_details().items()
    return ([entry(name, details[name], shapes[name]) for name in names],
            [entry(out_name, out_item, network.output_shape[1:], "output")])


def _embed_onnx_metadata(proto, metadata, path):
    import onnx

    entry = proto.metadata_props.add()
    entry.key, entry.value = "ecg", json.dumps(metadata)
    onnx.save(proto, path)


def _macs(network, count_macs):
    if any(dim is None for shape in _input_shapes(network) for dim in shape):
        return None
    return int(count_macs(network))


def _check_npu(model):
    """Rebuild a ``layer_spec`` network with ``npu_check`` on; its violations fail the export."""
    from ecg.models.factory import build_network

    arch = model.config.model
    if arch.name != "layer_spec":
        raise ConfigError(f"the NPU check applies to layer_spec networks; this one is {arch.name!r}")
    try:
        build_network({"name": arch.name, "params": {**arch.params, "npu_check": True}},
                      model.config.input_shape, model.config.num_classes, model.config.task)
    except ConfigError as exc:
        raise ExportError(f"NPU export refused: {exc}") from exc
