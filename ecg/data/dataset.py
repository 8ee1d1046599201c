"""EcgDataset: a batchflow Dataset of ECG records found on disk."""
import glob
import numbers
import os
import warnings

from batchflow import Dataset, DatasetIndex, FilesIndex

from ecg.batch import EcgBatch
from ecg.errors import EcgError


def records_index(path, no_ext=True, sort=True):
    """Return a batchflow ``FilesIndex`` of the records matching ``path``.

    Parameters
    ----------
    path : str or list of str
        Glob pattern(s) of header files, e.g. ``"training2017/*.hea"``. The index keys
        are record names (file names without extension); ``index.get_fullpath(key)``
        gives the header path.
    """
    patterns = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    patterns = [os.fspath(p) for p in patterns]
    if not any(glob.glob(p) for p in patterns):
        raise EcgError(f"no records match {patterns}: check the path (e.g. 'dir/*.hea')")
    return FilesIndex(path=patterns if len(patterns) > 1 else patterns[0], no_ext=no_ext, sort=sort)


class EcgDataset(Dataset):
    """A dataset of ECG records on disk, batched as :class:`~ecg.batch.EcgBatch`.

    Parameters
    ----------
    path : str or list of str, optional
        Glob pattern(s) of WFDB header files (``"dir/*.hea"``).
    index : batchflow.DatasetIndex, optional
        A ready index (e.g. a ``FilesIndex``) instead of ``path``.
    batch_class : type
        Batch class, ``EcgBatch`` by default.

    Notes
    -----
    A batch size larger than the dataset (``run(batch_size=300)`` on 40 records) is
    clipped to the dataset's size with a warning, instead of batchflow's
    ``ValueError``: a pipeline written for the full database runs on a few records too.

    Examples
    --------
    >>> ds = EcgDataset(path="../shared/data/fixture/cinc2017/*.hea")   # doctest: +SKIP
    >>> len(ds)                                                          # doctest: +SKIP
    40
    """

    def __init__(self, path=None, index=None, batch_class=EcgBatch, **kwargs):
        if isinstance(path, DatasetIndex):      # batchflow's create_subset passes the index first
            path, index = None, path
        if (path is None) == (index is None):
            raise EcgError("EcgDataset needs exactly one of 'path' (a glob of .hea files) or 'index'")
        if index is None:
            index = records_index(path)
        super().__init__(index, batch_class=batch_class, **kwargs)

    def fitting_batch_size(self, batch_size):
        """``batch_size``, or the dataset's size (with a ``UserWarning``) when it is larger.

        Examples
        --------
        >>> import warnings
        >>> ds = EcgDataset(path="../shared/data/fixture/cinc2017/*.hea")   # doctest: +SKIP
        >>> with warnings.catch_warnings(record=True) as caught:            # doctest: +SKIP
        ...     ds.fitting_batch_size(300), str(caught[0].message)
        (40, 'batch_size=300 is larger than the dataset (40 records): batches of 40 records are used')
        """
        n_items = len(self)
        if isinstance(batch_size, numbers.Integral) and not isinstance(batch_size, bool) and batch_size > n_items > 0:
            warnings.warn(f"batch_size={batch_size} is larger than the dataset ({n_items} records): "
                          f"batches of {n_items} records are used", UserWarning, stacklevel=3)
            return n_items
        return batch_size

    def gen_batch(self, batch_size, *args, **kwargs):
        """Generate batches as :meth:`batchflow.Dataset.gen_batch`, ``batch_size`` clipped to the dataset's size."""
        return super().gen_batch(self.fitting_batch_size(batch_size), *args, **kwargs)

    def next_batch(self, batch_size, *args, **kwargs):
        """The next batch, as :meth:`batchflow.Dataset.next_batch`, ``batch_size`` clipped to the dataset's size."""
        return super().next_batch(self.fitting_batch_size(batch_size), *args, **kwargs)
