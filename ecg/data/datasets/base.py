"""The definition of a ready dataset, and leakage-free splits by record or patient."""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ecg.errors import EcgError, RecordError


@dataclass
class EcgDatasetDef:
    """A PhysioNet database ready to train on: records, labels, classes and splits.

    Attributes
    ----------
    name : str
        Registry name (``"mitdb"``, ...).
    root : Path
        Folder of the extracted database.
    dataset : ecg.data.dataset.EcgDataset
        All usable records; index keys are record names.
    load_kwargs : dict
        Keyword arguments for ``EcgBatch.load`` (``fmt="wfdb"``, ``components``, ``ann_ext``).
    labels : pandas.DataFrame
        One row per record of ``dataset``, indexed by record name.
    classes : tuple of str
        The class names the labels (or masks) use, in index order.
    splits : dict of str to list of str
        Split name to record names; no record (nor patient) is in two splits.
    fs : float
        Sampling rate of the records, in Hz.
    tables : dict of str to pandas.DataFrame
        Extra per-annotation tables (MIT-BIH ``beats`` and ``rhythms``, ...).
    """

    name: str
    root: Path
    dataset: object
    load_kwargs: dict
    labels: pd.DataFrame
    classes: tuple
    splits: dict
    fs: float
    tables: dict = field(default_factory=dict)

    def subset(self, split):
        """Return an ``EcgDataset`` of the records of ``split`` (a key of ``splits``)."""
        if split not in self.splits:
            raise EcgError(f"{self.name}: no split {split!r}; choose one of {sorted(self.splits)}")
        if not self.splits[split]:
            raise EcgError(f"{self.name}: split {split!r} has no records ({len(self.dataset)} records "
                           f"in all under {self.root}); use more records or other fractions")
        return make_subset(self.dataset, self.splits[split])

    def split_datasets(self):
        """Return ``{split name: EcgDataset}`` for every split that has records."""
        return {split: self.subset(split) for split, records in self.splits.items() if records}

    def split_labels(self, split):
        """Return the rows of ``labels`` for the records of ``split``."""
        return self.labels.loc[self.subset(split).indices]


def make_dataset(headers):
    """Return an ``EcgDataset`` of the WFDB header files ``headers`` (paths to ``.hea``).

    Raises
    ------
    RecordError
        Naming the first missing header.
    """
    from ecg.data.dataset import EcgDataset, records_index

    headers = [Path(h) for h in headers]
    missing = [h for h in headers if not h.is_file()]
    if missing:
        raise RecordError(missing[0], f"header not found ({len(missing)} of {len(headers)} missing); "
                                      f"the download is incomplete: run 'ecg download <dataset> --force'")
    return EcgDataset(index=records_index([str(h) for h in headers]))


def make_subset(dataset, records):
    """Return an ``EcgDataset`` of ``records`` (record names) from ``dataset``."""
    from ecg.data.dataset import EcgDataset

    records = np.asarray(list(records))
    unknown = np.setdiff1d(records, dataset.indices)
    if unknown.size:
        raise EcgError(f"records {unknown[:5].tolist()} are not in the dataset")
    return EcgDataset(index=dataset.index.create_subset(records), batch_class=dataset.batch_class)


def read_annotation(path, extension, dataset):
    """Read the ``extension`` annotation of one record with ``wfdb.rdann``.

    Parameters
    ----------
    path : str
        Record path without extension.
    extension : str
        Annotation file extension (``"q1c"``, ``"v1"``, ...).
    dataset : str
        Registry name of the database, for the re-download advice.

    Returns
    -------
    types.SimpleNamespace
        ``sample``, ``symbol``, ``aux_note`` and ``chan`` arrays, checked by
        :func:`ecg.io.read_annotation` (equal lengths, sorted, complete file).

    Raises
    ------
    RecordError
        The file is missing, unreadable or damaged; the message says how to re-download it.
    """
    from types import SimpleNamespace

    from ecg.io import read_annotation as read_checked

    try:
        return SimpleNamespace(**read_checked(path, extension, with_chan=True))
    except RecordError as exc:
        raise RecordError(path, f"cannot read its .{extension} annotation ({exc}); re-download "
                                f"with 'ecg download {dataset} --force'") from exc


def split_records(records, fractions, seed=0, stratify=None):
    """Split records at random into parts of given fractions, by class if asked.

    Parameters
    ----------
    records : sequence of str
        Record names.
    fractions : dict of str to float
        Part name to fraction, e.g. ``{"train": 0.8, "validation": 0.1, "test": 0.1}``;
        they must sum to 1.
    seed : int
        Seed of the shuffle: the same seed gives the same parts.
    stratify : sequence, optional
        A label per record: each part then keeps every label's proportion (within one
        record per label and part).

    Returns
    -------
    dict of str to list of str
        Part name to sorted record names; every record is in exactly one part.

    Examples
    --------
    >>> parts = split_records([f"r{i}" for i in range(10)], {"train": 0.8, "test": 0.2})
    >>> len(parts["train"]), len(parts["test"])
    (8, 2)
    """
    names = list(fractions)
    weights = np.array([fractions[n] for n in names], dtype=float)
    if (weights < 0).any() or not np.isclose(weights.sum(), 1.0):
        raise EcgError(f"Expected split fractions >= 0 that sum to 1. Received: {fractions}")
    records = np.asarray(list(records), dtype=object)
    groups = np.zeros(len(records), dtype=int) if stratify is None else pd.factorize(np.asarray(stratify))[0]
    rng = np.random.default_rng(seed)
    parts = {n: [] for n in names}
    for group in np.unique(groups):
        members = rng.permutation(records[groups == group])
        cuts = np.round(np.cumsum(weights)[:-1] * len(members)).astype(int)
        for name, chunk in zip(names, np.split(members, cuts)):
            parts[name].extend(chunk.tolist())
    return {n: sorted(p) for n, p in parts.items()}


def check_disjoint(splits, groups=None, what="patient"):
    """Raise if a record, or a group of records (patient), is in two splits.

    Parameters
    ----------
    splits : dict of str to list of str
        Split name to record names.
    groups : pandas.Series, optional
        Group (e.g. ``patient_id``) of each record, indexed by record name.
    what : str
        What a group is, for the message.

    Raises
    ------
    EcgError
        Naming the record or group and the two splits.
    """
    owner = {}
    for split, records in splits.items():
        for record in records:
            if record in owner:
                raise EcgError(f"record {record!r} is in splits {owner[record]!r} and {split!r}")
            owner[record] = split
    if groups is None:
        return
    split_of = pd.Series(owner).rename("split")
    per_group = pd.concat([split_of, groups.reindex(split_of.index).rename("group")], axis=1)
    n_splits = per_group.groupby("group")["split"].nunique()
    leaked = n_splits[n_splits > 1]
    if len(leaked):
        group = leaked.index[0]
        raise EcgError(f"{what} {group!r} has records in splits "
                       f"{sorted(per_group.loc[per_group.group == group, 'split'].unique())}")
