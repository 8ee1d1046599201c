"""Spectral and wavelet actions of EcgBatch: transforms of a component into a named component.

Each action reads component ``src`` (``signal`` by default), applies a function of
:mod:`ecg.ops.spectral` or :mod:`ecg.ops.wavelets` to every record (every lead, every
segment of a split record) and stores the result in component ``dst``, which is added
to the batch when it is new (and then kept by the actions that make new batches). The
axes of a transform come after the record's own leading axes: a record
``(n_leads, n_samples)`` gives a spectrum ``(n_leads, n_freqs)``.

Side information goes to ``meta``: ``meta[f"{dst}_freqs"]`` (Hz) for spectra,
spectrograms and CWTs, ``meta[f"{dst}_times"]`` (s) for spectrograms, and
``meta[f"{dst}_n_samples"]``, the length of the transformed signal, which the inverse
transforms (``ifft``, ``irfft``, ``idwt``, ``waverec``) use to give back that length.

=============== ======================= ===========================================
action          default ``dst``         per record
=============== ======================= ===========================================
``fft``         ``spectrum``            complex ``(..., n)``
``rfft``        ``spectrum``            complex ``(..., n // 2 + 1)``
``spectrogram`` ``stft``                ``(..., n_freqs, n_times)``
``dwt``         ``dwt_coeffs``          ``(..., 2, n_coeffs)``: ``cA``, ``cD``
``wavedec``     ``wavelet_coeffs``      list ``[cA_n, cD_n, ..., cD_1]``
``cwt``         ``scalogram``           ``(..., n_scales, n_samples)``
=============== ======================= ===========================================

The inverse actions read those defaults and write ``signal``. (A component cannot take
the name of an action: ``batch.fft`` is the action.)

A transform is computed from the component as it is: an action run later that moves
samples (crop, resample, split) does not move it; transform last. Actions that make new
batches keep it: a subset keeps each record's value, ``unstack_signals`` gives each
segment its part (first axis), ``unstack_leads`` each lead its part (first axis of an
unsplit record).
"""
import keyword
import re

import numpy as np
from batchflow import action

from ecg.errors import ConfigError, RecordError, SignalError
from ecg.ops import spectral, wavelets

_COMPONENT = re.compile(r"[a-z][a-z0-9_]{0,31}")
RESERVED = ("meta", "annotation")
"""Components a transform may not overwrite: they are the record's bookkeeping."""


class SpectralMixin:
    """Fourier, spectrogram and wavelet actions of EcgBatch."""

    def _check_dst(self, dst):
        """Add component ``dst`` if it is new; refuse names that are not component names."""
        if not isinstance(dst, str) or not _COMPONENT.fullmatch(dst) or keyword.iskeyword(dst):
            raise ConfigError(f"Expected a component name (lower-case letters, digits, '_', up to 32). "
                              f"Received: dst={dst!r}.")
        if dst in RESERVED:
            raise ConfigError(f"Expected a component other than {RESERVED} to write a transform to. "
                              f"Received: dst={dst!r}.")
        if dst not in self.components:
            if hasattr(type(self), dst):
                raise ConfigError(f"dst={dst!r} is an attribute of {type(self).__name__}: name another component")
            self.add_components(dst)

    def _transform(self, action_name, func, src, dst, *args, with_fs=False, inverse_length=None, **kwargs):
        """``func(values, *args, **kwargs)`` on every record's ``src``; store the results in ``dst``.

        ``func`` returns an array, or a tuple ``(array, side)`` where ``side`` is a dict
        of ``meta`` entries (keys prefixed with ``dst``). ``with_fs`` passes the record's
        rate as ``fs``; ``inverse_length`` names the argument of ``func`` that gets
        ``meta[f"{src}_n_samples"]`` when it is not given.
        """
        if src not in self.components or getattr(self, src) is None:
            raise ConfigError(f"{action_name}: the batch has no component {src!r}")
        self._check_dst(dst)
        out = []
        for i, values in enumerate(getattr(self, src)):
            if values is None:
                raise RecordError(self.record_name(i), f"{action_name}: its {src!r} is empty")
            meta = self.meta[i]
            call = dict(kwargs)
            if with_fs:
                call["fs"] = self.fs[i]
            if inverse_length and call.get(inverse_length) is None:
                call[inverse_length] = meta.get(f"{src}_n_samples")
            try:
                result = func(values, *args, **call)
            except SignalError as exc:
                raise RecordError(self.record_name(i), f"{action_name}: {exc}") from exc
            result, side = result if isinstance(result, tuple) else (result, {})
            if not inverse_length:
                meta[f"{dst}_n_samples"] = np.shape(values)[-1]
            meta.update({f"{dst}_{key}": value for key, value in side.items()})
            if dst == "signal":
                result = self._as_signal(i, np.asarray(result), action_name)
            out.append(result)
        self.set_component(dst, out)
        return self

    def _as_signal(self, i, values, action_name):
        """An inverse transform's result as record ``i``'s signal: real, of the signal's length."""
        current = self.signal[i] if self.signal is not None else None
        if current is not None and np.shape(current) != values.shape:
            raise RecordError(self.record_name(i), f"{action_name} gives {values.shape}, not the signal's shape "
                              f"{np.shape(current)}: annotations would not line up; pass dst='another_name'")
        real = values.real if np.iscomplexobj(values) else values
        return real.astype(np.float32 if real.dtype in (np.float32, np.complex64) else real.dtype, copy=False)

    # --- Fourier -------------------------------------------------------------------------
    @action
    def fft(self, src="signal", dst="spectrum", n=None, norm=None):
        """Discrete Fourier transform of every lead (:func:`ecg.ops.spectral.fft`) into ``dst``.

        ``dst`` holds complex ``(..., n)`` spectra; ``meta[f"{dst}_freqs"]`` their
        frequencies in Hz (:func:`numpy.fft.fftfreq`).

        Parameters
        ----------
        src, dst : str
            Component read and component written (added if new).
        n : int, optional
            Length of the transform (cut or zero-padded); the signal's by default.
        norm : {None, "backward", "ortho", "forward"}
            :mod:`numpy.fft` normalisation.

        Returns
        -------
        self

        Raises
        ------
        ConfigError
            If ``src`` is missing or ``dst`` is not a component name.
        RecordError
            If a record's values cannot be transformed, naming it.

        Examples
        --------
        >>> batch.fft()                                              # doctest: +SKIP
        >>> batch.spectrum[0].shape, batch.meta[0]["spectrum_freqs"][1]   # doctest: +SKIP
        ((1, 9000), 0.0333...)
        """
        def transform(x, fs):
            out = spectral.fft(x, n=n, norm=norm)
            return out, {"freqs": spectral.fft_frequencies(out.shape[-1], fs)}

        return self._transform("fft", transform, src, dst, with_fs=True)

    @action
    def ifft(self, src="spectrum", dst="signal", n=None, norm=None):
        """Inverse of :meth:`fft` (:func:`ecg.ops.spectral.ifft`): ``src`` spectra into ``dst``.

        Into ``"signal"`` the real part is kept and the shape must be the signal's (so
        annotations stay valid); into any other component the complex result is stored.
        ``n`` defaults to the length the spectrum was computed from.

        Returns
        -------
        self
        """
        return self._transform("ifft", spectral.ifft, src, dst, norm=norm, n=n, inverse_length="n")

    @action
    def rfft(self, src="signal", dst="spectrum", n=None, norm=None):
        """One-sided Fourier transform of every lead (:func:`ecg.ops.spectral.rfft`) into ``dst``.

        ``dst`` holds complex ``(..., n // 2 + 1)`` spectra; ``meta[f"{dst}_freqs"]``
        their frequencies in Hz (:func:`numpy.fft.rfftfreq`).

        Returns
        -------
        self
        """
        def transform(x, fs):
            out = spectral.rfft(x, n=n, norm=norm)
            return out, {"freqs": spectral.rfft_frequencies(n or np.shape(x)[-1], fs)}

        return self._transform("rfft", transform, src, dst, with_fs=True)

    @action
    def irfft(self, src="spectrum", dst="signal", n=None, norm=None):
        """Inverse of :meth:`rfft` (:func:`ecg.ops.spectral.irfft`): real leads into ``dst``.

        ``n`` defaults to the length the spectrum was computed from
        (``meta[f"{src}_n_samples"]``), so odd lengths come back whole.

        Returns
        -------
        self
        """
        return self._transform("irfft", spectral.irfft, src, dst, norm=norm, n=n, inverse_length="n")

    @action
    def spectrogram(self, src="signal", dst="stft", nperseg=256, noverlap=None, window=("tukey", 0.25),
                    mode="psd", scaling="density"):
        """Short-time Fourier spectrogram of every lead (:func:`ecg.ops.spectral.spectrogram`).

        ``dst`` holds ``(..., n_freqs, n_times)``; ``meta[f"{dst}_freqs"]`` (Hz) and
        ``meta[f"{dst}_times"]`` (s, segment centres) name the axes.

        Parameters
        ----------
        nperseg, noverlap : int
            Samples per segment and shared by consecutive segments (``nperseg // 8``
            by default).
        window, mode, scaling
            As :func:`scipy.signal.spectrogram` takes them.

        Returns
        -------
        self
        """
        def transform(x, fs):
            freqs, times, values = spectral.spectrogram(x, fs, nperseg=nperseg, noverlap=noverlap, window=window,
                                                        mode=mode, scaling=scaling)
            return values, {"freqs": freqs, "times": times}

        return self._transform("spectrogram", transform, src, dst, with_fs=True)

    # --- wavelets ------------------------------------------------------------------------
    @action
    def dwt(self, src="signal", dst="dwt_coeffs", wavelet="db4", mode="symmetric"):
        """One-level discrete wavelet transform of every lead (:func:`ecg.ops.wavelets.dwt`).

        ``dst`` holds ``(..., 2, n_coeffs)``: approximation then detail coefficients.

        Parameters
        ----------
        wavelet : str
            A discrete wavelet of :func:`pywt.wavelist` (``"db4"``, ``"sym5"``...).
        mode : str
            PyWavelets signal extension mode.

        Returns
        -------
        self
        """
        return self._transform("dwt", wavelets.dwt, src, dst, wavelet=wavelet, mode=mode)

    @action
    def idwt(self, src="dwt_coeffs", dst="signal", wavelet="db4", mode="symmetric"):
        """Inverse of :meth:`dwt` (:func:`ecg.ops.wavelets.idwt`), of the transformed length.

        Returns
        -------
        self
        """
        return self._transform("idwt", wavelets.idwt, src, dst, wavelet=wavelet, mode=mode,
                               inverse_length="n_samples")

    @action
    def wavedec(self, src="signal", dst="wavelet_coeffs", wavelet="db4", level=None, mode="symmetric"):
        """Multilevel wavelet decomposition of every lead (:func:`ecg.ops.wavelets.wavedec`).

        ``dst[i]`` is the list ``[cA_level, cD_level, ..., cD_1]``, each ``(...,
        n_coeffs_k)``.

        Parameters
        ----------
        level : int, optional
            Levels; the deepest useful one by default.

        Returns
        -------
        self
        """
        return self._transform("wavedec", wavelets.wavedec, src, dst, wavelet=wavelet, level=level, mode=mode)

    @action
    def waverec(self, src="wavelet_coeffs", dst="signal", wavelet="db4", mode="symmetric"):
        """Inverse of :meth:`wavedec` (:func:`ecg.ops.wavelets.waverec`), of the transformed length.

        Returns
        -------
        self
        """
        return self._transform("waverec", wavelets.waverec, src, dst, wavelet=wavelet, mode=mode,
                               inverse_length="n_samples")

    @action
    def cwt(self, scales, src="signal", dst="scalogram", wavelet="morl"):
        """Continuous wavelet transform of every lead (:func:`ecg.ops.wavelets.cwt`).

        ``dst`` holds ``(..., n_scales, n_samples)``; ``meta[f"{dst}_freqs"]`` the
        centre frequency of each scale in Hz.

        Parameters
        ----------
        scales : array-like of float
            Scales in samples.
        wavelet : str
            A continuous wavelet (``"morl"``, ``"mexh"``, ``"cmor1.5-1.0"``...).

        Returns
        -------
        self
        """
        def transform(x, fs):
            coefs, freqs = wavelets.cwt(x, fs, scales, wavelet=wavelet)
            return coefs, {"freqs": freqs}

        return self._transform("cwt", transform, src, dst, with_fs=True)
