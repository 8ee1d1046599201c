"""Lead actions of EcgBatch: one item per lead, and the stretch a lead's annotator covered.

Delineation databases annotate each lead on its own (LUDB: one annotation file per
lead, ``.i`` ... ``.v6``), and delineation networks learn from single leads with the
mask of that lead (Moskalenko et al. 2020). :meth:`LeadsMixin.unstack_leads` turns each
record into one item per lead, each carrying its own annotation and mask row;
:meth:`LeadsMixin.crop_to_annotated` crops an item to the stretch its mask annotates,
so that the unannotated ends of a record are not learnt as background.

Moskalenko V, Zolotykh N, Osipov G. Deep Learning for ECG Segmentation. Advances in
Neural Computation, Machine Learning, and Cognitive Research III, 2020, 246-254.
"""
import numpy as np
from batchflow import action

from ecg.batch.base import added_components, component_part, new_batch
from ecg.errors import RecordError
from ecg.ops import alignment, masks


class LeadsMixin:
    """Per-lead items and annotated stretches of EcgBatch."""

    @action
    def unstack_leads(self, lead_annotations=None):
        """Replace every record by one single-lead item per lead.

        Item ``f"{record}_{lead}"`` holds ``signal[k:k + 1]`` ``(1, n_samples)``, the
        record's ``meta`` with the lead's ``sig_name``, ``units`` and ``flat_leads``
        and ``meta["lead"]`` (``meta["record"]`` stays the record's name), and its
        ``features``. A per-sample target of one row per lead ``(n_leads, n_samples)``
        gives each item its row; any other target (a label, one mask for all leads) is
        copied to every item.

        Parameters
        ----------
        lead_annotations : str, optional
            Annotations named after a lead (LUDB's ``.i`` ... ``.v6``; names compared
            without case) belong to that lead only: each item gets its own lead's under
            this key (e.g. ``"lead"``, so that ``annotation_to_mask("lead")`` then makes
            every item's mask) and none of the other leads'. Annotations named after no
            lead (``atr``, ``rpeaks``) are copied to every item. ``None``: every
            annotation is copied to every item, under its own name.

        Returns
        -------
        EcgBatch
            A new batch of ``sum(n_leads)`` items, records in order, leads in signal order.

        Raises
        ------
        RecordError
            If a record is split (``unstack_signals`` first), its lead names do not match
            its leads, or a per-lead target has another number of rows.

        Examples
        --------
        ``batch.load(fmt="wfdb", components=["signal", "meta", "annotation"],
        ann_ext=ludb.LEADS).unstack_leads("lead").annotation_to_mask("lead")`` gives
        every lead of every record as an item with its own wave mask.
        """
        self._check_unsplit("unstack_leads")
        columns = {name: [] for name in self.components}
        indices = []
        for i, (ix, sig) in enumerate(zip(self.indices, self.signal)):
            meta = self.meta[i] if self.meta is not None and self.meta[i] is not None else {}
            names = [str(name) for name in meta.get("sig_name", range(len(sig)))]
            if len(names) != len(sig):
                raise RecordError(self.record_name(i), f"has {len(sig)} leads but {len(names)} lead names "
                                  f"{names}: fix meta['sig_name'] (select_leads keeps them matched)")
            target = self.target[i] if self.target is not None else None
            per_lead = self.has_per_sample_target(i) and np.ndim(target) == 2
            if per_lead and len(target) != len(sig):
                raise RecordError(self.record_name(i), f"its per-sample target has {len(target)} rows for "
                                  f"{len(sig)} leads: one mask row per lead is needed")
            annotation = self.annotation[i] if self.annotation is not None else None
            features = self.features[i] if self.features is not None else None
            for k, name in enumerate(names):
                indices.append(f"{ix}_{name}")
                columns["signal"].append(sig[k:k + 1])
                columns["meta"].append(_lead_meta(meta, k, name))
                columns["annotation"].append(_lead_annotation(annotation, names, name, lead_annotations))
                columns["target"].append(np.asarray(target)[k] if per_lead else target)
                columns["features"].append(features)
                for added in added_components(self):
                    columns[added].append(component_part(getattr(self, added)[i], slice(k, k + 1)))
        return new_batch(self, np.asarray(indices), columns)

    @action
    def crop_to_annotated(self, margin=0.0):
        """Crop each record to the stretch its per-sample mask annotates.

        The stretch runs from the first to the last wave sample of ``target``
        (:func:`ecg.ops.masks.annotated_span`; over all rows of a per-lead mask),
        widened by ``margin`` seconds on each side within the record. Annotations and
        the mask are cropped with the signal; records get different lengths.

        Parameters
        ----------
        margin : float
            Seconds kept before the first and after the last wave sample.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record is split, has no per-sample target (``annotation_to_mask``
            first) or no wave in it.
        ValueError
            If ``margin`` is negative.
        """
        if margin < 0:
            raise ValueError(f"Expected margin >= 0 seconds. Received: margin={margin}")
        self._check_unsplit("crop_to_annotated")
        signals, maps = [], []
        for i, (sig, fs) in enumerate(zip(self.signal, self.fs)):
            if not self.has_per_sample_target(i):
                raise RecordError(self.record_name(i), "crop_to_annotated needs a per-sample target: "
                                  "call annotation_to_mask first")
            span = masks.annotated_span(self.target[i])
            if span is None:
                raise RecordError(self.record_name(i), "its mask holds no wave: there is no annotated "
                                  "stretch to crop to (drop the record)")
            extra = int(round(margin * fs))
            start, stop = max(span[0] - extra, 0), min(span[1] + extra + 1, sig.shape[-1])
            signals.append(sig[..., start:stop])
            maps.append(alignment.shift_map(sig.shape[-1], start, stop - start))
        self.set_component("signal", signals)
        self.align_to(maps, "crop_to_annotated")
        self.update_meta(n_samples=[sig.shape[-1] for sig in signals])
        return self


def _lead_meta(meta, k, name):
    """The meta of lead ``k`` of a record: its own name, unit and flatness."""
    lead_meta = dict(meta, sig_name=[name], lead=name)
    if "units" in meta:
        lead_meta["units"] = [list(meta["units"])[k]]
    if "flat_leads" in meta:
        lead_meta["flat_leads"] = [0] if k in list(meta["flat_leads"]) else []
    return lead_meta


def _lead_annotation(annotation, names, name, key):
    """The annotations of lead ``name``'s item (see :meth:`LeadsMixin.unstack_leads`)."""
    if annotation is None:
        return None
    if key is None:
        return dict(annotation)
    lowered = {n.lower() for n in names}
    out = {ext: ann for ext, ann in annotation.items() if ext.lower() not in lowered}
    own = [ann for ext, ann in annotation.items() if ext.lower() == name.lower()]
    if own:
        out[key] = own[0]
    return out
