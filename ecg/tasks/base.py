"""What every ready task pipeline shares: its config, its run directory, its epoch loop.

A task pipeline is a validated YAML config (``pipelines/<name>.yaml``) plus the code its
``task`` key names (a module of :mod:`ecg.tasks`). ``ecg train CONFIG`` reads the YAML,
applies ``--set key.path=value`` overrides, validates it with the task's config class
(unknown keys are errors naming the valid ones) before any data is read, and runs the
task into one run directory:

=====================  =================================================================
``config.yaml``        the resolved config (after ``--set``)
``model/``             the saved model, with its preprocessing recipe
``metrics.json``       the test-split metrics (and the validation ones of the kept epoch)
``history.csv``        one row per epoch: loss, training metrics, validation score, seconds
                       (written after every epoch)
``tensorboard/``       the same numbers as TensorBoard event files
``predictions.csv``    the test predictions, one row per record (or beat, or wave)
``plots/``             training curves, confusion matrix or delineation example
=====================  =================================================================
"""
import csv
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import Field

from ecg.config import StrictConfig, parse_config
from ecg.errors import ConfigError


class DataConfig(StrictConfig):
    """Where the data comes from.

    Attributes
    ----------
    dataset : str
        A ready dataset of :mod:`ecg.data.datasets` (``cinc2017``, ``mitdb``, ``ludb``...).
    mirror : str, optional
        A PhysioNet mirror (folder or URL); default the environment's ``ECG_MIRROR``,
        else PhysioNet itself.
    path : str, optional
        An already extracted copy of the database (no download).
    downloads : str, optional
        Download folder (default ``./data/downloads``).
    limit : int, optional
        Use at most this many records of each split (smoke runs on a few records).
    split_seed : int
        Seed of the record split.
    """

    dataset: str
    mirror: Optional[str] = None
    path: Optional[str] = None
    downloads: Optional[str] = None
    limit: Optional[int] = Field(default=None, gt=0)
    split_seed: int = 0


class TrainConfig(StrictConfig):
    """How the network is trained.

    Attributes
    ----------
    epochs : int
        Passes over the training split.
    batch_size : int
        Records per batch.
    learning_rate : float
        Peak learning rate of AdamW, decayed to 0 on a cosine over the run.
    weight_decay : float
        AdamW's decoupled weight decay.
    seed : int
        Seeds the network, the shuffling and the augmentations.
    keep_best : bool
        Keep the weights of the epoch with the best validation score (else the last).
    average_last : int
        Also average the weights of the last ``average_last`` epochs (stochastic weight
        averaging; batch-norm statistics averaged too) and keep the average when its
        validation score beats the best single epoch's. 0: off.
    patience : int, optional
        Stop after this many epochs without a better validation score.
    prefetch : int
        Batches prepared ahead of the training step.
    members : int
        Train this many networks, with seeds ``seed``, ``seed + 1``, ..., one after the
        other, and keep their ensemble (:meth:`~ecg.models.KerasBaseModel.ensemble`: the
        mean of their probabilities). The metrics report each member too, which is the
        spread over seeds. Costs ``members`` times the training time.
    """

    epochs: int = Field(default=20, gt=0)
    batch_size: int = Field(default=64, gt=0)
    learning_rate: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=1e-3, ge=0)
    seed: int = 0
    keep_best: bool = True
    average_last: int = Field(default=0, ge=0)
    patience: Optional[int] = Field(default=None, gt=0)
    prefetch: int = Field(default=1, ge=0)
    members: int = Field(default=1, ge=1)


class TaskConfig(StrictConfig):
    """The keys every task config has; each task adds its own sections.

    Attributes
    ----------
    task : str
        The task module of :mod:`ecg.tasks` that runs this config.
    name : str
        Name of the pipeline (the zoo entry and the default run directory).
    data : DataConfig
    train : TrainConfig
    model : dict
        The architecture, ``{"name": ..., "params": {...}}`` (see ``ecg models``).
    """

    task: str
    name: str
    data: DataConfig
    train: TrainConfig = TrainConfig()
    model: dict[str, Any]


def apply_sets(data, sets):
    """Apply ``--set key.path=value`` overrides to a config dict (values parsed as YAML).

    Examples
    --------
    >>> apply_sets({"train": {"epochs": 20}}, ["train.epochs=2", "data.limit=8"])
    {'train': {'epochs': 2}, 'data': {'limit': 8}}
    """
    import yaml

    data = json.loads(json.dumps(data))
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set takes key.path=value, e.g. train.epochs=2. Received: {item!r}")
        node = data
        *parents, last = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a section of the config")
            node = child
        node[last] = yaml.safe_load(value)
    return data


def read_config(path, sets=None):
    """Read a task config (YAML or JSON), apply ``sets``, validate it with its task's class.

    Returns
    -------
    tuple
        ``(task module, validated config)``.

    Raises
    ------
    ConfigError
        The file is missing or not a mapping, the task is unknown, or a key is invalid.
    """
    import yaml

    from ecg.tasks import get_task

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"task config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, got {type(data).__name__}")
    data = apply_sets(data, sets)
    module = get_task(data.get("task"))
    config = parse_config(module.Config, data, f"task config {path.name}")
    check_before_data(config, f"task config {path.name}")
    return module, config


def check_before_data(config, where):
    """What the config schema alone cannot check, before any data is read: the architecture's
    parameters (``model.params`` keys and values, by the factory's schema, without Keras) and an
    extracted copy named by ``data.path``.

    Raises
    ------
    ConfigError
        Naming the key, and the valid keys or what to do.
    """
    from ecg.models.factory import model_factory

    name, params = config.model.get("name"), config.model.get("params")
    if not isinstance(name, str) or not model_factory.has(name):
        raise ConfigError(f"invalid {where}: model.name {name!r} is not an architecture; registered: "
                          f"{', '.join(model_factory.list())} (ecg models)")
    unknown = set(config.model) - {"name", "params"}
    if unknown:
        raise ConfigError(f"invalid {where}: unknown key(s) {sorted(unknown)} in model; valid keys: name, params")
    try:
        model_factory.validate_params(name, params)
    except ConfigError as exc:
        raise ConfigError(f"invalid {where}: model.params: {exc}") from None
    if config.data.path is not None and not Path(config.data.path).is_dir():
        raise ConfigError(f"invalid {where}: data.path {config.data.path!r} is not a folder; give the folder of "
                          "an extracted copy, or leave it out to download (data.mirror)")


class RunDirectory:
    """One folder holding everything a task run writes (see the module docstring).

    Every file is written atomically (a temporary file renamed into place).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "plots").mkdir(exist_ok=True)

    def __truediv__(self, name):
        return self.path / name

    def _atomic(self, name, write, mode="w"):
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.tmp-")
        try:
            with os.fdopen(fd, mode, encoding="utf-8", newline="") as file:
                write(file)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return target

    def write_json(self, name, data):
        """Write ``data`` as JSON (numpy values converted)."""
        return self._atomic(name, lambda f: json.dump(data, f, indent=2, default=_plain))

    def write_yaml(self, name, data):
        """Write ``data`` as YAML."""
        import yaml

        return self._atomic(name, lambda f: yaml.safe_dump(json.loads(json.dumps(data, default=_plain)), f,
                                                           sort_keys=False))

    def write_rows(self, name, rows, columns=None):
        """Write a list of dicts as CSV (columns: the keys of the first row, in order)."""
        rows = list(rows)
        columns = columns or (list(rows[0]) if rows else [])

        def write(file):
            writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({k: _plain(v) if isinstance(v, np.generic) else v for k, v in row.items()}
                             for row in rows)
        return self._atomic(name, write)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__}")


def adamw(train, steps):
    """A KerasBaseModel optimizer config: AdamW with a cosine decay over ``steps`` steps."""
    return {"name": "adamw", "weight_decay": train.weight_decay,
            "learning_rate": {"module": "keras.optimizers.schedules", "class_name": "CosineDecay",
                              "config": {"initial_learning_rate": train.learning_rate,
                                         "decay_steps": max(int(steps), 1)}}}


class EpochKeeper:
    """Validation after each epoch: keeps the best weights, says when to stop, logs the epoch.

    Parameters
    ----------
    model : KerasBaseModel
        The model being trained.
    score : callable
        ``score() -> (value, details)`` on the validation split; higher is better.
    train : TrainConfig
        ``keep_best`` and ``patience``.
    log : callable
        Called with one line of text per epoch.
    """

    def __init__(self, model_getter, score, train, log=print):
        self.model_getter, self.score, self.train, self.log = model_getter, score, train, log
        self.best, self.best_epoch, self.best_weights, self.rows = -np.inf, 0, None, []
        self.sum_weights, self.n_averaged = None, 0
        self.start = time.time()

    def __call__(self, logs):
        value, details = self.score()
        model = self.model_getter()
        improved = value > self.best
        if improved:
            self.best, self.best_epoch = value, logs["epoch"]
            if self.train.keep_best:
                self.best_weights = [w.copy() for w in model.model.get_weights()]
        if self.train.average_last and logs["epoch"] > self.train.epochs - self.train.average_last:
            weights = model.model.get_weights()
            self.sum_weights = ([w.astype(np.float64) for w in weights] if self.sum_weights is None
                                else [s + w for s, w in zip(self.sum_weights, weights)])
            self.n_averaged += 1
        row = {**{k: v for k, v in logs.items()}, "val_score": value, **{f"val_{k}": v for k, v in details.items()}}
        self.rows.append(row)
        metrics = " ".join(f"{k} {v:.4f}" for k, v in logs.items()
                           if k not in ("epoch", "batches", "seconds") and isinstance(v, float))
        self.log(f"epoch {logs['epoch']:3d}: {metrics} | validation {value:.4f}"
                 f"{' *' if improved else ''} ({logs['seconds']:.0f} s, {time.time() - self.start:.0f} s in all)")
        if self.train.patience and logs["epoch"] - self.best_epoch >= self.train.patience:
            from ecg.training import StopTraining

            raise StopTraining(f"no better validation score for {self.train.patience} epochs")

    def restore(self):
        """Put the kept weights into the model: the average of the last epochs when it
        validates better than the best epoch, else the best epoch's (when ``keep_best``).

        Returns
        -------
        int or str
            The epoch whose weights are kept, or ``"average of epochs a-b"``.
        """
        network = self.model_getter().model
        if self.n_averaged > 1:
            last = network.get_weights()
            network.set_weights([(s / self.n_averaged).astype(w.dtype) for s, w in zip(self.sum_weights, last)])
            value, _ = self.score()
            first = len(self.rows) - self.n_averaged + 1
            label = f"average of epochs {first}-{len(self.rows)}"
            self.log(f"{label}: validation {value:.4f} (best single epoch {self.best_epoch}: {self.best:.4f})")
            if value > self.best or not self.train.keep_best:
                self.best = max(self.best, value) if self.train.keep_best else value
                return label
            network.set_weights(last)
        if self.best_weights is not None:
            network.set_weights(self.best_weights)
        return self.best_epoch


def fit(make_pipeline, cfg, run_dir, validate, score_name, resume=False, log=print):
    """Train a task's network for ``cfg.train``, validating after each epoch.

    The loop every task shares: :class:`EpochKeeper` validates and logs each epoch (one
    line) and keeps the chosen weights, a progress bar of each epoch's batches shows in a
    terminal or a notebook (:class:`ecg.progress.EpochProgress`; none in logs, where the
    keeper's line is the epoch's), :func:`ecg.training.train_epochs` trains with checkpoints
    in ``run_dir/checkpoints``, and the history goes to ``history.csv`` and TensorBoard
    files in ``tensorboard/`` after every epoch (:mod:`ecg.tasks.logs`) and to
    ``plots/training_curves.png``. With ``cfg.train.members > 1`` it trains one network
    per seed (checkpoints in ``checkpoints/member_<k>``, curves in
    ``plots/training_curves_member_<k>.png``, a ``member`` column in the history) and
    returns their ensemble.

    Parameters
    ----------
    make_pipeline : callable
        ``make_pipeline(seed) -> batchflow.Pipeline``: the training pipeline, its model
        named ``"net"`` and seeded with ``seed``.
    cfg : TaskConfig
        The task's config (its ``train`` section is used).
    run_dir : RunDirectory
        The run directory.
    validate : callable
        ``validate(model) -> (score, details)`` on the validation split; higher is better.
    score_name : str
        What the score is, for the plot.
    resume : bool
        Go on from the last checkpoint of ``run_dir``.
    log : callable
        Called with one line of text per epoch.

    Returns
    -------
    model : KerasBaseModel
        The trained model with the kept weights, or the ensemble of the members.
    kept : int or str
        The epoch whose weights are kept (:meth:`EpochKeeper.restore`), or, for an
        ensemble, ``"ensemble of <k> members (epochs ...)"``.
    keeper : EpochKeeper
        Its ``rows`` (of every member) and ``best`` (the validation score of the model).
    """
    from ecg.plot import plot_history
    from ecg.progress import EpochProgress
    from ecg.tasks.logs import EpochLog
    from ecg.training import train_epochs

    n = cfg.train.members
    models, kept, rows, best = [], [], [], []
    for k in range(n):
        seed = cfg.train.seed + k
        pipeline = make_pipeline(seed)
        if n > 1:
            log(f"member {k + 1} of {n} (seed {seed})")
        keeper = EpochKeeper(lambda: pipeline.m("net"), lambda: validate(pipeline.m("net")), cfg.train, log)
        checkpoints = run_dir / "checkpoints" / (f"member_{k}" if n > 1 else "")
        train_epochs(pipeline, "net", n_epochs=cfg.train.epochs, batch_size=cfg.train.batch_size,
                     seed=seed, checkpoint_dir=checkpoints, resume=resume,
                     on_epoch=EpochLog(keeper, run_dir, earlier=rows, member=k if n > 1 else None),
                     drop_last=True, prefetch=cfg.train.prefetch, progress=EpochProgress(lines=False))
        kept.append(keeper.restore())
        models.append(pipeline.m("net"))
        rows += [{"member": k, **row} if n > 1 else row for row in keeper.rows]
        best.append(keeper.best)
        plot_history(keeper.rows, run_dir / "plots" / (f"training_curves_member_{k}.png" if n > 1
                                                         else "training_curves.png"), score_name=score_name)
    run_dir.write_rows("history.csv", rows)
    if n == 1:
        return models[0], kept[0], keeper
    from ecg.models.keras_model import KerasBaseModel

    model = KerasBaseModel.ensemble(models)
    value, _ = validate(model)
    log(f"ensemble of {n} members: validation {value:.4f} (members: {', '.join(f'{b:.4f}' for b in best)})")
    keeper.rows, keeper.best = rows, value
    keeper.members = {"seeds": [cfg.train.seed + k for k in range(n)], "kept": kept, "validation": best}
    keeper.models = models
    return model, f"ensemble of {n} members (epochs {', '.join(map(str, kept))})", keeper
