"""The JSON sidecar of an exported model: what a deployment must feed it and how to read it.

An exported file ``model.onnx`` or ``model.tflite`` holds the network only. Beside it,
``model.onnx.json`` (``<file>.json``) says what the network expects and returns::

    {"format": "ecg-export", "format_version": 1,
     "model_format": "tflite", "quantization": "int8",
     "task": "classification", "classes": ["N", "A", "O", "~"],
     "sampling_rate_hz": 100.0,
     "inputs": [{"name": "ecg", "shape": [null, 3000, 1], "dtype": "int8",
                 "layout": "(batch, steps, channels)", "scale": 0.0362, "zero_point": -4},
                {"name": "features", "shape": [null, 25], "dtype": "int8", ...}],
     "outputs": [{"name": "probabilities", "shape": [null, 4], "dtype": "int8", ...}],
     "preprocess": [{"band_pass_signals": {"low": 0.5, "high": 40.0}}, ...],
     "model_config": {...}}

``preprocess`` is the model's own recipe (see :mod:`ecg.recipes`): the steps, in order,
that turn a raw record into the windows of ``inputs``. An int8 tensor holds
``round(x / scale) + zero_point``; a float is ``(q - zero_point) * scale``. The
``features`` input of an int8 export has a ``transform`` too (``mean``, ``std``,
``clip``): the standardisation the float network does inside, done before quantizing
(see :mod:`ecg.export.features`). A network with boosted trees blended in has a third
int8 input, ``tree_features``, whose ``transform`` (``from: "features"``,
``thresholds``: per column, a feature and its sorted thresholds, the column holding how
many lie below the value) computes it from the same raw features: the caller gives
windows and features only.
``model_config`` is the full ``KerasBaseModel`` config, so ``ecg predict`` can run the
exported file exactly as the saved model. The ONNX file also carries the same JSON in
its ``metadata_props`` under the key ``"ecg"``.
"""
import json
import os

from ecg import __version__
from ecg.errors import ModelError

FORMAT = "ecg-export"
FORMAT_VERSION = 1
LAYOUTS = {"input": {3: "(batch, steps, channels)", 2: "(batch, features)"},
           "output": {3: "(batch, steps, classes)", 2: "(batch, classes)"}}


def sidecar_path(path):
    """The sidecar JSON of exported file ``path``: ``<path>.json``.

    Examples
    --------
    >>> sidecar_path("out/cinc2017.tflite")
    'out/cinc2017.tflite.json'
    """
    return os.fspath(path) + ".json"


def sampling_rate(recipe, fs=None):
    """Rate in Hz of the windows a model sees: its recipe's last ``resample_signals``, else ``fs``.

    Examples
    --------
    >>> sampling_rate([{"band_pass_signals": {"low": 0.5}}, {"resample_signals": {"fs": 100.0}}])
    100.0
    >>> sampling_rate([], fs=360) is None, sampling_rate([], fs=360.0)
    (False, 360.0)
    """
    rates = [step["resample_signals"]["fs"] for step in recipe or [] if "resample_signals" in step]
    if rates:
        return float(rates[-1])
    return None if fs is None else float(fs)


def tensor_entry(name, shape, dtype, quantization=None, role="input"):
    """One ``inputs``/``outputs`` row: name, shape (``None`` for the batch), dtype, layout, scale.

    Examples
    --------
    >>> tensor_entry("ecg", (None, 3000, 1), "int8", (0.036, -4))
    {'name': 'ecg', 'shape': [None, 3000, 1], 'dtype': 'int8', 'layout': '(batch, steps, channels)', 'scale': 0.036, 'zero_point': -4}
    """
    shape = [None if dim is None or dim < 0 else int(dim) for dim in shape]
    entry = {"name": str(name), "shape": shape, "dtype": str(dtype), "layout": LAYOUTS[role].get(len(shape), "")}
    if quantization is not None:
        scale, zero_point = quantization
        entry.update(scale=float(scale), zero_point=int(zero_point))
    return entry


def export_metadata(config, model_format, inputs, outputs, quantization=None, fs=None, source=None):
    """The sidecar dict of an exported model (see the module docstring).

    Parameters
    ----------
    config : KerasModelConfig
        Config of the exported model.
    model_format : {"onnx", "tflite"}
    inputs, outputs : list of dict
        Rows made by :func:`tensor_entry`, in the order the network takes them.
    quantization : {None, "int8"}
    fs : float, optional
        Sampling rate of the windows in Hz, when the recipe does not resample.
    source : str, optional
        The saved model it was exported from.
    """
    import keras

    return {"format": FORMAT, "format_version": FORMAT_VERSION, "ecg_version": __version__,
            "keras_version": keras.__version__, "source": None if source is None else str(source),
            "model_format": model_format, "quantization": quantization or "float32",
            "architecture": config.model.name, "task": config.task,
            "classes": list(config.classes) if config.classes else None,
            "sampling_rate_hz": sampling_rate(config.preprocess, fs),
            "inputs": inputs, "outputs": outputs,
            "preprocess": list(config.preprocess),
            "model_config": config.model_dump(mode="json", exclude={"path"})}


def write_sidecar(path, metadata):
    """Write ``metadata`` to the sidecar of exported file ``path``; return the sidecar's path."""
    target = sidecar_path(path)
    tmp = target + ".tmp"
    with open(tmp, "w", encoding="utf-8") as file:
        json.dump(metadata, file, indent=2)
    os.replace(tmp, target)
    return target


def read_sidecar(path):
    """The sidecar dict of exported file ``path``.

    Raises
    ------
    ModelError
        The sidecar is missing, unreadable or not an ``ecg-export`` of a known version.
    """
    target = sidecar_path(path)
    if not os.path.isfile(target):
        raise ModelError(f"{path} has no sidecar {target}: export it with `ecg export`, which writes the "
                         "classes, input shape and preprocessing recipe there")
    try:
        with open(target, encoding="utf-8") as file:
            metadata = json.load(file)
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{target} is unreadable: {exc}") from exc
    if metadata.get("format") != FORMAT or metadata.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{target} is not an {FORMAT!r} sidecar of version {FORMAT_VERSION} "
                         f"(format {metadata.get('format')!r}, version {metadata.get('format_version')!r})")
    return metadata
