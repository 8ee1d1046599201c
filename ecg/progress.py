"""Training feedback: a progress bar per epoch in a terminal or a notebook, one line per epoch in logs.

:class:`EpochProgress` is what :func:`ecg.training.train_epochs` shows while it trains:

``bar``
    A tqdm bar per epoch: batches done of the epoch's total, the running means of the
    loss and the training metrics, the rate and the ETA. In a Jupyter notebook it is
    tqdm's widget when ``ipywidgets`` is installed, else tqdm's text bar, which Jupyter
    redraws in place too.
``line``
    One line per epoch when it ends (``epoch 3/20: 37 batches, loss 0.4121, f1_score
    0.6610 (12.4 s)``): for CI logs and files, where a bar's redraws are noise.
``off``
    Nothing.
``auto``
    ``bar`` when the stream is a terminal or the code runs in a notebook, else ``line``
    (or ``off`` where the caller logs its own line per epoch, as
    :func:`ecg.tasks.base.fit` does).

The default mode is ``auto``; :func:`set_default` changes it for the process
(``ecg ... --quiet`` sets ``off``), and the ``ECG_PROGRESS`` environment variable sets it
at start (``ECG_PROGRESS=line`` in CI). Output goes to ``sys.stderr`` unless a
``file`` is given, so stdout keeps the results.
"""
import os
import sys
import time

MODES = ("auto", "bar", "line", "off")
SKIPPED = ("epoch", "batches", "seconds")
"""Keys of the epoch logs that are not loss or metrics."""
_default = [os.environ.get("ECG_PROGRESS", "auto") if os.environ.get("ECG_PROGRESS") in MODES else "auto"]


def set_default(mode):
    """Set the mode used where none is given (``"auto"``, ``"bar"``, ``"line"`` or ``"off"``)."""
    _check(mode)
    _default[0] = mode


def get_default():
    """The mode used where none is given."""
    return _default[0]


def _check(mode):
    from ecg.errors import ConfigError

    if mode not in MODES:
        raise ConfigError(f"progress must be one of {', '.join(MODES)}. Received: {mode!r}")


def in_notebook():
    """True inside a Jupyter kernel (IPython with a kernel app), False in a terminal or a plain script."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:                   # noqa: BLE001 -- any failure means: not a notebook
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def resolve(mode, file, lines=True):
    """The concrete mode (``bar``, ``line`` or ``off``) of ``mode`` for the stream ``file``."""
    mode = get_default() if mode is None else mode
    if mode is True:
        mode = "auto"
    elif mode is False:
        mode = "off"
    _check(mode)
    if mode != "auto":
        return mode
    isatty = getattr(file, "isatty", None)
    try:
        interactive = bool(isatty and isatty())
    except ValueError:                  # a closed stream
        interactive = False
    if interactive or in_notebook():
        return "bar"
    return "line" if lines else "off"


def _tqdm_class():
    """tqdm's notebook widget in a notebook with ipywidgets, else its text bar."""
    from importlib.util import find_spec

    if in_notebook() and find_spec("ipywidgets") is not None:          # tqdm.notebook's widget needs it
        from tqdm.notebook import tqdm
        return tqdm
    from tqdm.std import tqdm
    return tqdm


def format_logs(logs):
    """``"loss 0.4121, f1_score 0.6610"``: the loss and metrics of ``logs``, 4 decimals."""
    return ", ".join(f"{key} {value:.4f}" for key, value in logs.items()
                     if key not in SKIPPED and isinstance(value, float))


class EpochProgress:
    """What one training run shows per epoch (see the module docstring).

    Parameters
    ----------
    mode : {"auto", "bar", "line", "off"} or bool, optional
        Default :func:`get_default`; ``True`` is ``"auto"``, ``False`` ``"off"``.
    file : file-like, optional
        Where it writes (default ``sys.stderr`` at each epoch's start).
    lines : bool
        What ``"auto"`` gives where there is no terminal: a line per epoch, or nothing.
    refresh : float
        Seconds between two updates of the bar's loss and metrics (reading them waits
        for the training step, so they are not read after every batch).

    Examples
    --------
    >>> progress = EpochProgress("line")                              # doctest: +SKIP
    >>> progress.start(1, 20, total=37)                                # doctest: +SKIP
    >>> progress.batch(lambda: {"loss": 0.52})                         # doctest: +SKIP
    >>> progress.end({"epoch": 1, "batches": 37, "seconds": 12.4, "loss": 0.41})   # doctest: +SKIP
    epoch 1/20: 37 batches, loss 0.4100 (12.4 s)
    """

    def __init__(self, mode=None, file=None, lines=True, refresh=1.0):
        if mode not in (None, True, False):
            _check(mode)
        self.mode, self.file, self.lines, self.refresh = mode, file, lines, refresh
        self._bar, self._epoch, self._n_epochs, self._last = None, 0, 0, 0.0
        self.shown = "off"

    def start(self, epoch, n_epochs, total=None):
        """An epoch begins: ``epoch`` (1-based) of ``n_epochs``, ``total`` batches (``None``: unknown)."""
        file = self.file if self.file is not None else sys.stderr
        self.shown = resolve(self.mode, file, self.lines)
        self._epoch, self._n_epochs, self._last = epoch, n_epochs, time.monotonic()
        if self.shown == "bar":
            width = len(str(n_epochs))
            self._bar = _tqdm_class()(total=total, desc=f"epoch {epoch:>{width}}/{n_epochs}", unit="batch",
                                      file=file, leave=True, dynamic_ncols=True, mininterval=0.2)

    def batch(self, logs=None):
        """A batch is done; ``logs`` (a dict, or a callable returning one) are the loss and metrics so far.

        The callable is called at most once every ``refresh`` seconds.
        """
        if self._bar is None:
            return
        now = time.monotonic()
        if logs is not None and now - self._last >= self.refresh:
            self._last = now
            values = logs() if callable(logs) else logs
            self._bar.set_postfix_str(format_logs(values or {}), refresh=False)
        self._bar.update(1)

    def end(self, logs):
        """The epoch ended with ``logs`` (``epoch``, ``batches``, ``seconds``, loss and metrics)."""
        text = format_logs(logs)
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.close()
            self._bar = None
        elif self.shown == "line":
            file = self.file if self.file is not None else sys.stderr
            print(f"epoch {logs.get('epoch', self._epoch)}/{self._n_epochs}: {logs.get('batches', 0)} batches"
                  f"{', ' + text if text else ''} ({logs.get('seconds', 0.0):.1f} s)", file=file, flush=True)

    def close(self):
        """End a bar left open (an epoch that failed)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
