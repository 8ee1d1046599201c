"""Feature front-end actions of EcgBatch: per-record feature vectors in ``features``.

A model that takes a feature input beside the signal (``inputs: ["signal",
"features"]`` in its config) is fed ``features`` by the model actions, repeated for
every window of a split record.
"""
import numpy as np
from batchflow import action

from ecg.errors import RecordError
from ecg.ops import hrv


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

    def _annotations(self):
        return self.annotation if self.annotation is not None else [None] * len(self)
