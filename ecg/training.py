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
        epoch-0004/run.json      the run id and epoch the folder belongs to
        state.json               run id, epoch counter, history, batch logs: written last

``state.json`` is replaced atomically (temp file, fsync, ``os.replace``) once the model
is complete, so it is the commit point: a run killed at any moment (even by SIGKILL)
leaves either the previous checkpoint or the new one, never a mix. With
``resume=True`` the last committed checkpoint is loaded into the pipeline's model and
training goes on from the next epoch; with fixed seeds the result is identical to an
uninterrupted run.

A checkpoint folder belongs to one run: ``state.json`` and each epoch folder carry the
run's id, a resume refuses an epoch folder of another run, and a fresh run removes an
earlier run's ``state.json`` (then its epoch folders) before it trains, so a fresh run
that crashes can never be resumed as a mix of two runs. A damaged checkpoint (a missing
key, a missing or unreadable seed file, model or epoch folder) is one
:class:`~ecg.errors.ModelError`; no pickle is ever loaded from a checkpoint.

Each epoch's batches run in this module's own loop (:func:`run_epoch`), with or without
``prefetch``: batchflow 0.10.1's prefetching executor hangs when a batch fails, when the
first batch of a run is skipped or when a filter empties a batch, so it is not used.

Keras saves no seed-generator state in ``model.keras`` (a reloaded dropout layer would
draw new masks), so the states are saved beside the model and put back on resume.
"""
import asyncio
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ecg.errors import ConfigError, EcgError, ModelError
from ecg.report import REPORT_VARIABLE, pipeline_report

FORMAT = "ecg-training-checkpoint"
FORMAT_VERSION = 2
STATE_FILE = "state.json"
MODEL_DIR = "model"
SEEDS_FILE = "seeds.npz"
RUN_FILE = "run.json"
RUN_KWARGS = ("drop_last", "prefetch")
_EPOCH_DIR = re.compile(r"^epoch-\d+$")
_STATE_KEYS = {"epoch": int, "checkpoint": str, "run_id": str, "settings": dict, "history": list,
               "batch_logs": list}
logger = logging.getLogger("ecg")


def train_epochs(pipeline, model_name, n_epochs, batch_size, checkpoint_dir=None, every=1, resume=False,
                 seed=0, on_epoch=None, progress=None, **run_kwargs):
    """Train ``pipeline``'s model ``model_name`` for ``n_epochs``, checkpointing as it goes.

    Each epoch runs the pipeline's batches itself, in order, one at a time or with
    ``prefetch`` batches in flight in worker threads (this loop's own queue, not
    batchflow's prefetch, which hangs when a batch is skipped or fails). A batch skipped by
    a filter or by ``load(on_error="skip")`` (batchflow's ``SkipBatchException``) is
    counted and the epoch goes on; a batch that fails ends the run with its error.

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
        Folder of the checkpoints; none are written without it. It belongs to one run:
        a fresh run (``resume=False``) removes the checkpoint of an earlier run there
        first (its ``state.json`` before anything else), with a warning.
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
    progress : str or bool or EpochProgress, optional
        What is shown while an epoch runs (:class:`ecg.progress.EpochProgress`):
        ``"auto"`` (a bar of batches with the running loss, metrics and ETA in a
        terminal or a notebook, one line per epoch otherwise), ``"bar"``, ``"line"``,
        ``"off"``; default :func:`ecg.progress.get_default` (``"auto"``).
    run_kwargs
        ``drop_last`` (bool) and ``prefetch`` (int, batches prepared ahead; 0 by default).

    Returns
    -------
    list of dict
        One dict per epoch, from the first: ``epoch`` (1-based), ``batches`` (trained),
        ``seconds`` and the mean of each loss and metric over the epoch's batches.

    Raises
    ------
    ConfigError
        Invalid arguments, or a checkpoint from a run with another seed or batch size.
    ModelError
        An unreadable or damaged checkpoint, or a batch that failed with an error that
        is not an ecg error (an :class:`~ecg.errors.EcgError` of a batch, e.g. a
        ``RecordError`` naming its record, is raised as it is); the message names the
        epoch and the batch's records.

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
    unknown = sorted(run_kwargs.keys() - set(RUN_KWARGS))
    if unknown:
        raise ConfigError(f"train_epochs runs each epoch itself and takes {', '.join(RUN_KWARGS)} of "
                          f"pipeline.run (n_epochs, shuffle and batch_size are its own); do not pass {unknown}")
    prefetch = run_kwargs.get("prefetch", 0) or 0
    if not isinstance(prefetch, int) or isinstance(prefetch, bool) or prefetch < 0:
        raise ConfigError(f"Expected prefetch >= 0 batches. Received: prefetch={prefetch!r}.")
    drop_last = bool(run_kwargs.get("drop_last", False))
    if pipeline.dataset is None:
        raise ConfigError("the pipeline has no dataset: build it from one (dataset.p...) or use pipeline << dataset")
    settings = {"seed": seed, "batch_size": batch_size}
    history, start, run_id = [], 0, uuid.uuid4().hex
    state = read_state(checkpoint_dir) if resume else None
    if state is not None:
        for key, value in settings.items():
            if state["settings"].get(key) != value:
                raise ConfigError(f"the checkpoint in {checkpoint_dir} was trained with {key}="
                                  f"{state['settings'].get(key)!r}, not {value!r}: resume with the same "
                                  "settings, or start a new run in another folder")
        restore_checkpoint(pipeline, model_name, checkpoint_dir, state)
        history, start, run_id = list(state["history"]), state["epoch"], state["run_id"]
        logger.info("resumed run %s from %s after epoch %d", run_id, checkpoint_dir, start)
    elif checkpoint_dir is not None:
        _start_clean(checkpoint_dir)
    report_unlisted_labels(pipeline)
    from ecg.progress import EpochProgress

    shown = progress if isinstance(progress, EpochProgress) else EpochProgress(progress)
    total = epoch_batches(pipeline.dataset, batch_size, drop_last)

    for epoch in range(start, n_epochs):
        model = _pipeline_model(pipeline, model_name)
        trained_before = len(model.hist) if model is not None else 0
        began = time.perf_counter()
        shown.start(epoch + 1, n_epochs, total)

        def running(first=trained_before):
            batches = pipeline.m(model_name).hist[first:]
            return {key: float(np.mean([b[key] for b in batches])) for key in (batches[0] if batches else ())}
        try:
            run_epoch(pipeline, batch_size, seed + epoch, prefetch=prefetch, drop_last=drop_last,
                      name=f"epoch {epoch + 1}", on_batch=lambda: shown.batch(running))
        finally:
            shown.close()                   # a failed epoch leaves no bar open; a done one is ended below
        model = pipeline.m(model_name)
        batches = model.hist[trained_before:]
        logs = {"epoch": epoch + 1, "batches": len(batches), "seconds": time.perf_counter() - began}
        for key in batches[0] if batches else ():
            logs[key] = float(np.mean([b[key] for b in batches]))
        shown.end(logs)
        history.append(logs)
        stop = None
        if on_epoch is not None:
            try:
                on_epoch(logs)
            except StopTraining as exc:
                stop = exc
        if checkpoint_dir is not None and ((epoch + 1) % every == 0 or epoch + 1 == n_epochs or stop):
            save_checkpoint(model, checkpoint_dir, epoch + 1, history, settings, run_id=run_id)
        if stop is not None:
            logger.info("stopped after epoch %d: %s", epoch + 1, stop)
            break
    if pipeline.has_variable(REPORT_VARIABLE) and pipeline.v(REPORT_VARIABLE):
        logger.warning(pipeline.v(REPORT_VARIABLE).summary())
    return history


def epoch_batches(dataset, batch_size, drop_last=False):
    """Batches in one epoch of ``dataset`` (a batch size above its size is clipped), ``None`` if unknown."""
    try:
        n_items = len(dataset)
    except TypeError:
        return None
    if not isinstance(batch_size, int) or batch_size < 1 or n_items == 0:
        return None
    size = min(batch_size, n_items)
    return n_items // size if drop_last else -(-n_items // size)


class StopTraining(Exception):
    """Raised by an ``on_epoch`` callback of :func:`train_epochs` to end the run after this epoch
    (early stopping); the epoch is kept and checkpointed."""


def _pipeline_model(pipeline, model_name):
    """The pipeline's model, or ``None`` while it is a dynamic model not yet made."""
    model = pipeline.models.get(model_name)
    return model if hasattr(model, "hist") else None


# --- running one epoch ------------------------------------------------------------------------
def run_epoch(pipeline, batch_size, shuffle, prefetch=0, drop_last=False, name="epoch", on_batch=None):
    """Run ``pipeline`` once over its dataset; return ``(done, skipped)`` batch counts.

    The batches, their order and their random seeds are those of
    ``pipeline.run(batch_size, n_epochs=1, shuffle=shuffle, drop_last=drop_last)``; with
    ``prefetch`` they run in ``prefetch + 1`` worker threads, handed out in order. A
    skipped batch (``SkipBatchException``, e.g. :class:`~ecg.report.EmptyBatchError`) is
    counted and the run goes on; a failing batch ends it once the batches already
    running are done (nothing is left waiting).

    Parameters
    ----------
    pipeline : batchflow.Pipeline
        A pipeline with a dataset (no ``rebatch``).
    batch_size : int
        Records per batch.
    shuffle : bool or int
        As in ``pipeline.run``: an int seeds the order and the batches' random generators.
    prefetch : int
        Batches prepared ahead of the one being handed out; 0 runs them one by one.
    drop_last : bool
        Leave out the last, shorter batch.
    name : str
        What the run is, in error messages (``"epoch 3"``).
    on_batch : callable, optional
        Called with no argument after each batch run to its end (a progress bar).

    Returns
    -------
    tuple of int
        Batches run to their end, batches skipped.

    Raises
    ------
    EcgError
        A batch's own ecg error (``RecordError``, ``LabelError``...), as it was raised.
    ModelError
        A batch failed with any other error; the message names ``name``, the batch and
        its records, and the error is chained.
    """
    from batchflow import SkipBatchException
    from batchflow.exceptions import StopPipeline
    from batchflow.pipeline import REBATCH_ID
    from batchflow.utils_random import make_seed_sequence

    if pipeline._actions and pipeline._actions[0]["name"] == REBATCH_ID:   # noqa: SLF001
        raise ConfigError("train_epochs cannot run a pipeline that starts with rebatch")
    # The seed tree of batchflow's PipelineExecutor.gen_batch: dataset, pipeline, batches.
    seeds = make_seed_sequence(shuffle)
    if shuffle is False or (isinstance(shuffle, int) and not isinstance(shuffle, bool) and shuffle < 0):
        seeds.spawn(1)
        shuffle = False
    else:
        shuffle = seeds.spawn(1)[0]
    pipeline_seed, batch_seeds = seeds.spawn(2)
    pipeline.reset("iter", seed=pipeline_seed)
    batches = pipeline.dataset.gen_batch(batch_size, n_epochs=1, shuffle=shuffle, drop_last=drop_last,
                                         iter_params=pipeline.iter_params)
    if pipeline.before:
        pipeline.before.run()
    random = pipeline.random
    done = skipped = 0
    pool = ThreadPoolExecutor(prefetch + 1, thread_name_prefix="ecg-epoch") if prefetch else None
    pending = deque()

    def submit():
        batch = next(batches, None)
        if batch is None:
            return
        number = done + skipped + len(pending) + 1
        kwargs = {"iteration": number, "seed": batch_seeds.spawn(1)[0]}
        if pool is None:
            pending.append((number, batch, _Ran(pipeline.execute_for, batch, **kwargs)))
        else:
            pending.append((number, batch, pool.submit(_execute_in_thread, pipeline, batch, **kwargs)))

    try:
        for _ in range(prefetch + 1):
            submit()
        while pending:
            number, batch, future = pending.popleft()
            try:
                future.result()
            except SkipBatchException:
                skipped += 1
            except StopPipeline:
                break
            except EcgError:
                raise
            except Exception as exc:
                records = [str(ix) for ix in batch.indices]
                shown = ", ".join(records[:10]) + (f" and {len(records) - 10} more" if len(records) > 10 else "")
                raise ModelError(f"{name}: batch {number} (records {shown}) failed with "
                                 f"{type(exc).__name__}: {exc}") from exc
            else:
                done += 1
                if on_batch is not None:
                    on_batch()
            submit()
    finally:
        for _, _, future in pending:
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=True)
    pipeline.random, pipeline.random_seed = random, pipeline_seed
    if pipeline.after:
        pipeline.after.run()
    return done, skipped


def _execute_in_thread(pipeline, batch, **kwargs):
    """``pipeline.execute_for(batch)`` in a worker thread, with an event loop of its own (closed after)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return pipeline.execute_for(batch, **kwargs)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class _Ran:
    """A batch run at once in this thread, with the interface of a ``Future``."""

    def __init__(self, function, *args, **kwargs):
        self.error, self.value = None, None
        try:
            self.value = function(*args, **kwargs)
        except Exception as exc:        # noqa: BLE001 -- raised again by result(), as a Future does
            self.error = exc

    def result(self):
        """The batch's result, or its exception raised again."""
        if self.error is not None:
            raise self.error
        return self.value

    def cancel(self):
        """Nothing to cancel: the batch has run."""


def report_unlisted_labels(pipeline):
    """Report the records a label table of ``pipeline`` lists that have no header beside the dataset's.

    A record labelled in ``load(src=..., fmt="csv")``'s table whose header is missing is in
    no batch, so no batch reports it. With ``on_error="skip"`` each one goes to that
    action's ``report`` (or the pipeline's ``"ecg_errors"``) as left out; otherwise a
    warning counts them.

    Returns
    -------
    list of str
        The records found, in table order.
    """
    from ecg.io.labels import read_labels

    dataset = pipeline.dataset
    try:
        paths = [dataset.index.get_fullpath(ix) for ix in dataset.indices]
    except (AttributeError, KeyError, TypeError):
        return []                                 # not a dataset of record files
    folders = sorted({os.path.dirname(os.fspath(path)) for path in paths if isinstance(path, (str, os.PathLike))})
    indexed = {str(ix) for ix in dataset.indices}
    found = []
    for action in pipeline._actions:            # noqa: SLF001 -- the load actions of the pipeline
        kwargs = action.get("kwargs") or {}
        src = kwargs.get("src")
        if action.get("name") != "load" or kwargs.get("fmt") != "csv" or not isinstance(src, (str, os.PathLike)):
            continue
        try:
            labels = read_labels(src, index_col=kwargs.get("index_col"), label_col=kwargs.get("label_col"))
        except EcgError:
            continue                            # the action itself says what is wrong with the table
        missing = [str(record) for record in labels.index if str(record) not in indexed and not any(
            os.path.isfile(os.path.join(folder, f"{record}.hea")) or os.path.isfile(os.path.join(folder, f"{record}.edf"))
            for folder in folders)]
        if not missing:
            continue
        where = " or ".join(folders)
        if kwargs.get("on_error") == "skip":
            report = kwargs.get("report") or pipeline_report(pipeline)
            for record in missing:
                report.add(record, f"labelled in {src} but has no header file in {where}")
        else:
            logger.warning("%d record(s) labelled in %s have no header in %s, so they are not trained on: %s",
                           len(missing), src, where, ", ".join(missing[:10]))
        found.extend(missing)
    return found


# --- checkpoints ----------------------------------------------------------------------------
def save_checkpoint(model, checkpoint_dir, epoch, history, settings=None, run_id=None):
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
    run_id : str, optional
        The run the checkpoint belongs to, written in ``state.json`` and in the epoch
        folder's ``run.json`` (a new one by default).

    Returns
    -------
    str
        The checkpoint's folder.
    """
    checkpoint_dir = os.path.abspath(os.fspath(checkpoint_dir))
    run_id = run_id or uuid.uuid4().hex
    folder = os.path.join(checkpoint_dir, f"epoch-{epoch:04d}")
    model.save(os.path.join(folder, MODEL_DIR))
    states = {f"g{i}": np.asarray(state) for i, state in enumerate(seed_states(model.model))}
    _write_atomic(os.path.join(folder, SEEDS_FILE), lambda file: np.savez(file, **states))
    owner = json.dumps({"run_id": run_id, "epoch": int(epoch)}).encode()
    _write_atomic(os.path.join(folder, RUN_FILE), lambda file: file.write(owner))
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "run_id": run_id, "epoch": int(epoch),
             "checkpoint": os.path.basename(folder), "settings": dict(settings or {}),
             "history": history, "batch_logs": [dict(logs) for logs in model.hist]}
    text = json.dumps(state, indent=1)
    _write_atomic(os.path.join(checkpoint_dir, STATE_FILE), lambda file: file.write(text.encode()))
    for name in os.listdir(checkpoint_dir):        # older checkpoints and any left by a killed run
        if _EPOCH_DIR.match(name) and name != state["checkpoint"]:
            shutil.rmtree(os.path.join(checkpoint_dir, name), ignore_errors=True)
    return folder


def _start_clean(checkpoint_dir):
    """Empty ``checkpoint_dir`` of another run's checkpoints before a fresh run writes its own.

    ``state.json`` goes first: once it is gone nothing there is trusted, so a fresh run
    killed at any point can never be resumed from a mix of two runs.
    """
    checkpoint_dir = os.fspath(checkpoint_dir)
    if not os.path.isdir(checkpoint_dir):
        return
    state_path = os.path.join(checkpoint_dir, STATE_FILE)
    if os.path.exists(state_path):
        try:
            with open(state_path, encoding="utf-8") as file:
                old = json.load(file)
            what = f"the checkpoint of run {old.get('run_id', '?')} after epoch {old.get('epoch', '?')}"
        except (OSError, ValueError, AttributeError):
            what = "an unreadable checkpoint"
        logger.warning("a fresh run in %s: %s there is removed (pass resume=True to go on from a checkpoint "
                       "instead)", checkpoint_dir, what)
        os.unlink(state_path)
    for name in os.listdir(checkpoint_dir):
        if _EPOCH_DIR.match(name):
            shutil.rmtree(os.path.join(checkpoint_dir, name), ignore_errors=True)


def read_state(checkpoint_dir):
    """The committed ``state.json`` of ``checkpoint_dir`` as a dict, or ``None`` when there is none.

    Raises
    ------
    ModelError
        The file is unreadable, not a checkpoint of this format version, or lacks a key
        (or holds one of the wrong type).
    """
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
    problems = [f"no {key!r}" if key not in state else f"{key!r} is not a {kind.__name__}"
                for key, kind in _STATE_KEYS.items()
                if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool)]
    if not problems and not _EPOCH_DIR.match(state["checkpoint"]):
        problems.append(f"'checkpoint' {state['checkpoint']!r} is not an epoch folder")
    if problems:
        raise ModelError(f"checkpoint state {path} is damaged ({'; '.join(problems)}): start the run again "
                         "in an empty folder, or without resume")
    return state


def restore_checkpoint(pipeline, model_name, checkpoint_dir, state=None):
    """Load the committed checkpoint of ``checkpoint_dir`` into the pipeline's model; return the model.

    Raises
    ------
    ModelError
        No checkpoint, or a damaged one: a missing or unreadable epoch folder, model or
        seed file (never unpickled), or an epoch folder of another run.
    """
    state = state or read_state(checkpoint_dir)
    if state is None:
        raise ModelError(f"no checkpoint in {checkpoint_dir} ({STATE_FILE} is missing)")
    folder = os.path.join(os.fspath(checkpoint_dir), state["checkpoint"])
    owner = _read_owner(folder)
    if owner.get("run_id") != state["run_id"] or owner.get("epoch") != state["epoch"]:
        raise ModelError(f"checkpoint {folder} belongs to another run (run {owner.get('run_id')!r}, epoch "
                         f"{owner.get('epoch')!r}) than {STATE_FILE} (run {state['run_id']!r}, epoch "
                         f"{state['epoch']}): start the run again without resume")
    pipeline.before.run()                                   # makes the models of init_model
    model = pipeline.m(model_name)
    if not hasattr(model, "hist"):
        raise ModelError(f"model {model_name!r} of the pipeline cannot be resumed: it keeps no history")
    try:
        model.load(os.path.join(folder, MODEL_DIR))
    except (ModelError, ConfigError) as exc:
        raise ModelError(f"checkpoint {folder} is damaged: {exc}") from exc
    states = _read_seed_states(os.path.join(folder, SEEDS_FILE))
    variables = seed_states(model.model)
    if len(variables) != len(states) or any(tuple(v.shape) != s.shape for v, s in zip(variables, states)):
        raise ModelError(f"checkpoint {folder} holds {len(states)} seed generator states "
                         f"{[s.shape for s in states]}, the network has {len(variables)} "
                         f"{[tuple(v.shape) for v in variables]}: it is damaged or of another network")
    for variable, value in zip(variables, states):
        variable.assign(value.astype(variable.dtype))
    with model.lock:
        model.hist.clear()
        model.hist.extend(state["batch_logs"])
    return model


def _read_owner(folder):
    """The ``run.json`` of an epoch folder: ``{"run_id", "epoch"}``."""
    path = os.path.join(folder, RUN_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            owner = json.load(file)
    except (OSError, ValueError) as exc:
        raise ModelError(f"checkpoint {folder} is damaged or missing: {RUN_FILE} is unreadable ({exc}); "
                         "start the run again without resume") from exc
    if not isinstance(owner, dict):
        raise ModelError(f"checkpoint {folder} is damaged: {RUN_FILE} is not an object")
    return owner


def _read_seed_states(path):
    """The seed generator states of ``seeds.npz``, in order, as integer arrays (no pickle is ever loaded)."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            if not isinstance(saved, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            keys = [f"g{i}" for i in range(len(saved.files))]
            if sorted(saved.files) != sorted(keys):
                raise ValueError(f"its arrays are {sorted(saved.files)}, not {keys}")
            states = [saved[key] for key in keys]
    except Exception as exc:
        raise ModelError(f"checkpoint seed states {path} are missing or damaged ({type(exc).__name__}: {exc}); "
                         "start the run again without resume") from exc
    bad = [i for i, value in enumerate(states) if value.dtype.kind not in "iu"]
    if bad:
        raise ModelError(f"checkpoint seed states {path} are damaged: array g{bad[0]} holds {states[bad[0]].dtype}, "
                         "not integers")
    return states


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
