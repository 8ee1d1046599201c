"""Preprocessing actions of EcgBatch: filtering, resampling, normalisation, lengths, leads.

Every action picks components, calls a pure function of :mod:`ecg.ops` through
:meth:`~ecg.batch.base.EcgBatchBase.map_signals`, stores the result and returns the
batch. Actions that change the number of items (:meth:`unstack_signals`,
:meth:`drop_short_signals`) return a new batch.
"""
import numpy as np
from batchflow import action

from ecg.batch.base import PER_SAMPLE_TARGET, added_components, component_part, new_batch, subset
from ecg.errors import LabelError, RecordError
from ecg.ops import alignment, beats, filters, masks, normalize, quality, resample, rpeaks, segments
from ecg.report import EmptyRecordsError, skip_empty_batch


class PreprocessingMixin:
    """Filtering, resampling, normalisation, length and lead actions of EcgBatch."""

    # --- helpers -------------------------------------------------------------------------
    def _check_below_nyquist(self, **freqs):
        for i, fs in enumerate(self.fs):
            for name, value in freqs.items():
                if value is not None and value >= fs / 2:
                    raise RecordError(self.record_name(i),
                                      f"{name}={value} Hz is not below the Nyquist frequency "
                                      f"{fs / 2:g} Hz of this record (fs={fs:g} Hz); "
                                      f"resample it or lower {name}")

    def _check_unsplit(self, action_name):
        for i, sig in enumerate(self.signal):
            if isinstance(sig, np.ndarray) and sig.ndim != 2:
                raise RecordError(self.record_name(i),
                                  f"{action_name} needs signals (n_leads, n_samples); got shape "
                                  f"{sig.shape}, already split: call unstack_signals first")

    def _update_lengths(self):
        self.update_meta(n_samples=[sig.shape[-1] for sig in self.signal])

    # --- filtering -----------------------------------------------------------------------
    @action
    def band_pass_signals(self, low=None, high=None, order=4):
        """Zero-phase Butterworth band-pass (or high-/low-pass) filter at each record's fs.

        Parameters
        ----------
        low : float or None
            High-pass cut-off in Hz; ``None`` for a low-pass filter.
        high : float or None
            Low-pass cut-off in Hz; ``None`` for a high-pass filter.
        order : int
            Butterworth order.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a cut-off is not below the Nyquist frequency of a record.
        ValueError
            If both cut-offs are ``None`` or ``low >= high``.

        Examples
        --------
        ``batch.band_pass_signals(0.5, 40)`` keeps 0.5-40 Hz.
        """
        self._check_below_nyquist(low=low, high=high)
        self.set_component("signal", self.map_signals(filters.band_pass, low=low, high=high, order=order))
        return self

    @action
    def fir_band_pass_signals(self, low=None, high=None, n_taps=None, window="hamming"):
        """Zero-phase FIR band-pass (or high-/low-pass) filter at each record's fs.

        Parameters
        ----------
        low, high : float or None
            Cut-offs in Hz.
        n_taps : int or None
            Odd number of taps (default: about ``3 / min(cut-off)`` seconds).
        window : str
            Window of :func:`scipy.signal.firwin`.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a cut-off is not below a record's Nyquist frequency.
        """
        self._check_below_nyquist(low=low, high=high)
        self.set_component("signal", self.map_signals(filters.fir_band_pass, low=low, high=high,
                                                      n_taps=n_taps, window=window))
        return self

    @action
    def notch_signals(self, freq=50.0, harmonics=1, quality=30.0):
        """Remove power-line interference with zero-phase notches at ``freq`` and harmonics.

        Parameters
        ----------
        freq : float
            Power-line frequency in Hz (50 or 60).
        harmonics : int
            Number of notched harmonics (those at or above a record's ``fs / 2`` are skipped).
        quality : float
            Quality factor of each notch.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If ``freq`` is not below a record's Nyquist frequency.
        """
        self._check_below_nyquist(freq=freq)
        self.set_component("signal", self.map_signals(filters.notch, freq=freq, harmonics=harmonics,
                                                      quality=quality))
        return self

    @action
    def remove_baseline(self, method="median", cutoff=0.5, windows=(0.2, 0.6)):
        """Remove baseline wander.

        Parameters
        ----------
        method : {"median", "highpass"}
            Two-stage median filter or zero-phase Butterworth high-pass.
        cutoff : float
            High-pass cut-off in Hz.
        windows : tuple of float
            Median filter lengths in seconds.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For an unknown ``method``.
        """
        self.set_component("signal", self.map_signals(filters.remove_baseline, method=method,
                                                      cutoff=cutoff, windows=windows))
        return self

    # --- resampling ----------------------------------------------------------------------
    @action
    def resample_signals(self, fs):
        """Resample every record to ``fs`` Hz (polyphase, any positive rate, e.g. ``301.257``).

        Annotation sample indices, per-sample targets, ``meta["fs"]``,
        ``meta["n_samples"]`` and split window starts (``meta["segment_starts"]``) are
        moved to the new rate. ``meta["fs"]`` is the rate the signal has
        (:func:`ecg.ops.resample.resampled_rate`): ``fs`` itself unless the ratio of the
        rates needs a fraction of terms above 10,000, whose nearest smaller fraction
        gives a rate within 1e-4 (usually 1e-8) of ``fs``.

        Parameters
        ----------
        fs : float
            New sampling rate in Hz.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record has no sampling rate.
        ValueError
            If ``fs`` is not strictly positive.
        """
        old_fs = self.fs
        signals, maps = self.map_signals(resample.resample_with_maps, new_fs=fs, with_maps=True)
        self._store_resampled(signals, maps, old_fs, [fs] * len(self), "resample_signals")
        return self

    def _store_resampled(self, signals, maps, old_fs, new_fs, action_name):
        """Store resampled signals; move annotations, per-sample targets and ``meta`` to the new rates.

        ``meta["fs"]`` becomes :func:`ecg.ops.resample.resampled_rate` of each record's
        old and new rate.
        """
        self.set_component("signal", signals)
        self.align_to(maps, action_name)
        for meta, rate, new, sig in zip(self.meta, old_fs, new_fs, signals):
            if sig.ndim == 3:
                meta["segment_starts"] = resample.resample_indices(meta.get("segment_starts", []), rate, new)
                meta["segment_length"] = sig.shape[-1]
                meta["n_samples"] = resample.resampled_length(meta["n_samples"], rate, new)
            else:
                meta["n_samples"] = sig.shape[-1]
            meta["fs"] = resample.resampled_rate(rate, new)

    # --- normalisation -------------------------------------------------------------------
    @action
    def normalize_signals(self, method="zscore", axis="lead"):
        """Normalise amplitudes.

        Parameters
        ----------
        method : {"zscore", "minmax", "robust"}
            z-score, min-max to ``[0, 1]``, or median/IQR.
        axis : {"lead", "record"}
            Statistics per lead, or over all leads of a record (of a segment after a split).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For an unknown ``method`` or ``axis``.
        """
        self.set_component("signal", self.map_signals(normalize.normalize, method=method, axis=axis,
                                                      group_by_fs=False))
        return self

    @action
    def clip_signals(self, low=None, high=None):
        """Clip amplitudes to ``[low, high]`` in the signal's units (``None``: no bound).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If ``low > high``.
        """
        self.set_component("signal", self.map_signals(normalize.clip, low=low, high=high,
                                                      group_by_fs=False))
        return self

    # --- lengths -------------------------------------------------------------------------
    @action
    def pad_signals(self, length, align="left", mode="constant", value=0.0):
        """Pad records shorter than ``length`` samples; longer ones are unchanged.

        Parameters
        ----------
        length : int
            Wanted length in samples.
        align : {"left", "center", "right"}
            Where the record sits in the padded signal; annotations and per-sample
            targets (padded with background 0) are shifted with it.
        mode : str
            :func:`numpy.pad` mode. ``"constant"`` and ``"edge"`` pad per-sample targets
            with background 0; modes that repeat the signal (``"wrap"``, ``"reflect"``,
            ``"symmetric"``) pad them the same way. ``"wrap"`` repeats annotations with
            each copy of the record; the mirroring modes refuse records with annotations.
        value : float
            Fill value of ``mode="constant"``.

        Returns
        -------
        self
        """
        maps = []
        for sig in self.signal:
            n = sig.shape[-1]
            before = segments.align_offset(max(length - n, 0), align)
            maps.append(_per_segment(sig, alignment.shift_map(n, -before, max(n, length))))
        repeats = mode not in ("constant", "edge")
        if repeats:
            if mode != "wrap":
                self._check_no_marks_in_repeats(mode, length)
            targets = self._pad_per_sample_targets(length, align, mode)
            tiled = self._tile_annotations(length, align) if mode == "wrap" else None
        self.set_component("signal", self.map_signals(segments.pad, length=length, align=align,
                                                      mode=mode, value=value, group_by_fs=False))
        self.align_to(maps, "pad_signals")
        if repeats and self.target is not None:
            self.set_component("target", targets)
        if repeats and tiled is not None:
            self.set_component("annotation", tiled)
        self._update_lengths()
        return self

    def _check_no_marks_in_repeats(self, mode, length):
        annotations = self.annotation if self.annotation is not None else [None] * len(self)
        for i, (annotation, sig) in enumerate(zip(annotations, self.signal)):
            if sig.shape[-1] < length and any(len(a["sample"]) for a in _flat_annotations(annotation)):
                raise RecordError(self.record_name(i), f"pad_signals(mode={mode!r}) mirrors samples, and "
                                  "annotations cannot be mirrored with them: pad with mode='wrap', "
                                  "'constant' or 'edge', or drop the annotations first")

    def _tile_annotations(self, length, align):
        """Annotations of a wrap padding: every mark repeated with each copy of the record."""
        if self.annotation is None:
            return None
        out = []
        for annotation, sig in zip(self.annotation, self.signal):
            n = sig.shape[-1]
            before = segments.align_offset(max(length - n, 0), align)
            n_out = max(n, length)
            out.append({ext: ([alignment.tile_annotation(a, n, before, n_out) for a in ann]
                              if isinstance(ann, list) else alignment.tile_annotation(ann, n, before, n_out))
                        for ext, ann in (annotation or {}).items()} if annotation is not None else None)
        return out

    def _pad_per_sample_targets(self, length, align, mode):
        targets = list(self.target) if self.target is not None else []
        for i, target in enumerate(targets):
            if self.has_per_sample_target(i):
                targets[i] = segments.pad(np.asarray(target), length, align=align, mode=mode)
        return targets

    @action
    def crop_signals(self, length, align="left"):
        """Crop records to ``length`` samples.

        Parameters
        ----------
        length : int
            Wanted length in samples.
        align : {"left", "center", "right"} or int
            Which part to keep (an int: the first kept sample). Annotations outside the
            kept part are dropped, the others shifted; per-sample targets are cropped.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record is shorter than ``length``.
        """
        maps = []
        for i, sig in enumerate(self.signal):
            if sig.shape[-1] < length:
                raise RecordError(self.record_name(i), f"cannot crop {sig.shape[-1]} samples to "
                                  f"length={length}: drop_short_signals or pad_signals first")
            excess = sig.shape[-1] - length
            start = align if isinstance(align, (int, np.integer)) else segments.align_offset(excess, align)
            maps.append(_per_segment(sig, alignment.shift_map(sig.shape[-1], start, length)))
        self.set_component("signal", self.map_signals(segments.crop, length=length, align=align,
                                                      group_by_fs=False))
        self.align_to(maps, "crop_signals")
        self._update_lengths()
        return self

    def _check_lengths(self, length, pad):
        for i, sig in enumerate(self.signal):
            if sig.shape[-1] < length and not pad:
                raise RecordError(self.record_name(i),
                                  f"{sig.shape[-1]} samples are shorter than one window of "
                                  f"length={length} samples: pass pad=True, or drop_short_signals first")

    @action
    def split_signals(self, length, step=None, pad=False):
        """Cut every record into windows of ``length`` samples every ``step`` samples.

        ``signal[i]`` becomes ``(n_segments, n_leads, length)``, a label ``target[i]``
        is repeated per segment and a per-sample target is cut with the signal,
        ``annotation[i][ext]`` becomes a list of per-segment annotations (samples
        counted from each window's start), and ``meta`` gets ``segment_starts``
        (samples), ``segment_length`` and ``n_segments``. Trailing samples that do not
        fill a window are dropped.

        Parameters
        ----------
        length : int
            Window length in samples.
        step : int or None
            Distance between window starts in samples (default ``length``; smaller overlaps).
        pad : bool
            Zero-pad records shorter than one window instead of raising.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record is shorter than ``length`` and ``pad`` is false, or is already split.
        """
        self._check_unsplit("split_signals")
        self._check_lengths(length, pad)
        windows = self.map_signals(segments.split, length=length, step=step, pad_short=pad,
                                   group_by_fs=False)
        starts = [segments.window_starts(max(sig.shape[-1], length), length, step) for sig in self.signal]
        self._store_segments(windows, starts, "split_signals")
        return self

    @action
    def random_split_signals(self, length, n_segments, seed=None):
        """Cut windows of ``length`` samples at random starts.

        Like :meth:`split_signals`, labels are repeated per window, per-sample targets
        and annotations are cut with the signal, and ``meta["segment_starts"]`` holds
        the random starts.

        Parameters
        ----------
        length : int
            Window length in samples.
        n_segments : int or dict
            Windows per record, or a mapping class name -> windows per record of that
            class (for class balance; needs string targets).
        seed : int or None
            Seed of the starts; ``None`` uses the batch's generator ``self.random``
            (seeded per pipeline run).

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record is shorter than ``length`` or already split.
        LabelError
            If ``n_segments`` is a dict without a record's class.
        """
        self._check_unsplit("random_split_signals")
        self._check_lengths(length, pad=False)
        counts = self._segment_counts(n_segments)
        rng = self.random if seed is None else np.random.default_rng(seed)

        def random_windows(x):
            starts = segments.random_starts(x.shape[-1], length, max(counts), rng, n=len(x))
            return segments.take_windows(x, starts, length), starts

        windows, starts = self.map_signals(random_windows, group_by_fs=False, with_maps=True)
        self._store_segments([w[:k] for w, k in zip(windows, counts)],
                             [s[:k].astype(np.int64) for s, k in zip(starts, counts)], "random_split_signals")
        return self

    def _segment_counts(self, n_segments):
        if not isinstance(n_segments, dict):
            return [int(n_segments)] * len(self)
        counts = []
        for i, target in enumerate(self.target if self.target is not None else [None] * len(self)):
            if not isinstance(target, str):
                raise LabelError(f"record {self.record_name(i)!r}: per-class n_segments needs a "
                                 f"class-name target, got {type(target).__name__}; split before "
                                 "label actions")
            if target not in n_segments:
                raise LabelError(f"record {self.record_name(i)!r}: label {target!r} is not a key "
                                 f"of n_segments {sorted(n_segments)}")
            counts.append(int(n_segments[target]))
        return counts

    def _store_segments(self, windows, starts, action):
        """Store windows cut at ``starts`` (per record), moving annotations and targets."""
        maps = []
        for sig, first, w in zip(self.signal, starts, windows):
            rows = alignment.window_maps(first, w.shape[-1])
            rows[rows > sig.shape[-1] - 1] = np.nan           # zero padding of a short record
            maps.append(rows)
        self.set_component("signal", windows)
        self.align_to(maps, action, split=True)
        for i, meta in enumerate(self.meta):
            meta["segment_length"] = windows[i].shape[-1]
            meta["n_segments"] = len(windows[i])
            meta["segment_starts"] = np.asarray(starts[i], dtype=np.int64)

    @action
    def unstack_signals(self):
        """Make every segment of a split record a batch item of its own.

        Item ``ix`` split into ``k`` segments becomes items ``"ix_0" ... "ix_{k-1}"`` with
        signal ``(n_leads, length)``, their own target, and a copy of the meta with
        ``segment`` (position), ``segment_start`` (first sample in the record) and the
        annotations of the window. Unsplit records are kept as they are.

        Returns
        -------
        EcgBatch
            A new batch with one item per segment.
        """
        indices, columns = [], {name: [] for name in self.components}
        annotations = self.annotation if self.annotation is not None else [None] * len(self)
        targets = self.target if self.target is not None else [None] * len(self)
        features = self.features if self.features is not None else [None] * len(self)
        added = added_components(self)
        for i, (ix, sig, meta) in enumerate(zip(self.indices, self.signal, self.meta)):
            if sig.ndim == 2:
                indices.append(str(ix))
                for name, value in zip(("signal", "annotation", "meta", "target", "features"),
                                       (sig, annotations[i], meta, targets[i], features[i])):
                    columns[name].append(value)
                for name in added:
                    columns[name].append(getattr(self, name)[i])
                continue
            starts = meta.get("segment_starts")
            for ext, ann in (annotations[i] or {}).items():
                if not isinstance(ann, list) or len(ann) != len(sig):
                    raise RecordError(self.record_name(i), f"unstack_signals: annotation {ext!r} is not "
                                      f"one per segment ({len(sig)} segments)")
            for k, segment in enumerate(sig):
                indices.append(f"{ix}_{k}")
                seg_meta = dict(meta, segment=k, n_samples=segment.shape[-1])
                for key in ("segment_starts", "n_segments", "segment_length"):
                    seg_meta.pop(key, None)
                if starts is not None:
                    seg_meta["segment_start"] = int(starts[k])
                seg_ann = {ext: ann[k] for ext, ann in (annotations[i] or {}).items()}
                columns["signal"].append(segment)
                columns["annotation"].append(seg_ann)
                columns["meta"].append(seg_meta)
                columns["target"].append(None if targets[i] is None else targets[i][k])
                columns["features"].append(None if features[i] is None else features[i][k])
                for name in added:
                    columns[name].append(component_part(getattr(self, name)[i], k))
        return new_batch(self, np.asarray(indices), columns)

    def _keep_records(self, positions, problem, report):
        """The batch of the records at ``positions``; with none, skip the batch (see ``skip_empty_batch``)."""
        if len(positions) == len(self):
            return self
        if len(positions) == 0:
            names = ", ".join(self.record_name(i) for i in range(len(self)))
            skip_empty_batch(self, EmptyRecordsError(names, problem), report)
        return subset(self, positions)

    @action
    def drop_short_signals(self, length, report=None):
        """Drop records shorter than ``length`` samples.

        Parameters
        ----------
        length : int
            Minimum length in samples.
        report : ErrorReport, optional
            Where a batch left empty is counted (see :func:`ecg.report.skip_empty_batch`);
            by default the pipeline's ``"ecg_errors"``.

        Returns
        -------
        EcgBatch
            A new batch without the short records (``self`` when none is short).

        Raises
        ------
        EmptyRecordsError
            If every record is shorter than ``length``: a ``SkipBatchException`` (a
            pipeline skips the batch and goes on) and a ``RecordError``.
        """
        keep = np.flatnonzero([sig.shape[-1] >= length for sig in self.signal])
        return self._keep_records(keep, f"all {len(self)} records are shorter than {length} samples: "
                                  "nothing is left in the batch", report)

    @action
    def select_leads(self, names):
        """Keep the leads named ``names`` (in that order), by ``meta["sig_name"]``.

        Parameters
        ----------
        names : str or list of str
            Lead names, e.g. ``["I", "II", "V1"]`` or ``"MLII"``.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record lacks one of the leads.
        """
        names = [names] if isinstance(names, str) else list(names)
        signals = []
        for i, (sig, meta) in enumerate(zip(self.signal, self.meta)):
            available = list(meta.get("sig_name", []))
            missing = [name for name in names if name not in available]
            if missing:
                raise RecordError(self.record_name(i), f"has no lead {missing}; its leads are {available}")
            positions = [available.index(name) for name in names]
            signals.append(sig[..., positions, :])
            meta["sig_name"] = names
            if "units" in meta:
                meta["units"] = [list(meta["units"])[p] for p in positions]
        self.set_component("signal", signals)
        return self

    # --- R peaks, heart rate, beats, masks, quality ------------------------------------
    def _lead_position(self, lead):
        """Position of ``lead`` (int or name) in the signals, the same in every record."""
        if isinstance(lead, (int, np.integer)):
            return int(lead)
        positions = set()
        for i, meta in enumerate(self.meta):
            names = list(meta.get("sig_name", []))
            if lead not in names:
                raise RecordError(self.record_name(i), f"has no lead {lead!r}; its leads are {names}")
            positions.add(names.index(lead))
        if len(positions) > 1:
            raise RecordError(self.record_name(0), f"lead {lead!r} is at different positions in the "
                              "records of this batch: select_leads first")
        return positions.pop()

    @action
    def find_r_peaks(self, lead=0, conf=None, ext="rpeaks"):
        """Detect R peaks on one lead (Pan-Tompkins, :class:`ecg.ops.rpeaks.PanTompkins`).

        Stores ``annotation[i][ext]``: ``sample`` (int64 R-peak indices at the record's
        fs), ``symbol`` (``"N"``) and ``aux_note`` (``""``). For a split record,
        ``annotation[i][ext]`` is a list with one such dict per segment, samples counted
        from the segment's start.

        Parameters
        ----------
        lead : int or str
            Lead position or name (e.g. ``"MLII"`` for MIT-BIH, ``"II"`` for 12 leads).
        conf : PanTompkinsConf or None
            Detector parameters.
        ext : str
            Annotation key to write.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record lacks the lead.
        """
        position = self._lead_position(lead)
        # (n, 1) object array: map_signals cannot reshape a per-record scalar to shape ()
        found = self.map_signals(lambda x, fs: rpeaks.r_peaks(x[:, position], fs, conf)[:, None])
        annotations = self.annotation if self.annotation is not None else [None] * len(self)
        out = []
        for annotation, peaks, sig in zip(annotations, found, self.signal):
            annotation = dict(annotation or {})
            annotation[ext] = (_peaks_annotation(peaks[0]) if sig.ndim == 2
                               else [_peaks_annotation(p) for p in peaks[:, 0]])
            out.append(annotation)
        self.set_component("annotation", out)
        return self

    @action
    def heart_rate(self, ext="rpeaks"):
        """Heart rate and RR intervals from the R peaks of ``annotation[i][ext]``.

        Sets ``meta["heart_rate"]`` (beats per minute; NaN with fewer than two peaks;
        one per segment for split records) and ``meta["rr_intervals"]`` (seconds).

        Parameters
        ----------
        ext : str
            Annotation key of the R peaks (see :meth:`find_r_peaks`).

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record has no ``ext`` annotation: call find_r_peaks first.
        """
        rates, intervals = [], []
        for i, (annotation, fs) in enumerate(zip(self.annotation, self.fs)):
            if not isinstance(annotation, dict) or ext not in annotation:
                raise RecordError(self.record_name(i), f"has no {ext!r} annotation: call find_r_peaks first")
            peaks = annotation[ext]
            if isinstance(peaks, list):
                rates.append(np.array([rpeaks.heart_rate(p["sample"], fs) for p in peaks]))
                intervals.append([rpeaks.rr_intervals(p["sample"], fs) for p in peaks])
            else:
                rates.append(rpeaks.heart_rate(peaks["sample"], fs))
                intervals.append(rpeaks.rr_intervals(peaks["sample"], fs))
        for meta, rate, rr in zip(self.meta, rates, intervals):
            meta["heart_rate"], meta["rr_intervals"] = rate, rr
        return self

    @action
    def beat_signals(self, before=0.25, after=0.45, ext="rpeaks"):
        """Replace every record by fixed windows around its beats (:func:`ecg.ops.beats.beat_windows`).

        ``signal[i]`` becomes ``(n_beats, n_leads, before + after)`` in samples;
        ``meta`` gets ``segment_starts`` (window starts), ``beat_samples`` and
        ``beat_symbols`` (the annotation symbols, e.g. WFDB beat labels for
        ``ext="atr"``), and ``target`` is repeated per beat. Beats whose window crosses
        the record's ends are dropped.

        Parameters
        ----------
        before, after : float
            Window length before and from the beat, in seconds.
        ext : str
            Annotation of the beats: ``"rpeaks"`` from :meth:`find_r_peaks`, or ``"atr"``
            (keep only beat labels first, e.g. with the AAMI classes of ``ecg.ops.beats``).

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record is split or has no ``ext`` annotation.
        """
        self._check_unsplit("beat_signals")
        windows, starts = [], []
        for i, (sig, annotation, fs, meta) in enumerate(zip(self.signal, self.annotation, self.fs, self.meta)):
            if not isinstance(annotation, dict) or ext not in annotation:
                raise RecordError(self.record_name(i), f"has no {ext!r} annotation to cut beats around")
            n_before, n_after = int(round(before * fs)), int(round(after * fs))
            ann = annotation[ext]
            cut, kept = beats.beat_windows(sig, ann["sample"], n_before, n_after)
            windows.append(cut)
            starts.append(np.asarray(ann["sample"])[kept] - n_before)
            meta["beat_samples"] = np.asarray(ann["sample"])[kept]
            meta["beat_symbols"] = np.asarray(ann["symbol"])[kept]
        self._store_segments(windows, starts, "beat_signals")
        return self

    @action
    def annotation_to_mask(self, ext, classes=masks.WAVE_CLASSES):
        """Turn wave annotations (``(``, peak, ``)``) into a per-sample class mask in ``target``.

        ``target[i]`` becomes int8 ``(n_samples,)``: 0 background, ``k`` for the wave
        whose peak label is ``classes[k - 1]`` (see :mod:`ecg.ops.masks`);
        ``self.classes`` becomes ``("background", *classes)`` and
        ``meta["per_sample_target"]`` is set, so later actions that crop, pad, split,
        resample, stretch or warp the signal move the mask with it.

        Parameters
        ----------
        ext : str
            Annotator extension, e.g. ``"ii"`` (LUDB) or ``"q1c"`` (QT Database).
        classes : sequence of str
            Peak labels of the wave classes.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record has no ``ext`` annotation or is split.
        """
        self._check_unsplit("annotation_to_mask")
        targets = []
        for i, (sig, annotation) in enumerate(zip(self.signal, self.annotation)):
            if not isinstance(annotation, dict) or ext not in annotation:
                raise RecordError(self.record_name(i), f"has no {ext!r} annotation: load(ann_ext={ext!r})")
            ann = annotation[ext]
            targets.append(masks.annotations_to_mask(ann["sample"], ann["symbol"], sig.shape[-1], classes))
        self.set_component("target", targets)
        self.update_meta(**{PER_SAMPLE_TARGET: True})
        self.classes = ("background", *classes)
        return self

    @action
    def mask_to_annotation(self, ext="mask", src="target", classes=masks.WAVE_CLASSES):
        """Turn per-sample class masks (e.g. a model's predictions) back into wave annotations.

        Each run of class ``k`` becomes ``(`` at its onset, ``classes[k - 1]`` at its
        middle and ``)`` at its offset, in ``annotation[i][ext]`` (a list of one such
        annotation per segment for a split record).

        Parameters
        ----------
        ext : str
            Annotation key to write.
        src : str
            Component holding int masks ``(n_samples,)``.
        classes : sequence of str
            Peak labels of classes ``1, 2, ...``.

        Returns
        -------
        self
        """
        annotations = self.annotation if self.annotation is not None else [None] * len(self)
        out = []
        for annotation, mask, sig in zip(annotations, getattr(self, src), self.signal):
            annotation = dict(annotation or {})
            mask = np.asarray(mask)
            annotation[ext] = ([_mask_annotation(row, classes) for row in mask] if sig.ndim == 3
                               else _mask_annotation(mask, classes))
            out.append(annotation)
        self.set_component("annotation", out)
        return self

    @action
    def signal_quality(self, max_flat=0.5, max_saturation=0.05, max_noise=1.0, drop=False, report=None):
        """Signal quality indices per lead, stored in ``meta["quality"]``; optionally drop bad records.

        ``meta["quality"]`` is a dict of per-lead arrays (per segment and lead after a
        split): ``flat`` (fraction of flat 200 ms windows), ``saturation`` (fraction of
        samples clipped at the extremes), ``noise`` (RMS above 40 Hz over RMS in 5-40 Hz),
        and ``ok`` (bool, all within limits), see :mod:`ecg.ops.quality`.

        Parameters
        ----------
        max_flat, max_saturation, max_noise : float
            Limits of the indices.
        drop : bool
            Return a new batch without the records where any lead fails.
        report : ErrorReport, optional
            With ``drop=True``, where a batch left empty is counted (see
            :func:`ecg.report.skip_empty_batch`); by default the pipeline's ``"ecg_errors"``.

        Returns
        -------
        self or EcgBatch
            ``self``, or with ``drop=True`` a new batch of the good records.

        Raises
        ------
        EmptyRecordsError
            With ``drop=True``, when no record passes: a ``SkipBatchException`` (a
            pipeline skips the batch and goes on) and a ``RecordError``.
        """
        flags = self.map_signals(quality.quality_flags, max_flat=max_flat, max_saturation=max_saturation,
                                 max_noise=max_noise)
        for meta, f in zip(self.meta, flags):
            meta["quality"] = {"flat": f[..., 0], "saturation": f[..., 1], "noise": f[..., 2],
                               "ok": f[..., 3].astype(bool)}
        if not drop:
            return self
        good = np.flatnonzero([meta["quality"]["ok"].all() for meta in self.meta])
        return self._keep_records(good, "no record passes the quality limits: nothing is left in the batch",
                                  report)


def _flat_annotations(annotation):
    """Every annotator dict of a record's annotation (per-segment lists flattened)."""
    for ann in (annotation or {}).values():
        yield from (ann if isinstance(ann, list) else [ann])


def _per_segment(sig, positions):
    """One sample map for a whole record, or the same map for each segment of a split one."""
    return np.broadcast_to(positions, sig.shape[:-2] + positions.shape)


def _mask_annotation(mask, classes):
    """WFDB-style wave annotation (``(``, peak, ``)`` per run) of one int mask ``(n_samples,)``."""
    intervals = masks.mask_to_intervals(mask, len(classes))
    rows = sorted((on, off, classes[k - 1]) for k, runs in intervals.items() for on, off in runs)
    sample = np.array([[on, (on + off) // 2, off] for on, off, _ in rows], dtype=np.int64).reshape(-1)
    symbol = np.array([s for *_, label in rows for s in ("(", label, ")")], dtype=str)
    return {"sample": sample, "symbol": symbol, "aux_note": np.full(len(sample), "")}


def _peaks_annotation(peaks):
    return {"sample": np.asarray(peaks, dtype=np.int64), "symbol": np.full(len(peaks), "N"),
            "aux_note": np.full(len(peaks), "")}
