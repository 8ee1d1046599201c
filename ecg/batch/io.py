"""Loading and dumping actions of EcgBatch."""
import logging
import os
import warnings

from batchflow import SkipBatchException, action

from ecg.batch.base import subset
from ecg.errors import ConfigError, EcgError, LabelError, RecordError
from ecg.io import read_annotation, read_header_meta, read_labels, read_npz, read_record, write_npz
from ecg.io.dicom import read_dicom
from ecg.io.wav import read_wav
from ecg.io.labels import labels_for
from ecg.io.npz import NPZ_MEMORY
from ecg.report import pipeline_report

_WFDB_FORMATS = ("wfdb", "mat", "dat", "edf")
# one-file formats: reader, file extension, the reader's own keyword arguments
_FILE_FORMATS = {"dicom": (read_dicom, ".dcm", ("group", "units")),
                 "wav": (read_wav, ".wav", ("gain", "baseline", "units", "sig_name"))}
ON_ERROR = ("raise", "skip")
logger = logging.getLogger("ecg")


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
             index_col=None, label_col=None, classes=None, on_flat="record", invalid="raise",
             on_error="raise", report=None, dst=None, memory=False, **kwargs):
        """Load components from files.

        Parameters
        ----------
        src : str, dict or callable, optional
            ``fmt="wfdb"``: folder of the records, or a mapping/callable from index key
            to record path; by default the paths of the dataset's ``FilesIndex``.
            ``fmt="csv"``: the label table. ``fmt="npz"``: folder of a :meth:`dump`.
            ``fmt="shards"``: a sharded cache (:func:`ecg.data.cluster.preprocess`),
            its folder or fsspec URL or a :class:`~ecg.data.shards.ShardedCache`.
        fmt : {"wfdb", "dicom", "wav", "csv", "npz", "shards"} or other
            ``"wfdb"`` reads WFDB records (``.dat``, CinC 2017 ``.mat``) and ``.edf``
            files through wfdb; ``"dicom"`` DICOM waveform files
            (:func:`ecg.io.dicom.read_dicom`: keyword arguments ``group``, ``units``);
            ``"wav"`` WAV files (:func:`ecg.io.wav.read_wav`: ``gain``, ``baseline``,
            ``units``, ``sig_name``), both with the ``meta`` and errors of ``"wfdb"``
            (``src``: a folder of ``<record>.dcm`` / ``<record>.wav`` files, or the
            dataset's paths). Other formats go to batchflow's ``Batch.load``.
        components : str or list of str
            What to fill. ``"wfdb"``: any of ``signal``, ``meta``, ``annotation``
            (default ``signal`` and ``meta``); ``"csv"``: ``target`` (default);
            ``"npz"`` and ``"shards"``: the stored ones (default all), and for
            ``"shards"`` ``target`` from the index table's labels unless it is stored.
        ann_ext : str or list of str, optional
            Annotator extension(s) to read into ``annotation`` (``"atr"``, ``"q1c"``...);
            without it, ``annotation`` is an empty dict per record.
        channels : list of int, optional
            Leads to read (positions in the header).
        index_col, label_col : str or int, optional
            For a headed CSV: the record-name and label columns.
        classes : sequence of str, optional
            For ``"csv"``: the known class names; a label outside them is a bad record.
        on_flat : {"record", "warn", "error"}
            For ``"wfdb"`` signals: what a flat lead does (see
            :func:`ecg.io.read_record`; always listed in ``meta["flat_leads"]``).
        invalid : {"raise", "interpolate", "zero", "keep"}
            For ``"wfdb"`` signals: what WFDB's invalid samples (gaps, the end of a skewed
            signal) do (see :func:`ecg.io.read_record`; listed in ``meta["invalid_runs"]``).
        memory : bool
            For ``"npz"``: keep the decoded records in memory (:data:`ecg.io.npz.NPZ_MEMORY`,
            up to 2 GiB), so that later epochs do not decode the files again. A record
            rewritten on disk is read again; each batch gets its own copies.
        on_error : {"raise", "skip"}
            What a bad record does (missing or truncated file, header mismatch, unknown
            format, non-finite samples, invalid ``fs``, missing label, label not in
            ``classes``). ``"raise"`` (default): raise the error, which names the record.
            ``"skip"``: leave the record out. The action then returns a new, smaller
            batch without it (components loaded before are dropped too), lists the
            record and the reason in ``report`` and logs a warning on the ``"ecg"``
            logger; a batch with no good record is skipped whole (batchflow's
            ``SkipBatchException``), so the pipeline goes on with the next batch.
        report : ErrorReport, optional
            Where ``on_error="skip"`` lists the records left out (a thread-safe
            :class:`~ecg.report.ErrorReport`, safe with ``prefetch``). By default the
            pipeline variable ``"ecg_errors"``, made on first use: after the run,
            ``print(pipeline.v("ecg_errors").summary())``.

        Returns
        -------
        EcgBatch
            ``self`` with the components filled or, when ``on_error="skip"`` left
            records out, a new batch of the good ones.

        Raises
        ------
        RecordError
            A record is missing, truncated, of an unknown format or does not match its
            header (``on_error="raise"``).
        LabelError
            A record has no label in the CSV, or a label not in ``classes``.
        SkipBatchException
            ``on_error="skip"`` and no record of the batch is usable.

        Examples
        --------
        >>> from ecg.report import ErrorReport
        >>> report = ErrorReport()
        >>> batch = ds.next_batch(8).load(fmt="wfdb", on_error="skip", report=report)  # doctest: +SKIP
        >>> print(report.summary())                                                     # doctest: +SKIP
        1 record left out:
          A00007: signal file ./A00007.mat is truncated: ...
        """
        if on_error not in ON_ERROR:
            raise ConfigError(f"Expected on_error in {ON_ERROR}. Received: on_error={on_error!r}.")
        if memory and fmt != "npz":
            raise ConfigError(f"load(memory=True) keeps npz cache records; fmt={fmt!r} has no memory option")
        if fmt in _WFDB_FORMATS:
            bad = self._load_wfdb(src, _as_tuple(components) or ("signal", "meta"),
                                  _as_tuple(ann_ext), channels, on_flat, on_error, invalid)
        elif fmt in _FILE_FORMATS:
            bad = self._load_file(src, fmt, _as_tuple(components) or ("signal", "meta"), _as_tuple(ann_ext),
                                  channels, on_flat, on_error, kwargs)
        elif fmt == "csv":
            bad = self._load_csv(src, _as_tuple(components) or ("target",), index_col, label_col,
                                 classes, on_error)
        elif fmt == "npz":
            bad = self._load_npz(src, _as_tuple(components), on_error, memory)
        elif fmt == "shards":
            bad = self._load_shards(src, _as_tuple(components), on_error)
        else:
            return super().load(*args, src=src, fmt=fmt, dst=dst or components, **kwargs)
        return self._leave_out(bad, report)

    def _read_items(self, read, on_error):
        """``read(ix)`` for every index key; return the values and ``{position: error}``.

        A bad item's value is ``None``. With ``on_error="raise"`` the first error is raised.
        """
        values, bad = [], {}
        for i, ix in enumerate(self.indices):
            try:
                values.append(read(ix))
            except EcgError as exc:
                if on_error == "raise":
                    raise
                values.append(None)
                bad[i] = exc
        return values, bad

    def _leave_out(self, bad, report):
        """Return the batch without the items at the positions of ``bad``, listed in ``report``."""
        if not bad:
            return self
        if report is None and self.pipeline is not None:
            report = pipeline_report(self.pipeline)
        for i, exc in bad.items():
            record = self.record_name(i)
            reason = str(exc).removeprefix(f"record {getattr(exc, 'record', record)!r}: ")
            logger.warning("record %r left out: %s", record, reason)
            if report is not None:
                report.add(record, reason)
            else:
                warnings.warn(f"record {record!r} left out: {reason} (pass report=ErrorReport() to "
                              "collect the records left out)", RuntimeWarning, stacklevel=4)
        if len(bad) == len(self):
            if report is not None:
                report.add_skipped_batch()
            raise SkipBatchException(f"no usable record in a batch of {len(self)}")
        return subset(self, [i for i in range(len(self)) if i not in bad])

    def _load_wfdb(self, src, components, ann_ext, channels, on_flat, on_error, invalid="raise"):
        unknown = set(components) - {"signal", "meta", "annotation"}
        if unknown:
            raise EcgError(f"load(fmt='wfdb') fills signal, meta and annotation, not {sorted(unknown)}")

        def read(ix):
            path = self.record_path(ix, src)
            if "signal" in components:
                signal, meta = read_record(path, channels=channels, on_flat=on_flat, invalid=invalid)
            else:
                signal, meta = None, read_header_meta(path)
            annotation = ({ext: read_annotation(path, ext, n_samples=meta["n_samples"] or None) for ext in ann_ext}
                          if "annotation" in components else None)
            return signal, meta, annotation

        return self._store_read(read, components, on_error)

    def _load_file(self, src, fmt, components, ann_ext, channels, on_flat, on_error, kwargs):
        reader, ext, options = _FILE_FORMATS[fmt]
        unknown = set(components) - {"signal", "meta", "annotation"}
        if unknown:
            raise EcgError(f"load(fmt={fmt!r}) fills signal, meta and annotation, not {sorted(unknown)}")
        if ann_ext:
            raise EcgError(f"load(fmt={fmt!r}) reads no annotation files: leave ann_ext out")
        extra = set(kwargs) - set(options)
        if extra:
            raise EcgError(f"load(fmt={fmt!r}) takes the reader arguments {', '.join(options)}, not {sorted(extra)}")

        def read(ix):
            signal, meta = reader(self.record_path(ix, src, ext=ext), channels=channels, on_flat=on_flat, **kwargs)
            return signal, meta, {} if "annotation" in components else None

        return self._store_read(read, components, on_error)

    def _store_read(self, read, components, on_error):
        """Read ``(signal, meta, annotation)`` of every record; store the ``components`` asked for."""
        items, bad = self._read_items(read, on_error)
        signals, metas, annotations = zip(*[item or (None, None, None) for item in items])
        if "signal" in components:
            self.set_component("signal", signals)
        if "meta" in components or "signal" in components:
            self.set_component("meta", metas)
        if "annotation" in components:
            self.set_component("annotation", annotations)
        return bad

    def _load_csv(self, src, components, index_col, label_col, classes, on_error):
        if src is None:
            raise EcgError("load(fmt='csv') needs src='path/to/REFERENCE.csv'")
        if tuple(components) != ("target",):
            raise EcgError(f"load(fmt='csv') fills the 'target' component, not {list(components)}")
        labels = read_labels(src, index_col=index_col, label_col=label_col)
        records = [str(ix) for ix in self.indices]
        if on_error == "raise":
            labels_for(labels, records, src)
        known = None if classes is None else {str(c) for c in classes}

        def read(record):
            if record not in labels.index:
                raise LabelError(f"record {record!r}: no label in {src}")
            label = labels[record]
            if known is not None and label not in known:
                raise LabelError(f"record {record!r}: label {label!r} in {src} is not one of the "
                                 f"classes {tuple(classes)}")
            return label

        targets, bad = self._read_items(read, on_error)
        self.set_component("target", targets)
        return bad

    def _load_npz(self, src, components, on_error, memory=False):
        if src is None:
            raise EcgError("load(fmt='npz') needs src='folder' written by dump(dst='folder', fmt='npz')")
        reader = NPZ_MEMORY.read if memory else read_npz
        return self._store_cached(lambda ix: reader(self.record_path(ix, src, ext=".npz")), src, components,
                                  on_error)

    def _load_shards(self, src, components, on_error):
        from ecg.data.shards import ShardedCache

        if src is None:
            raise EcgError("load(fmt='shards') needs src= the folder (or URL) of a sharded cache written by "
                           "'ecg preprocess'")
        cache = ShardedCache.open(src)

        def read(ix):
            item = cache.read(ix, components or None)
            if "target" in components and "target" not in item:
                item["target"] = cache.label(ix)
            return item

        return self._store_cached(read, cache.path, components, on_error)

    def _store_cached(self, read_item, src, components, on_error):
        """Fill ``components`` (default: all stored) from ``read_item(ix)`` dicts of a cache at ``src``."""

        def read(ix):
            item = read_item(ix)
            missing = [comp for comp in components if comp != "annotation" and comp not in item]
            if missing:
                raise RecordError(ix, f"the cache in {src} has no {missing[0]!r} component")
            return item

        items, bad = self._read_items(read, on_error)
        good = [item for item in items if item is not None]
        if not good:
            return bad
        components = components or [c for c in self.components if c in good[0]]
        for comp in components:
            if comp == "annotation":
                self.set_component(comp, [None if item is None else item["annotation"] for item in items])
                continue
            missing = [ix for ix, item in zip(self.indices, items) if item is not None and comp not in item]
            if missing:
                raise RecordError(missing[0], f"the cache in {src} has no {comp!r} component")
            self.set_component(comp, [None if item is None else item[comp] for item in items])
        return bad

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
