"""Ready task pipelines: a validated YAML config plus the code its ``task`` key names.

======================  ==========================================================
``task``                module
======================  ==========================================================
``rhythm``              :mod:`ecg.tasks.rhythm`: one label per record (CinC 2017)
``beats``               :mod:`ecg.tasks.beats`: one AAMI class per beat (MIT-BIH DS1 -> DS2)
``delineation``         :mod:`ecg.tasks.delineation`: P/QRS/T masks per lead (LUDB)
``denoising``           :mod:`ecg.tasks.denoising`: noisy ECG in, clean ECG out (MIT-BIH)
``anomaly``             :mod:`ecg.tasks.anomaly`: an anomaly score per beat, learnt from normal beats
``forecasting``         :mod:`ecg.tasks.forecasting`: the next samples of a lead from its past
======================  ==========================================================

Each module defines ``Config`` (a :class:`~ecg.tasks.base.TaskConfig`) and
``run(config, run_dir, resume=False, log=print) -> dict`` (the test metrics), and
``evaluate(model_path, dataset, labels, log=print) -> dict``, and ``RECORD_LABELS``: whether
``evaluate`` needs a label per record (a ``REFERENCE.csv``) or reads its reference from
each record's annotation files.
"""
from importlib import import_module

from ecg.errors import ConfigError

TASKS = {"rhythm": "ecg.tasks.rhythm", "delineation": "ecg.tasks.delineation", "beats": "ecg.tasks.beats",
         "denoising": "ecg.tasks.denoising", "anomaly": "ecg.tasks.anomaly",
         "forecasting": "ecg.tasks.forecasting"}


def get_task(name):
    """The module of task ``name`` (a key of :data:`TASKS`)."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; the tasks are {sorted(TASKS)}")
    return import_module(TASKS[name])
