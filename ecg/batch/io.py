"""Loading and dumping actions of EcgBatch."""
import os

from batchflow import action

from ecg.errors import EcgError, RecordError
from ecg.io import read_annotation, read_header_meta, read_labels, read_npz, read_record, write_npz
from ecg.io.labels import labels_for

_WFDB_FORMATS = ("wfdb", "mat", "dat", "edf")


def _as_tuple(value):
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


class IOMixin:
    """Actions that fill the batch from files and write it back."""

    def record_path(self, ix, src=None, ext=""):
        """Path of record ``ix``: from ``src`` (a folder, dict or callable) or the FilesIndex."""
        if src is None:
            if not hasattr(self.index, "get_fullpath"):
                raise EcgError("the dataset index holds no paths: pass src='folder' to load, "
                               "or build the dataset with EcgDataset(path='folder/*.hea')")
            path = self.index.get_fullpath(ix)
            return path[:-4] + ext if path.endswith(".hea") and ext else path
        if callable(src):
            return src(ix)
        if isinstance(src, dict):
            return src[ix]
        return os.path.join(os.fspath(src), f"{ix}{ext}")

    @action
    def load(self, src=None, fmt=None, components=None, *args, ann_ext=None, channels=None,
             index_col=None, label_col=None, dst=None, **kwargs):
        """Load components from files.

        Parameters
        ----------
        src : str, dict or callable, optional
            ``fmt="wfdb"``: folder of the records, or a mapping/callable from index key
            to record path; by default the paths of the dataset's ``FilesIndex``.
            ``fmt="csv"``: the label table. ``fmt="npz"``: folder of a :meth:`dump`.
        fmt : {"wfdb", "csv", "npz"} or other
            ``"wfdb"`` reads WFDB records (``.dat``, CinC 2017 ``.mat``) and ``.edf``
            files through wfdb. Other formats go to batchflow's ``Batch.load``.
        components : str or list of str
            What to fill. ``"wfdb"``: any of ``signal``, ``meta``, ``annotation``
            (default ``signal`` and ``meta``); ``"csv"``: ``target`` (default).
        ann_ext : str or list of str, optional
            Annotator extension(s) to read into ``annotation`` (``"atr"``, ``"q1c"``...).
        channels : list of int, optional
            Leads to read (positions in the header).
        index_col, label_col : str or int, optional
            For a headed CSV: the record-name and label columns.

        Returns
        -------
        EcgBatch
            ``self``, with the components filled.

        Raises
        ------
        RecordError
            A record is missing, truncated or does not match its header.
        LabelError
            A record has no label in the CSV.
        """
        if fmt in _WFDB_FORMATS:
            return self._load_wfdb(src, _as_tuple(components) or ("signal", "meta"),
                                   _as_tuple(ann_ext), channels)
        if fmt == "csv":
            return self._load_csv(src, _as_tuple(components) or ("target",), index_col, label_col)
        if fmt == "npz":
            return self._load_npz(src, _as_tuple(components))
        return super().load(*args, src=src, fmt=fmt, dst=dst or components, **kwargs)

    def _load_wfdb(self, src, components, ann_ext, channels):
        unknown = set(components) - {"signal", "meta", "annotation"}
        if unknown:
            raise EcgError(f"load(fmt='wfdb') fills signal, meta and annotation, not {sorted(unknown)}")
        if "annotation" in components and not ann_ext:
            raise EcgError("load annotations with ann_ext='atr' (or the annotator extensions you need)")
        signals, metas, annotations = [], [], []
        for ix in self.indices:
            path = self.record_path(ix, src)
            if "signal" in components:
                signal, meta = read_record(path, channels=channels)
                signals.append(signal)
            else:
                meta = read_header_meta(path)
            metas.append(meta)
            if "annotation" in components:
                annotations.append({ext: read_annotation(path, ext) for ext in ann_ext})
        if "signal" in components:
            self.set_component("signal", signals)
        if "meta" in components or "signal" in components:
            self.set_component("meta", metas)
        if "annotation" in components:
            self.set_component("annotation", annotations)
        return self

    def _load_csv(self, src, components, index_col, label_col):
        if src is None:
            raise EcgError("load(fmt='csv') needs src='path/to/REFERENCE.csv'")
        if tuple(components) != ("target",):
            raise EcgError(f"load(fmt='csv') fills the 'target' component, not {list(components)}")
        labels = read_labels(src, index_col=index_col, label_col=label_col)
        self.set_component("target", list(labels_for(labels, [str(ix) for ix in self.indices], src)))
        return self

    def _load_npz(self, src, components):
        if src is None:
            raise EcgError("load(fmt='npz') needs src='folder' written by dump(dst='folder', fmt='npz')")
        items = [read_npz(self.record_path(ix, src, ext=".npz")) for ix in self.indices]
        components = components or [c for c in self.components if c in items[0]]
        for comp in components:
            if comp == "annotation":
                self.set_component(comp, [item["annotation"] for item in items])
                continue
            missing = [ix for ix, item in zip(self.indices, items) if comp not in item]
            if missing:
                raise RecordError(missing[0], f"the cache in {src} has no {comp!r} component")
            self.set_component(comp, [item[comp] for item in items])
        return self

    @action
    def dump(self, dst=None, fmt="npz", components=None, *args, **kwargs):
        """Write the batch, one ``<record>.npz`` file per record in folder ``dst``.

        Each file is written atomically (temp file, then rename), so an interrupted
        dump never leaves a partial file. Other ``fmt`` values go to batchflow.
        """
        if fmt != "npz":
            return super().dump(*args, dst=dst, fmt=fmt, components=components, **kwargs)
        if dst is None:
            raise EcgError("dump(fmt='npz') needs dst='folder'")
        components = _as_tuple(components) or self.components
        for i, ix in enumerate(self.indices):
            values = {comp: getattr(self, comp)[i] for comp in components}
            write_npz(self.record_path(ix, dst, ext=".npz"), **values)
        return self
