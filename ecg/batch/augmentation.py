"""Augmentation actions of EcgBatch: noise, wander, scaling, flips, stretches, crops, dropouts.

Each action draws from ``np.random.default_rng(seed)`` when ``seed`` is given, else from
the batch's generator ``self.random`` (seeded per pipeline run by batchflow), and
applies to each record (each segment after a split) with probability ``p``. The
functions are in :mod:`ecg.ops.augment`.
"""
import numpy as np
from batchflow import action

from ecg.ops import alignment, augment, segments


class AugmentationMixin:
    """Augmentation actions of EcgBatch."""

    def _augment(self, func, seed, *, group_by_fs=True, **kwargs):
        rng = self.random if seed is None else np.random.default_rng(seed)
        self.set_component("signal", self.map_signals(func, rng=rng, group_by_fs=group_by_fs, **kwargs))
        return self

    def _move(self, make_maps, seed, action_name, **kwargs):
        """Resample every signal at the sample maps ``make_maps(n_items, n_samples, rng, **kwargs)``
        and move annotations and per-sample targets by the same maps."""
        rng = self.random if seed is None else np.random.default_rng(seed)

        def moved(x):
            maps = make_maps(len(x), x.shape[-1], rng, **kwargs)
            return alignment.interpolate_at(x, maps), maps

        signals, maps = self.map_signals(moved, group_by_fs=False, with_maps=True)
        self.set_component("signal", signals)
        self.align_to(maps, action_name)
        return self

    @action
    def add_gaussian_noise(self, snr_db=20.0, p=1.0, seed=None):
        """Add white Gaussian noise at ``snr_db`` dB per lead.

        Parameters
        ----------
        snr_db : float or tuple of float
            Signal-to-noise ratio in dB, or a ``(low, high)`` range drawn per record.
        p : float
            Probability of augmenting each record.
        seed : int or None
            Seed; ``None`` uses ``self.random``.

        Returns
        -------
        self
        """
        return self._augment(augment.gaussian_noise, seed, snr_db=snr_db, p=p, group_by_fs=False)

    @action
    def add_uniform_noise(self, amplitude=0.03, p=1.0, seed=None):
        """Add noise drawn uniformly in ``[-amplitude, amplitude]`` (signal units).

        With ``amplitude`` half the step of an int8 input grid, this is the rounding an
        int8 export applies to the input (quantisation-aware training of the input).

        Returns
        -------
        self
        """
        return self._augment(augment.uniform_noise, seed, amplitude=amplitude, p=p, group_by_fs=False)

    @action
    def add_baseline_wander(self, amplitude=0.2, freq=(0.05, 0.5), p=1.0, seed=None):
        """Add baseline wander: slow sinusoids of ``freq`` Hz up to ``amplitude`` (signal units).

        Returns
        -------
        self
        """
        return self._augment(augment.baseline_wander, seed, amplitude=amplitude, freq=freq, p=p)

    @action
    def add_emg_noise(self, snr_db=20.0, band=(20.0, 150.0), p=1.0, seed=None):
        """Add muscle-like noise: Gaussian noise in ``band`` Hz at ``snr_db`` dB.

        Returns
        -------
        self
        """
        return self._augment(augment.emg_noise, seed, snr_db=snr_db, band=band, p=p)

    @action
    def add_powerline_noise(self, amplitude=0.05, freq=50.0, harmonics=1, p=1.0, seed=None):
        """Add power-line interference at ``freq`` Hz (50 or 60) up to ``amplitude`` (signal units).

        Returns
        -------
        self
        """
        return self._augment(augment.powerline_noise, seed, amplitude=amplitude, freq=freq,
                             harmonics=harmonics, p=p)

    @action
    def add_noise_at_snr(self, snr_db=6.0, kinds=augment.NOISE_KINDS, powerline_freq=50.0, clean_target=False,
                         seed=None):
        """Add realistic noise at ``snr_db`` dB: a random mixture of ``kinds`` (see
        :func:`ecg.ops.augment.noise_at_snr`: baseline wander, muscle artefact, electrode
        motion, power line).

        Parameters
        ----------
        snr_db : float or tuple of float
            SNR in dB, or a ``(low, high)`` range drawn per record.
        kinds : sequence of str
            Noise kinds mixed, of :data:`ecg.ops.augment.NOISE_KINDS`.
        powerline_freq : float
            Mains frequency in Hz (50 or 60).
        clean_target : bool
            Keep the clean signal as the ``target``, in the model layout ``(n_samples,
            n_leads)`` (a denoiser learns to give it back).
        seed : int or None
            Seed; ``None`` uses ``self.random``.

        Returns
        -------
        self
        """
        if clean_target:
            self.set_component("target", [np.ascontiguousarray(np.swapaxes(sig, -1, -2), dtype=np.float32)
                                          for sig in self.signal])
        return self._augment(_noisy, seed, snr_db=snr_db, kinds=tuple(kinds), powerline_freq=powerline_freq)

    @action
    def standardize_amplitude(self, with_target=False):
        """Divide each record (each segment) by the SD of its signal over leads and samples.

        A network fed standardised windows sees one amplitude scale whatever the
        record's gain or noise level (its output is scaled back by the same factor).

        Parameters
        ----------
        with_target : bool
            Divide a per-sample target (e.g. the clean signal of
            :meth:`add_noise_at_snr`) by the same factor as its signal.

        Returns
        -------
        self
        """
        scales = [np.maximum(np.std(sig, axis=(-2, -1), keepdims=True), 1e-6) for sig in self.signal]
        self.set_component("signal", [(sig / s).astype(sig.dtype, copy=False) for sig, s in zip(self.signal, scales)])
        if with_target:
            self.set_component("target", [(np.asarray(t) / np.swapaxes(s, -1, -2)).astype(np.float32)
                                          for t, s in zip(self.target, scales)])
        return self

    @action
    def scale_amplitude(self, low=0.8, high=1.2, p=1.0, seed=None):
        """Multiply each record by a factor drawn in ``[low, high]``.

        Returns
        -------
        self
        """
        return self._augment(augment.amplitude_scale, seed, low=low, high=high, p=p, group_by_fs=False)

    @action
    def flip_polarity(self, p=0.5, seed=None):
        """Invert the sign of each record with probability ``p``.

        Returns
        -------
        self
        """
        return self._augment(augment.polarity_flip, seed, p=p, group_by_fs=False)

    @action
    def stretch_time(self, max_stretch=0.1, p=1.0, seed=None):
        """Stretch or compress time by up to ``max_stretch`` (fraction), keeping the length.

        Annotations and per-sample targets move with the samples (marks pushed past
        the end are dropped).

        Returns
        -------
        self
        """
        return self._move(augment.stretch_maps, seed, "stretch_time", max_stretch=max_stretch, p=p)

    @action
    def warp_time(self, max_warp=0.1, n_knots=4, p=1.0, seed=None):
        """Smooth non-linear time warp (local speed within ``1 ± max_warp``), keeping the length.

        Annotations and per-sample targets move with the samples.

        Returns
        -------
        self
        """
        return self._move(augment.warp_maps, seed, "warp_time", max_warp=max_warp, n_knots=n_knots, p=p)

    @action
    def random_crop_signals(self, length, seed=None):
        """Crop each record (each segment) to ``length`` samples at a random start.

        Annotations and per-sample targets are cropped with the signal.

        Returns
        -------
        self

        Raises
        ------
        SignalError
            If a signal is shorter than ``length``.
        """
        rng = self.random if seed is None else np.random.default_rng(seed)

        def crop(x):
            starts = augment.crop_starts(len(x), x.shape[-1], rng, length)
            return segments.take_windows(x, starts[:, None], length)[:, 0], alignment.window_maps(starts, length)

        signals, maps = self.map_signals(crop, group_by_fs=False, with_maps=True)
        self.set_component("signal", signals)
        self.align_to(maps, "random_crop_signals")
        for meta, sig in zip(self.meta, self.signal):
            if sig.ndim == 2:
                meta["n_samples"] = sig.shape[-1]
            else:
                meta["segment_length"] = sig.shape[-1]
        return self

    @action
    def cutout_signals(self, duration=0.5, value=0.0, p=1.0, seed=None):
        """Set a random window of ``duration`` seconds of each record to ``value``.

        Returns
        -------
        self
        """
        return self._augment(augment.cutout, seed, duration=duration, value=value, p=p)

    @action
    def dropout_leads(self, rate=0.25, p=1.0, seed=None):
        """Zero each lead with probability ``rate`` (at least one lead is kept).

        The leads stay in the record, zeroed; to remove leads by name or position, use
        :meth:`~ecg.batch.cardio.CardioMixin.drop_leads`.

        Returns
        -------
        self
        """
        return self._augment(augment.lead_dropout, seed, rate=rate, p=p, group_by_fs=False)


def _noisy(x, fs, rng, **kwargs):
    """``x`` plus :func:`ecg.ops.augment.noise_at_snr`, in ``x``'s dtype."""
    return (x + augment.noise_at_snr(x, fs, rng, **kwargs)).astype(x.dtype, copy=False)
