"""EcgDataset: a batchflow Dataset of ECG records found on disk."""
import glob
import os

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
