"""Signal, lead and ECG-parameter actions of EcgBatch that CardIO pipelines use.

Polarity fixes (:mod:`ecg.ops.polarity`), per-record random resampling
(:mod:`ecg.ops.resample`), convolution and per-lead functions
(:mod:`ecg.ops.transforms`), lead removal, renaming, reordering and unit conversion
(:mod:`ecg.ops.leads`), and heart rate with PQ, QRS and QT intervals
(:mod:`ecg.ops.intervals`). "Coming from CardIO" in the README maps CardIO's action
names to these.
"""
import numpy as np
from batchflow import action

from ecg.errors import ConfigError, RecordError, SignalError
from ecg.ops import intervals, leads, polarity, resample, transforms
from ecg.ops.masks import WAVE_CLASSES

MAX_DRAWS = 100
"""Draws of a random rate before a record whose distribution gives no positive rate is an error."""


class CardioMixin:
    """CardIO's signal, lead and parameter actions of EcgBatch."""

    # --- signals -------------------------------------------------------------------------
    @action
    def flip_signals(self, leads=None, window=0.1):
        """Flip the leads recorded upside down, judged from their QRS polarity.

        Each lead is judged on its own beats (:func:`ecg.ops.polarity.inverted_leads`:
        the median QRS deflection from the baseline points down) and multiplied by -1
        if it is inverted; ``meta["flipped_leads"]`` lists the names of the flipped
        leads. This fixes a wiring error, it is not a random augmentation (that is
        :meth:`~ecg.batch.augmentation.AugmentationMixin.flip_polarity`). A split
        record is judged per segment.

        Parameters
        ----------
        leads : str, int or list, optional
            The leads to check (names or positions); all by default. Leave out the
            leads whose QRS is normally negative, such as aVR of a 12-lead ECG.
        window : float
            Seconds around each detected QRS in which its deflection is measured.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record has no lead of ``leads`` or no sampling rate.

        Examples
        --------
        >>> batch.flip_signals(leads=["I", "II", "V5", "V6"])   # doctest: +SKIP
        """
        signals = []
        for i, (sig, fs, meta) in enumerate(zip(self.signal, self.fs, self.meta)):
            names = self._lead_names(i)
            positions = self._positions(i, names if leads is None else leads)
            flip = np.zeros(sig.shape[:-1], dtype=bool)
            flip[..., positions] = polarity.inverted_leads(sig[..., positions, :], fs, window=window)
            signals.append(np.where(flip[..., None], -sig, sig).astype(sig.dtype, copy=False))
            meta["flipped_leads"] = [names[k] for k in np.flatnonzero(flip.reshape(-1, sig.shape[-2]).any(axis=0))]
        self.set_component("signal", signals)
        return self

    @action
    def random_resample_signals(self, distribution, seed=None, **params):
        """Resample each record to its own random rate, drawn from ``distribution``.

        Every record gets a rate ``getattr(rng, distribution)(**params)`` Hz (any
        positive float; rates of 0 or less are drawn again), and is resampled to it as
        :meth:`~ecg.batch.preprocessing.PreprocessingMixin.resample_signals` does:
        annotations, per-sample targets, ``meta["fs"]`` and ``meta["n_samples"]`` move
        with the samples.

        Parameters
        ----------
        distribution : str or callable
            A distribution of :class:`numpy.random.Generator` (``"normal"``,
            ``"uniform"``, ``"choice"``...) or a function ``distribution(**params)``
            returning a rate.
        seed : int or None
            Seed of the draws; ``None`` uses the batch's generator ``self.random``.
        **params
            Parameters of the distribution, e.g. ``loc=300, scale=10`` for
            ``"normal"``, ``a=[250, 300, 500]`` for ``"choice"``.

        Returns
        -------
        self

        Raises
        ------
        ConfigError
            If ``distribution`` is neither a Generator distribution nor a callable.
        RecordError
            If a record has no sampling rate, or the distribution gave no positive
            rate in :data:`MAX_DRAWS` draws.

        Examples
        --------
        >>> batch.random_resample_signals("normal", loc=300, scale=10)   # doctest: +SKIP
        """
        rng = self.random if seed is None else np.random.default_rng(seed)
        if callable(distribution):
            draw = distribution
        elif isinstance(distribution, str) and not distribution.startswith("_") and \
                callable(getattr(rng, distribution, None)):
            draw = getattr(rng, distribution)
        else:
            raise ConfigError(f"Expected a distribution of numpy.random.Generator (e.g. 'normal', 'uniform') "
                              f"or a callable. Received: distribution={distribution!r}.")
        old_fs, new_fs = self.fs, []
        for i in range(len(self)):
            for _ in range(MAX_DRAWS):
                rate = float(np.asarray(draw(**params)).reshape(()))
                if np.isfinite(rate) and rate > 0:
                    break
            else:
                raise RecordError(self.record_name(i), f"random_resample_signals: {distribution!r} with "
                                  f"{params} gave no positive rate in {MAX_DRAWS} draws")
            new_fs.append(rate)
        signals, maps = [], []
        for sig, fs, rate in zip(self.signal, old_fs, new_fs):
            out, m = resample.resample_with_maps(sig.reshape(-1, *sig.shape[-2:]), fs, rate)
            signals.append(out.reshape(sig.shape[:-2] + out.shape[1:]))
            maps.append(m.reshape(sig.shape[:-2] + m.shape[-1:]))
        self._store_resampled(signals, maps, old_fs, new_fs, "random_resample_signals")
        return self

    @action
    def convolve_signals(self, kernel, padding="edge"):
        """Convolve every lead with ``kernel``, keeping its length (:func:`ecg.ops.transforms.convolve`).

        Output sample ``k`` is centred on input sample ``k``, so annotations stay valid;
        ``padding`` extends the ends (with ``"constant"`` zeros the result is
        ``numpy.convolve(lead, kernel, "same")``).

        Parameters
        ----------
        kernel : array-like of float
            1-D kernel, e.g. ``np.ones(5) / 5``.
        padding : {"edge", "constant", "reflect", "symmetric", "wrap"}
            :func:`numpy.pad` mode of the ends.

        Returns
        -------
        self

        Raises
        ------
        SignalError
            If ``kernel`` is not a finite 1-D array or ``padding`` is unknown.
        """
        self.set_component("signal", self.map_signals(transforms.convolve, kernel, padding=padding,
                                                      group_by_fs=False))
        return self

    @action
    def apply_to_each_lead(self, func, *args, **kwargs):
        """Replace every lead by ``func(lead, *args, **kwargs)`` (:func:`ecg.ops.transforms.apply_to_each_lead`).

        ``func`` takes a 1-D lead ``(n_samples,)`` and returns one of the same length
        (the annotations then stay on their samples). Not a recipe action: a saved
        model cannot name a function.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If ``func`` changes a lead's length, naming the record.

        Examples
        --------
        >>> batch.apply_to_each_lead(scipy.signal.detrend)   # doctest: +SKIP
        """
        out = []
        for i, sig in enumerate(self.signal):
            try:
                out.append(transforms.apply_to_each_lead(sig, func, *args, **kwargs))
            except SignalError as exc:
                raise RecordError(self.record_name(i), f"apply_to_each_lead: {exc}") from exc
        self.set_component("signal", out)
        return self

    # --- leads ---------------------------------------------------------------------------
    def _lead_names(self, i):
        names = [str(name) for name in self.meta[i].get("sig_name", [])]
        n_leads = self.signal[i].shape[-2]
        if len(names) != n_leads:
            raise RecordError(self.record_name(i), f"has {n_leads} leads but {len(names)} lead names {names}: "
                              "fix meta['sig_name']")
        return names

    def _positions(self, i, wanted):
        try:
            return leads.lead_positions(wanted, self._lead_names(i))
        except SignalError as exc:
            raise RecordError(self.record_name(i), str(exc)) from None

    def _take_leads(self, i, positions):
        """Record ``i``'s signal with only the leads at ``positions``, in that order; its meta follows."""
        meta = self.meta[i]
        names = self._lead_names(i)
        meta["sig_name"] = [names[p] for p in positions]
        if "units" in meta and len(meta["units"]) == len(names):
            meta["units"] = [list(meta["units"])[p] for p in positions]
        if "flat_leads" in meta:
            flat = set(meta["flat_leads"])
            meta["flat_leads"] = [k for k, p in enumerate(positions) if p in flat]
        return self.signal[i][..., positions, :]

    @action
    def drop_leads(self, leads):
        """Remove the leads named or numbered ``leads`` from every record.

        ``meta["sig_name"]``, ``meta["units"]`` and ``meta["flat_leads"]`` follow. (The
        random lead dropout augmentation, which zeroes leads, is
        :meth:`~ecg.batch.augmentation.AugmentationMixin.dropout_leads`.)

        Parameters
        ----------
        leads : str, int or list of str and int
            Lead names (``"V1"``) or positions (``0``, ``-1``).

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record has no such lead, or no lead would be left.

        Examples
        --------
        >>> batch.drop_leads(["aVR", "aVL", "aVF"])   # doctest: +SKIP
        """
        signals = []
        for i in range(len(self)):
            dropped = set(self._positions(i, leads))
            kept = [k for k in range(self.signal[i].shape[-2]) if k not in dropped]
            if not kept:
                raise RecordError(self.record_name(i), f"drop_leads({leads!r}) would leave no lead")
            signals.append(self._take_leads(i, kept))
        self.set_component("signal", signals)
        return self

    @action
    def reorder_leads(self, order):
        """Put every record's leads in the order ``order`` (names or positions of all its leads).

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If ``order`` is not a permutation of a record's leads (to keep some leads
            only, use :meth:`select_leads` or :meth:`drop_leads`).

        Examples
        --------
        >>> batch.reorder_leads(["II", "I", "III"])   # doctest: +SKIP
        """
        signals = []
        for i in range(len(self)):
            positions = self._positions(i, order)
            if sorted(positions) != list(range(self.signal[i].shape[-2])):
                raise RecordError(self.record_name(i), f"reorder_leads needs every lead once; {order!r} is not "
                                  f"an order of its leads {self._lead_names(i)}")
            signals.append(self._take_leads(i, positions))
        self.set_component("signal", signals)
        return self

    @action
    def rename_leads(self, names):
        """Rename leads: ``{"MLII": "II"}`` (names a record lacks are left out), or one new name per lead.

        Parameters
        ----------
        names : dict or list of str
            Old name -> new name, or the new names of all leads in order.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a list does not give one name per lead, or two leads would share a name.
        """
        for i, meta in enumerate(self.meta):
            old = self._lead_names(i)
            if isinstance(names, dict):
                new = [str(names.get(name, name)) for name in old]
            else:
                new = [str(name) for name in names]
                if len(new) != len(old):
                    raise RecordError(self.record_name(i), f"rename_leads got {len(new)} names for its "
                                      f"{len(old)} leads {old}")
            if len(set(new)) != len(new):
                raise RecordError(self.record_name(i), f"rename_leads would give two leads one name: {new}")
            meta["sig_name"] = new
        return self

    @action
    def convert_units(self, units="mV"):
        """Convert every lead to the voltage unit ``units`` and set ``meta["units"]``.

        Parameters
        ----------
        units : {"V", "mV", "uV", "µV", "nV"}
            The new unit (:data:`ecg.ops.leads.UNIT_EXPONENT`).

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record's ``meta["units"]`` does not give one voltage unit per lead.

        Examples
        --------
        >>> batch.convert_units("uV")   # doctest: +SKIP
        """
        signals = []
        for i, (sig, meta) in enumerate(zip(self.signal, self.meta)):
            old = [str(unit) for unit in meta.get("units", [])]
            if len(old) != sig.shape[-2]:
                raise RecordError(self.record_name(i), f"has {sig.shape[-2]} leads but units {old}")
            try:
                factors = np.array([leads.unit_factor(unit, units) for unit in old])
            except SignalError as exc:
                raise RecordError(self.record_name(i), f"convert_units: {exc}") from None
            signals.append((sig * factors[:, None]).astype(sig.dtype, copy=False))
            meta["units"] = [units] * len(old)
        self.set_component("signal", signals)
        return self

    # --- ECG parameters --------------------------------------------------------------------
    @action
    def calc_ecg_parameters(self, waves=None, ext="rpeaks", classes=WAVE_CLASSES):
        """Heart rate and PQ, QRS and QT intervals of each record, in ``meta["ecg_parameters"]``.

        A dict with the keys :data:`ecg.ops.intervals.PARAMETERS`: ``hr_median`` and
        ``hr_mean`` (beats per minute, from the median and the mean RR interval of the
        ``ext`` R peaks), ``rr_median`` and ``rr_mean`` (ms) and the median ``pq``,
        ``qrs`` and ``qt`` intervals (ms) of the delineation ``waves``
        (:mod:`ecg.ops.intervals`); NaN where a record has too few beats or waves.

        Parameters
        ----------
        waves : str, optional
            Where the delineation is: an annotation key holding a WFDB delineation
            (``(``, peak, ``)`` triplets: a LUDB lead such as ``"ii"``, or the
            ``mask_to_annotation`` output of a delineation model), or ``"target"`` for a
            per-sample wave mask ``(n_samples,)`` (``annotation_to_mask`` or a model's
            prediction: 0 background, 1 P, 2 QRS, 3 T). ``None``: heart rate only.
        ext : str
            Annotation key of the R peaks (:meth:`find_r_peaks`, or a reference ``"atr"``).
        classes : sequence of str
            Peak symbols of P, QRS and T in an annotation ``waves``.

        Returns
        -------
        self

        Raises
        ------
        RecordError
            If a record is split, has no ``ext`` or ``waves`` annotation, or its
            ``target`` is not a per-sample mask of one row.

        Examples
        --------
        >>> batch.find_r_peaks("ii").calc_ecg_parameters(waves="ii")   # doctest: +SKIP
        >>> batch.meta[0]["ecg_parameters"]["qt"]                      # doctest: +SKIP
        386.0
        """
        self._check_unsplit("calc_ecg_parameters")
        annotations = self.annotation if self.annotation is not None else [None] * len(self)
        for i, (annotation, fs) in enumerate(zip(annotations, self.fs)):
            annotation = annotation or {}
            if ext not in annotation:
                raise RecordError(self.record_name(i), f"has no {ext!r} annotation: call find_r_peaks first")
            delineation = None
            if waves == "target":
                mask = np.asarray(self.target[i]) if self.target is not None else None
                if not self.has_per_sample_target(i) or mask.ndim != 1:
                    raise RecordError(self.record_name(i), "calc_ecg_parameters(waves='target') needs a per-sample "
                                      "mask of one row in target (annotation_to_mask, or one lead's prediction)")
                delineation = intervals.waves_from_mask(mask)
            elif waves is not None:
                if waves not in annotation:
                    raise RecordError(self.record_name(i), f"has no {waves!r} annotation (load it with "
                                      "ann_ext, or mask_to_annotation a predicted mask)")
                delineation = intervals.waves_from_annotation(annotation[waves]["sample"],
                                                              annotation[waves]["symbol"], classes)
            self.meta[i]["ecg_parameters"] = intervals.ecg_parameters(annotation[ext]["sample"], fs, delineation)
        return self
