"""Feature front-end actions of EcgBatch: feature vectors in ``features``.

A model that takes a feature input beside the signal (``feature_input`` in its
config) is fed ``features`` by the model actions: one row per record, repeated for
every window of a split record, or one row per beat after
:meth:`~ecg.batch.preprocessing.PreprocessingMixin.beat_signals` and
:meth:`FeaturesMixin.beat_rr_features`.
"""
import numpy as np
from batchflow import action

from ecg.errors import RecordError
from ecg.ops import beats, hrv


class FeaturesMixin:
    """Feature actions of EcgBatch."""

    @action
    def rr_features(self, ext="rpeaks"):
        """RR-interval and HRV features of each record (:func:`ecg.ops.hrv.rr_features`).

        ``features[i]`` becomes float32 ``(n_features,)`` (``(n_segments, n_features)``
        for a split record, from each segment's own peaks) and ``meta["feature_names"]``
        names the columns: :data:`ecg.ops.hrv.FEATURES`, then ``duration`` (the length
        of the record or segment in seconds). Features a record has too few beats for
        are 0, and ``meta["n_missing_features"]`` counts them.

        Parameters
        ----------
        ext : str
            Annotation holding the R peaks: ``"rpeaks"`` from
            :meth:`~ecg.batch.preprocessing.PreprocessingMixin.find_r_peaks`, or a
            reference beat annotation (``"atr"``).

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record has no ``ext`` annotation: call find_r_peaks first.

        Examples
        --------
        ``batch.find_r_peaks(0).rr_features()`` before any crop or split, so the
        features describe the whole record.
        """
        out = []
        for i, (annotation, fs) in enumerate(zip(self._annotations(), self.fs)):
            if not isinstance(annotation, dict) or ext not in annotation:
                raise RecordError(self.record_name(i), f"has no {ext!r} annotation: call find_r_peaks first")
            peaks = annotation[ext]
            duration = self.signal[i].shape[-1] / fs
            rows = [np.append(hrv.rr_features(np.diff(p["sample"]) / fs), duration)
                    for p in (peaks if isinstance(peaks, list) else [peaks])]
            values = np.stack(rows) if isinstance(peaks, list) else rows[0]
            self.meta[i]["n_missing_features"] = int(np.isnan(values).sum())
            self.meta[i]["feature_names"] = [*hrv.FEATURES, "duration"]
            out.append(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32))
        self.set_component("features", out)
        return self

    @action
    def keep_beats(self, ext="atr"):
        """Keep only the beat labels of annotation ``ext`` (those with an AAMI class).

        Rhythm changes (``+``), noise (``~``), flutter waves (``!``) and the other
        non-beat labels are dropped, so :meth:`beat_signals` cuts one window per beat
        (the table is in :mod:`ecg.ops.beats`).

        Parameters
        ----------
        ext : str
            Annotation key of the WFDB beat labels, e.g. ``"atr"`` (MIT-BIH).

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record has no ``ext`` annotation.
        """
        out = []
        for i, annotation in enumerate(self._annotations()):
            if not isinstance(annotation, dict) or ext not in annotation:
                raise RecordError(self.record_name(i), f"has no {ext!r} annotation: load(ann_ext={ext!r})")
            ann = annotation[ext]
            segments = ann if isinstance(ann, list) else [ann]
            kept = [{key: np.asarray(values)[beats.aami_classes(a["symbol"]) != ""] for key, values in a.items()}
                    for a in segments]
            out.append({**annotation, ext: kept if isinstance(ann, list) else kept[0]})
        self.set_component("annotation", out)
        return self

    @action
    def beat_rr_features(self, n_local=10):
        """Per-beat RR features of records cut into beats (:func:`ecg.ops.beats.beat_rr_features`).

        Call it right after :meth:`beat_signals`: ``features[i]`` becomes float32
        ``(n_beats, 9)``, one row per beat window, from ``meta["beat_samples"]`` at
        the record's rate, normalised by the record's own mean RR interval; columns
        named in ``meta["feature_names"]`` (:data:`ecg.ops.beats.BEAT_RR_FEATURES`).
        Beats that ``beat_signals`` dropped at the record's ends are not counted, so
        the first kept beat's pre-RR is the record's mean RR. A record of fewer than two
        beats has no RR interval: its features are 1 and ``meta["n_missing_features"]``
        counts them.

        Parameters
        ----------
        n_local : int
            RR intervals in the local average around each beat.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record was not cut into beats (no ``meta["beat_samples"]``).
        """
        out = []
        for i, (meta, fs) in enumerate(zip(self.meta, self.fs)):
            if "beat_samples" not in meta or np.ndim(self.signal[i]) != 3:
                raise RecordError(self.record_name(i), "beat_rr_features needs a record cut into beats: "
                                  "call beat_signals first")
            values = beats.beat_rr_features(meta["beat_samples"], fs, n_local=n_local)
            meta["n_missing_features"] = int(np.isnan(values).sum())
            meta["feature_names"] = list(beats.BEAT_RR_FEATURES)
            out.append(np.nan_to_num(values, nan=1.0).astype(np.float32))
        self.set_component("features", out)
        return self

    @action
    def beat_templates(self):
        """Append each record's median beat to its beat windows, as extra leads (:func:`ecg.ops.beats.with_template`).

        Call it after :meth:`beat_signals`: ``signal[i]`` becomes ``(n_beats, 2 *
        n_leads, window)``, and ``meta["sig_name"]`` gets the names of the template
        leads (``"median MLII"``...).

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record was not cut into beats.
        """
        signals = []
        for i, (sig, meta) in enumerate(zip(self.signal, self.meta)):
            if "beat_samples" not in meta or np.ndim(sig) != 3:
                raise RecordError(self.record_name(i), "beat_templates needs a record cut into beats: "
                                  "call beat_signals first")
            signals.append(beats.with_template(sig))
            names = list(meta.get("sig_name", []))
            meta["sig_name"] = names + [f"median {name}" for name in names]
        self.set_component("signal", signals)
        return self

    def _annotations(self):
        return self.annotation if self.annotation is not None else [None] * len(self)
