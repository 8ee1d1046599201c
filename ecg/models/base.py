"""BaseModel: the five verbs every ecg model has."""
import threading
from abc import abstractmethod

from batchflow.models.base import BaseModel as _BatchflowModel


class BaseModel(_BatchflowModel):
    """Abstract model used by ``EcgBatch.train_on_batch`` and friends.

    A subclass implements ``load``, ``save``, ``train_on_batch``, ``test_on_batch`` and
    ``predict_on_batch``. ``train``/``predict``/``reset`` make it a batchflow model too,
    so ``Pipeline.train_model`` / ``predict_model`` work with it. Calls that change or
    read the weights hold ``self.lock``, so pipelines run with ``prefetch`` never
    interleave two updates.

    Parameters
    ----------
    config : dict, optional
        Model settings; each subclass validates its own.
    """

    def __init__(self, config=None):
        self.config = config
        self.lock = threading.RLock()

    @abstractmethod
    def load(self, path):
        """Restore the model saved at ``path``; return ``self``."""

    @abstractmethod
    def save(self, path):
        """Write the model to ``path`` atomically."""

    @abstractmethod
    def train_on_batch(self, x, y, **kwargs):
        """Run one gradient update on ``(x, y)``; return a dict of loss and metrics."""

    @abstractmethod
    def test_on_batch(self, x, y, **kwargs):
        """Return a dict of loss and metrics on ``(x, y)`` without updating weights."""

    @abstractmethod
    def predict_on_batch(self, x, **kwargs):
        """Return predictions for ``x``."""

    def train(self, *args, **kwargs):
        """batchflow's name for :meth:`train_on_batch`; returns the batch loss (a float).

        batchflow stores a model's output with ``save_to``, which takes one value, so the
        loss alone is returned here; the full dict of metrics is in the model's history.
        """
        logs = self.train_on_batch(*args, **kwargs)
        return float(logs["loss"]) if isinstance(logs, dict) else logs

    def predict(self, *args, **kwargs):
        """batchflow's name for :meth:`predict_on_batch`."""
        return self.predict_on_batch(*args, **kwargs)

    def reset(self):
        """Forget trained weights so that the next batch trains from scratch."""

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.RLock()
