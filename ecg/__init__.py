"""ecg: deep learning on electrocardiograms with chainable batch pipelines.

``import ecg`` is cheap: batchflow, scipy and Keras load only when the names that
need them are first used (``ecg.EcgBatch``, ``ecg.KerasBaseModel``, ...).
"""
from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "EcgBatch": "ecg.batch",
    "EcgDataset": "ecg.data.dataset",
    "BaseModel": "ecg.models.base",
    "KerasBaseModel": "ecg.models.keras_model",
    "ModelFactory": "ecg.models.factory",
    "model_factory": "ecg.models.factory",
    "EcgError": "ecg.errors",
    "RecordError": "ecg.errors",
    "ConfigError": "ecg.errors",
    "metrics": "ecg.metrics",
    "ops": "ecg.ops",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ecg' has no attribute {name!r}")
    mod = import_module(module)
    value = mod if module.endswith("." + name) else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
