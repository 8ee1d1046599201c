"""Ready PhysioNet datasets: records, labels, classes and leakage-free splits.

``get_dataset(name)`` downloads the database if needed (see :mod:`ecg.data.download`)
and returns its :class:`EcgDatasetDef`; ``DATASETS`` maps each name to its loader,
which takes the extracted folder.

Examples
--------
>>> from ecg.data.datasets import get_dataset
>>> mitdb = get_dataset("mitdb", mirror="../shared/data/mirror")   # doctest: +SKIP
>>> mitdb.labels[["N", "S", "V", "F", "Q"]].sum().tolist()         # doctest: +SKIP
[90631, 2781, 7236, 803, 8043]
>>> train = mitdb.subset("DS1")                                    # doctest: +SKIP
"""
from ecg.data.datasets import cinc2017, ludb, mitdb, ptbxl, qtdb
from ecg.data.datasets.base import EcgDatasetDef, check_disjoint, split_records
from ecg.errors import EcgError

DATASETS = {
    "cinc2017": cinc2017.load,
    "ludb": ludb.load,
    "mitdb": mitdb.load,
    "ptbxl": ptbxl.load,
    "qtdb": qtdb.load,
}

__all__ = ["DATASETS", "EcgDatasetDef", "check_disjoint", "get_dataset", "split_records"]


def get_dataset(name, path=None, *, dest=None, mirror=None, progress=True, **kwargs):
    """Return the :class:`EcgDatasetDef` of database ``name``, downloading it if needed.

    Parameters
    ----------
    name : str
        One of ``DATASETS``.
    path : str or Path, optional
        Folder of an already extracted copy; if omitted, :func:`ecg.data.download.download`
        fetches it (or finds it already in ``dest``).
    dest, mirror, progress
        Passed to :func:`ecg.data.download.download`.
    **kwargs
        Passed to the dataset's loader (e.g. ``sampling_rate=500``, ``scheme="9-1"`` for PTB-XL).
    """
    if name not in DATASETS:
        raise EcgError(f"unknown dataset {name!r}: choose one of {', '.join(sorted(DATASETS))}")
    if path is None:
        from ecg.data.download import download

        path = download(name, dest=dest, mirror=mirror, progress=progress)
    return DATASETS[name](path, **kwargs)
