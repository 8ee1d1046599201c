"""Epoch-by-epoch training with atomic checkpoints that a killed run resumes from.

:func:`train_epochs` runs a training pipeline one epoch at a time. Epoch ``e`` (from 0)
runs with ``shuffle=seed + e``, which fixes both the order of the records and batchflow's
per-batch random generators (random windows, augmentation), so an epoch gives the same
batches whether it runs in the first process or after a restart. Every ``every``
epochs a checkpoint is written into ``checkpoint_dir``::

    checkpoint_dir/
        epoch-0004/model/        KerasBaseModel.save: model.keras (weights and optimizer
                                 state) and ecg_model.json
        epoch-0004/seeds.npz     states of the network's Keras seed generators (dropout)
        state.json               epoch counter, history, batch logs: written last

``state.json`` is replaced atomically (temp file, fsync, ``os.replace``) once the model
is complete, so it is the commit point: a run killed at any moment (even by SIGKILL)
leaves either the previous checkpoint or the new one, never a mix. With
``resume=True`` the last committed checkpoint is loaded into the pipeline's model and
training goes on from the next epoch; with fixed seeds the result is identical to an
uninterrupted run.

Keras saves no seed-generator state in ``model.keras`` (a reloaded dropout layer would
draw new masks), so the states are saved beside the model and put back on resume.
"""
import json
import logging
import os
import re
import shutil
import tempfile
import time

import numpy as np

from ecg.errors import ConfigError, ModelError
from ecg.report import REPORT_VARIABLE

FORMAT = "ecg-training-checkpoint"
FORMAT_VERSION = 1
STATE_FILE = "state.json"
MODEL_DIR = "model"
SEEDS_FILE = "seeds.npz"
_EPOCH_DIR = re.compile(r"^epoch-\d+$")
logger = logging.getLogger("ecg")


def train_epochs(pipeline, model_name, n_epochs, batch_size, checkpoint_dir=None, every=1, resume=False,
                 seed=0, on_epoch=None, **run_kwargs):
    """Train ``pipeline``'s model ``model_name`` for ``n_epochs``, checkpointing as it goes.

    Parameters
    ----------
    pipeline : batchflow.Pipeline
        A training pipeline with a dataset, whose model (a
        :class:`~ecg.models.KerasBaseModel` given to ``init_model``) takes one
        ``train_on_batch`` step per batch.
    model_name : str
        The model's name in the pipeline.
    n_epochs : int
        Total number of epochs, counting those done before a resume.
    batch_size : int
        Records per batch.
    checkpoint_dir : str or Path, optional
        Folder of the checkpoints; none are written without it.
    every : int
        Write a checkpoint after every ``every`` epochs (and after the last one).
    resume : bool
        Load the last checkpoint in ``checkpoint_dir`` (when there is one) and go on
        from the epoch after it. The checkpoint must come from a run with the same
        ``seed`` and ``batch_size``.
    seed : int
        Epoch ``e`` runs with ``shuffle=seed + e``.
    on_epoch : callable, optional
        Called as ``on_epoch(logs)`` after each epoch with the epoch's dict (below),
        e.g. to print it or to validate; raising :class:`StopTraining` ends the run
        after this epoch.
    run_kwargs
        More arguments of ``pipeline.run`` (``drop_last``, ``prefetch``...).

    Returns
    -------
    list of dict
        One dict per epoch, from the first: ``epoch`` (1-based), ``batches``,
        ``seconds`` and the mean of each loss and metric over the epoch's batches.

    Raises
    ------
    ConfigError
        Invalid arguments, or a checkpoint from a run with another seed or batch size.
    ModelError
        An unreadable checkpoint, or an epoch that trained fewer batches than it has
        (with ``prefetch`` batchflow prints a failing batch's exception and stops the
        epoch instead of raising).

    Examples
    --------
    >>> history = train_epochs(pipeline, "cnn", n_epochs=20, batch_size=128,       # doctest: +SKIP
    ...                        checkpoint_dir="runs/af/checkpoints", resume=True, drop_last=True)
    >>> history[-1]["loss"]                                                          # doctest: +SKIP
    0.41
    """
    if not isinstance(every, int) or every < 1:
        raise ConfigError(f"Expected every >= 1 epochs. Received: every={every!r}.")
    if resume and checkpoint_dir is None:
        raise ConfigError("resume=True needs the checkpoint_dir of the run to resume")
    if {"n_epochs", "n_iters", "shuffle", "batch_size"} & run_kwargs.keys():
        raise ConfigError("train_epochs sets n_epochs, shuffle and batch_size of each run itself; "
                          f"do not pass {sorted({'n_epochs', 'n_iters', 'shuffle', 'batch_size'} & run_kwargs.keys())}")
    settings = {"seed": seed, "batch_size": batch_size}
    history, start = [], 0
    state = read_state(checkpoint_dir) if resume else None
    if state is not None:
        for key, value in settings.items():
            if state["settings"].get(key) != value:
                raise ConfigError(f"the checkpoint in {checkpoint_dir} was trained with {key}="
                                  f"{state['settings'].get(key)!r}, not {value!r}: resume with the same "
                                  "settings, or start a new run in another folder")
        restore_checkpoint(pipeline, model_name, checkpoint_dir, state)
        history, start = list(state["history"]), state["epoch"]
        logger.info("resumed from %s after epoch %d", checkpoint_dir, start)

    for epoch in range(start, n_epochs):
        model = _pipeline_model(pipeline, model_name)
        trained_before = len(model.hist) if model is not None else 0
        skipped_before = _skipped_batches(pipeline)
        began = time.perf_counter()
        pipeline.run(batch_size=batch_size, n_epochs=1, shuffle=seed + epoch, **run_kwargs)
        model = pipeline.m(model_name)
        batches = model.hist[trained_before:]
        _check_all_batches_trained(pipeline, len(batches), _skipped_batches(pipeline) - skipped_before,
                                   batch_size, run_kwargs.get("drop_last", False), epoch)
        logs = {"epoch": epoch + 1, "batches": len(batches), "seconds": time.perf_counter() - began}
        for key in batches[0] if batches else ():
            logs[key] = float(np.mean([b[key] for b in batches]))
        history.append(logs)
        stop = None
        if on_epoch is not None:
            try:
                on_epoch(logs)
            except StopTraining as exc:
                stop = exc
        if checkpoint_dir is not None and ((epoch + 1) % every == 0 or epoch + 1 == n_epochs or stop):
            save_checkpoint(model, checkpoint_dir, epoch + 1, history, settings)
        if stop is not None:
            logger.info("stopped after epoch %d: %s", epoch + 1, stop)
            break
    if pipeline.has_variable(REPORT_VARIABLE) and pipeline.v(REPORT_VARIABLE):
        logger.warning(pipeline.v(REPORT_VARIABLE).summary())
    return history


class StopTraining(Exception):
    """Raised by an ``on_epoch`` callback of :func:`train_epochs` to end the run after this epoch
    (early stopping); the epoch is kept and checkpointed."""


def _pipeline_model(pipeline, model_name):
    """The pipeline's model, or ``None`` while it is a dynamic model not yet made."""
    model = pipeline.models.get(model_name)
    return model if hasattr(model, "hist") else None


def _skipped_batches(pipeline):
    if pipeline.has_variable(REPORT_VARIABLE) and pipeline.v(REPORT_VARIABLE) is not None:
        return pipeline.v(REPORT_VARIABLE).skipped_batches
    return 0


def _check_all_batches_trained(pipeline, trained, skipped, batch_size, drop_last, epoch):
    n_items = len(pipeline.dataset.indices) if pipeline.dataset is not None else None
    if n_items is None:
        return
    expected = n_items // batch_size if drop_last else -(-n_items // batch_size)
    if trained + skipped < expected:
        raise ModelError(f"epoch {epoch + 1} trained {trained} of its {expected} batches"
                         f"{f' ({skipped} skipped with no record left)' if skipped else ''}: a batch failed; "
                         "with prefetch, batchflow prints the batch's exception above and stops the epoch")


# --- checkpoints ----------------------------------------------------------------------------
def save_checkpoint(model, checkpoint_dir, epoch, history, settings=None):
    """Write a checkpoint of ``model`` after ``epoch`` epochs; ``state.json`` is written last.

    Parameters
    ----------
    model : KerasBaseModel
        A built model.
    checkpoint_dir : str or Path
        The run's checkpoint folder.
    epoch : int
        Epochs done.
    history : list of dict
        Per-epoch logs so far.
    settings : dict, optional
        Run settings a resume must match (``seed``, ``batch_size``).

    Returns
    -------
    str
        The checkpoint's folder.
    """
    checkpoint_dir = os.path.abspath(os.fspath(checkpoint_dir))
    folder = os.path.join(checkpoint_dir, f"epoch-{epoch:04d}")
    model.save(os.path.join(folder, MODEL_DIR))
    states = {f"g{i}": np.asarray(state) for i, state in enumerate(seed_states(model.model))}
    _write_atomic(os.path.join(folder, SEEDS_FILE), lambda file: np.savez(file, **states))
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "epoch": int(epoch),
             "checkpoint": os.path.basename(folder), "settings": dict(settings or {}),
             "history": history, "batch_logs": [dict(logs) for logs in model.hist]}
    text = json.dumps(state, indent=1)
    _write_atomic(os.path.join(checkpoint_dir, STATE_FILE), lambda file: file.write(text.encode()))
    for name in os.listdir(checkpoint_dir):        # older checkpoints and any left by a killed run
        if _EPOCH_DIR.match(name) and name != state["checkpoint"]:
            shutil.rmtree(os.path.join(checkpoint_dir, name), ignore_errors=True)
    return folder


def read_state(checkpoint_dir):
    """The committed ``state.json`` of ``checkpoint_dir`` as a dict, or ``None`` when there is none."""
    path = os.path.join(os.fspath(checkpoint_dir), STATE_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as file:
            state = json.load(file)
    except (OSError, ValueError) as exc:
        raise ModelError(f"checkpoint state {path} is unreadable: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ModelError(f"{path} is not an ecg training checkpoint")
    if state.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{path} has checkpoint format version {state.get('format_version')}; this ecg "
                         f"reads version {FORMAT_VERSION}: start the run again")
    return state


def restore_checkpoint(pipeline, model_name, checkpoint_dir, state=None):
    """Load the committed checkpoint of ``checkpoint_dir`` into the pipeline's model; return the model."""
    state = state or read_state(checkpoint_dir)
    if state is None:
        raise ModelError(f"no checkpoint in {checkpoint_dir} ({STATE_FILE} is missing)")
    folder = os.path.join(os.fspath(checkpoint_dir), state["checkpoint"])
    pipeline.before.run()                                   # makes the models of init_model
    model = pipeline.m(model_name)
    if not hasattr(model, "hist"):
        raise ModelError(f"model {model_name!r} of the pipeline cannot be resumed: it keeps no history")
    model.load(os.path.join(folder, MODEL_DIR))
    with np.load(os.path.join(folder, SEEDS_FILE), allow_pickle=False) as saved:
        states = [saved[f"g{i}"] for i in range(len(saved.files))]
    variables = seed_states(model.model)
    if len(variables) != len(states):
        raise ModelError(f"checkpoint {folder} holds {len(states)} seed generator states, the network "
                         f"has {len(variables)}")
    for variable, value in zip(variables, states):
        variable.assign(value)
    with model.lock:
        model.hist.clear()
        model.hist.extend(state["batch_logs"])
    return model


def seed_states(network):
    """The state variables of the Keras seed generators in ``network``'s layers (dropout...).

    ``keras.Layer.variables`` is ``weights`` plus the seed generators' ``state``
    variables, each layer's before those of the layers inside it; so the states are the
    variables that are not weights, in layer order.

    Args:
        network: A ``keras.Model``.

    Returns:
        A list of ``keras.Variable`` of shape ``(2,)``.
    """
    weights = {id(variable) for variable in network.weights}
    return [variable for variable in network.variables if id(variable) not in weights]


def _write_atomic(path, write):
    """Write a file through ``write(binary_file)`` into a temp file, fsync it and rename it into place."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
