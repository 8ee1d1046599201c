"""Feature front-ends: what a network sees of a window, chosen by name like an architecture.

A front-end is named in the model config and registered like an architecture
(``frontend_factory.register(name, fn, params_model, role=...)``); ``ecg models``
lists both. It has one of two roles, which decide where it runs:

``signal``: Keras layers between the input and the architecture
    ``model: {name: resnet, params: {...}, frontend: {name: stft, params: {...}}}``.
    ``fn(inputs, params)`` maps the window tensor ``(batch, steps, channels)`` to the
    tensor the architecture is built on. The layers are part of the network, so the
    saved model, ``ecg predict`` and an ONNX/LiteRT export carry them and nothing has
    to be replayed. Built-ins: ``raw`` (the window as it is), ``fft`` (FFT magnitude
    bins) and ``stft`` (a magnitude spectrogram).
``features``: numpy, computed from the same windows before the network
    ``feature_input: {frontend: {name: hrv, params: {...}}, units: 32, ...}``.
    ``fn(windows, fs, params)`` maps float32 windows ``(n_windows, steps, channels)``
    at ``fs`` Hz to a float feature matrix ``(n_windows, n_features)``, which goes to
    the network's feature branch (:mod:`ecg.models.fusion`) beside the learned branch
    on the signal. The front-end is part of the saved model's config, and the model
    actions of :class:`~ecg.batch.EcgBatch` compute it for every batch they feed
    (training, ``ecg evaluate``, ``ecg predict``), so a saved model replays it.
    Built-ins: ``wavelet`` (statistics of each band of a PyWavelets decomposition) and
    ``hrv`` (RR-interval and HRV features from the R peaks found in the window). These
    stay in numpy because they are not Keras operations: PyWavelets' signal
    extensions and level bookkeeping, and an R-peak detector whose decisions are
    sequential rules.

Without ``frontend`` a feature input reads the batch's ``features`` component
instead (e.g. whole-record HRV from the ``rr_features`` action of the recipe, as the
CinC 2017 rhythm task does).

Example
-------
A front-end of your own, here the log-energy of each lead, as a feature branch:

>>> import numpy as np
>>> from pydantic import BaseModel, ConfigDict
>>> class LogEnergyParams(BaseModel):
...     '''Log-energy of each lead of the window.'''
...     model_config = ConfigDict(extra="forbid")
...     floor: float = 1e-6
>>> def log_energy(windows, fs, params):
...     return np.log(np.mean(windows ** 2, axis=1) + params.floor)
>>> frontend_factory.register("log_energy", log_energy, LogEnergyParams, role="features")
>>> compute_features({"name": "log_energy"}, np.ones((2, 100, 3), np.float32), fs=100).shape
(2, 3)
>>> frontend_factory.unregister("log_energy")
"""
from typing import Any, ClassVar, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from ecg.config import StrictConfig
from ecg.errors import ConfigError
from ecg.models.factory import Registry

ROLES = ("signal", "features")


class FrontendFactory(Registry):
    """A registry of front-ends: name -> (function, parameters model, role).

    ``role`` is ``"signal"`` (Keras layers inside the network, ``fn(inputs, params) ->
    tensor``) or ``"features"`` (numpy before the network, ``fn(windows, fs, params) ->
    (n_windows, n_features)``); see the module docstring. Functions and parameters
    models may be ``"package.module:attribute"`` strings, imported on first use.

    Example:
        >>> factory = FrontendFactory()
        >>> factory.register("mine", "my_package.frontends:mine", "my_package.frontends:MineParams",
        ...                  role="features")
        >>> factory.list(), factory.role("mine")
        (['mine'], 'features')
    """

    kind = "front-end"
    _register_hint = "frontend_factory.register(name, fn, params_model, role='signal' or 'features')"

    def register(self, name, fn, params_model, role="signal", replace=False):
        """Register front-end ``name`` with its ``role`` (``"signal"`` or ``"features"``).

        Raises:
            ConfigError: An unknown role, a name that is taken (without ``replace``) or empty.
        """
        if role not in ROLES:
            raise ConfigError(f"front-end role must be one of {ROLES}. Received: role={role!r}")
        super().register(name, fn, params_model, replace=replace)
        self._entries[name].append(role)

    def role(self, name):
        """``"signal"`` or ``"features"``: where front-end ``name`` runs."""
        return self._entry(name)[2]

    def list(self, role=None):
        """The registered names, sorted; only those of ``role`` when given."""
        return [name for name in super().list() if role is None or self._entries[name][2] == role]

    def checked(self, name, params, role):
        """Validate ``params`` of front-end ``name`` and check it has ``role``.

        Returns:
            An instance of the front-end's parameters model.

        Raises:
            ConfigError: Unknown name, invalid params (the valid keys listed), or a
                front-end of the other role (the ones of this role listed).
        """
        if self.role(name) != role:
            where = "model.frontend" if role == "signal" else "feature_input.frontend"
            raise ConfigError(f"front-end {name!r} is a {self.role(name)} front-end; {where} takes the "
                              f"{role} front-ends: {', '.join(self.list(role))}")
        return self.validate_params(name, params)


class _FrontendConfig(StrictConfig):
    """``{"name": ..., "params": {...}}`` of a front-end, checked against the registry."""

    role: ClassVar[str]
    name: str
    params: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check(self):
        frontend_factory.checked(self.name, self.params, self.role)
        return self


class SignalFrontend(_FrontendConfig):
    """A ``signal`` front-end (Keras layers before the architecture): ``model.frontend``."""

    role: ClassVar[str] = "signal"


class FeatureFrontend(_FrontendConfig):
    """A ``features`` front-end (numpy, feeding the feature branch): ``feature_input.frontend``."""

    role: ClassVar[str] = "features"


def _spec(spec, model):
    """``spec`` (dict, config instance or object with ``name``/``params``) as a checked ``model``."""
    if isinstance(spec, model):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    elif not isinstance(spec, dict):
        spec = {"name": getattr(spec, "name", None), "params": getattr(spec, "params", None) or {}}
    from ecg.config import parse_config

    return parse_config(model, spec, f"{model.role} front-end")


def with_signal_frontend(spec, inputs, build, task="classification"):
    """The network ``build`` makes, with signal front-end ``spec`` between ``inputs`` and it.

    The architecture is built on the front-end's output shape, then its layers are
    re-applied to the front-end's output (``keras.models.clone_model``), so the result
    is one flat functional network: ``inputs -> front-end layers -> architecture``, whose
    layer names (``logits``...) are those of the architecture.

    Args:
        spec: ``{"name": ..., "params": {...}}`` of a ``signal`` front-end.
        inputs: The ``keras.Input`` ``(batch, steps, channels)``.
        build: ``build(keras_input) -> keras.Model``, the architecture.
        task: A front-end that changes the time axis cannot feed a segmentation
            network (one output per input sample).

    Raises:
        ConfigError: Unknown front-end, invalid params, a ``features`` front-end, or a
            segmentation task with a front-end other than ``raw``.
    """
    import keras

    spec = _spec(spec, SignalFrontend)
    params = frontend_factory.checked(spec.name, spec.params, "signal")
    front = frontend_factory.get(spec.name)(inputs, params)
    if front is inputs:
        return build(inputs)
    if task != "classification":
        raise ConfigError(f"front-end {spec.name!r} turns the window into {tuple(front.shape[1:])}; a {task} "
                          "network needs one output per input sample: use no front-end (or 'raw')")
    network = build(keras.Input(tuple(front.shape[1:]), name=f"{spec.name}_frontend"))

    def call(layer, *args, **kwargs):
        if args and args[0] is inputs:
            args = (front,) + args[1:]
        return layer(*args, **kwargs)

    return keras.models.clone_model(network, input_tensors=inputs, call_function=call)


def compute_features(spec, windows, fs):
    """Feature front-end ``spec`` on ``windows`` ``(n_windows, steps, channels)`` at ``fs`` Hz.

    Returns:
        float32 ``(n_windows, n_features)``; NaN and infinite values (a window with too
        few beats for a feature) become 0.

    Raises:
        ConfigError: Unknown front-end, invalid params or a ``signal`` front-end.
        ModelError: The front-end returned another number of rows than windows.
    """
    from ecg.errors import ModelError

    spec = _spec(spec, FeatureFrontend)
    params = frontend_factory.checked(spec.name, spec.params, "features")
    windows = np.asarray(windows, dtype=np.float32)
    if windows.ndim != 3:
        raise ConfigError(f"a feature front-end takes windows (n_windows, steps, channels). "
                          f"Received: shape {windows.shape}")
    values = np.asarray(frontend_factory.get(spec.name)(windows, float(fs), params), dtype=np.float64)
    if values.ndim != 2 or len(values) != len(windows):
        raise ModelError(f"front-end {spec.name!r} returned shape {values.shape} for {len(windows)} windows; "
                         "expected (n_windows, n_features)")
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


# --- built-in parameters ---------------------------------------------------------------------
class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RawParams(_Params):
    """Raw windows: the signal as it is (no layers; the architecture sees the window itself)."""


class FftParams(_Params):
    """FFT magnitude bins of each lead over the window (Keras layer, inside the network).

    The DFT is a product with a fixed ``steps x 2 bins`` basis, a constant of the
    exported graph: keep ``bins`` to the band of interest for a small export. Output ``(batch, n_bins, channels)``: frequency takes the place of time, so the
    architecture convolves along frequency. Bin ``k`` is ``k * fs / n_fft`` Hz.

    Args:
        n_fft: Transform length in samples (the window is cut or zero-padded); by
            default the window length. The window length must be fixed.
        bins: Keep the lowest ``bins`` of the ``n_fft // 2 + 1`` bins (e.g. up to 40 Hz:
            ``40 * n_fft / fs + 1``); all by default.
        pool: Average each run of ``pool`` neighbouring kept bins into one (a trailing
            partial run is dropped).
        norm: Scaling of the magnitudes, as :mod:`numpy.fft`'s ``norm``: ``backward``
            (none), ``ortho`` (``1 / sqrt(n_fft)``), ``forward`` (``1 / n_fft``).
        log_floor: When given, the output is ``log(magnitude + log_floor)`` (in the
            signal's units, e.g. mV); otherwise the magnitudes.
    """

    n_fft: Optional[PositiveInt] = None
    bins: Optional[PositiveInt] = None
    pool: PositiveInt = 1
    norm: Literal["backward", "ortho", "forward"] = "ortho"
    log_floor: Optional[float] = Field(default=None, gt=0)


class StftParams(_Params):
    """STFT magnitude spectrogram of each lead (Keras layer, inside the network).

    Output ``(batch, n_frames, n_bins * channels)``: frames take the place of time
    (frame ``t`` starts at sample ``t * frame_step``; only frames inside the window),
    and each frame's vector holds lead 0's bins, then lead 1's... Magnitudes are those
    of ``scipy.signal.stft(..., boundary=None, padded=False, scaling="spectrum")``:
    the windowed frame's DFT divided by the window's sum.

    Args:
        frame_length: Samples per frame.
        frame_step: Samples between the starts of consecutive frames.
        fft_length: DFT length (``>= frame_length``, the frame zero-padded); by
            default ``frame_length``.
        window: ``hann`` or ``hamming`` (periodic, as ``scipy.signal.get_window``).
        bins: Keep the lowest ``bins`` of the ``fft_length // 2 + 1`` bins; all by
            default.
        log_floor: When given, the output is ``log(magnitude + log_floor)``.
    """

    frame_length: PositiveInt = 128
    frame_step: PositiveInt = 32
    fft_length: Optional[PositiveInt] = None
    window: Literal["hann", "hamming"] = "hann"
    bins: Optional[PositiveInt] = None
    log_floor: Optional[float] = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _lengths(self):
        if self.fft_length is not None and self.fft_length < self.frame_length:
            raise ValueError(f"fft_length must be >= frame_length={self.frame_length}. "
                             f"Received: fft_length={self.fft_length}")
        return self


class WaveletParams(_Params):
    """Wavelet decomposition statistics of each lead (numpy, PyWavelets; a feature branch).

    ``pywt.wavedec`` of each lead, then statistics of each band ``[cA_level,
    cD_level, ..., cD_1]`` (:func:`ecg.ops.wavelets.subband_statistics`). Features
    ordered by lead, then band, then statistic: ``channels * (level + 1) * len(stats)``.

    Args:
        wavelet: A discrete wavelet of ``pywt.wavelist(kind="discrete")``.
        level: Decomposition levels (at most ``pywt.dwt_max_level`` of the window).
        mode: Signal extension mode (``pywt.Modes``).
        stats: Of ``energy`` (mean square), ``std``, ``mean_abs``, ``max_abs``.
    """

    wavelet: str = "db4"
    level: PositiveInt = 4
    mode: str = "symmetric"
    stats: list[Literal["energy", "std", "mean_abs", "max_abs"]] = Field(
        default=["energy", "std", "mean_abs"], min_length=1)

    @field_validator("wavelet")
    @classmethod
    def _wavelet(cls, value):
        import pywt

        if value not in pywt.wavelist(kind="discrete"):
            raise ValueError(f"expected a discrete wavelet of pywt.wavelist(kind='discrete') (db4, sym5, "
                             f"haar...). Received: {value!r}")
        return value


class HrvParams(_Params):
    """RR-interval and HRV features of the window (numpy; a feature branch).

    R peaks of lead ``lead`` (Pan-Tompkins, :func:`ecg.ops.rpeaks.r_peaks`), RR
    intervals in seconds, then :func:`ecg.ops.hrv.rr_features`: time domain (mean RR,
    SDNN, RMSSD, pNN50, pNN20...), non-linear (SD1, SD2, sample entropy, COSEn),
    frequency domain (LF, HF, LF/HF: Welch on the RR series resampled at 4 Hz; needs
    windows of minutes, shorter ones give 0) and AF irregularity measures. A feature
    a window has too few beats for is 0.

    Args:
        lead: Position of the lead the R peaks are found in.
        features: Names of :data:`ecg.ops.hrv.FEATURES`, in the order wanted; all by default.
    """

    lead: int = Field(default=0, ge=0)
    features: Optional[list[str]] = None

    @field_validator("features")
    @classmethod
    def _names(cls, value):
        from ecg.ops.hrv import FEATURES

        unknown = [name for name in value or [] if name not in FEATURES]
        if unknown or value == []:
            raise ValueError(f"expected names from {', '.join(FEATURES)}. Received: {value}")
        return value


# --- built-in feature front-ends (numpy) -----------------------------------------------------
def raw(inputs, params):
    """The ``raw`` front-end: the window tensor itself."""
    return inputs


def wavelet_features(windows, fs, params):
    """The ``wavelet`` front-end: band statistics of each lead, ``(n_windows, n_features)``."""
    from ecg.ops.wavelets import subband_statistics

    values = subband_statistics(np.moveaxis(windows, 1, 2), params.wavelet, params.level, params.mode,
                                params.stats)
    return values.reshape(len(windows), -1)


def hrv_features(windows, fs, params):
    """The ``hrv`` front-end: RR/HRV features of each window, ``(n_windows, n_features)``."""
    from ecg.ops import hrv
    from ecg.ops.rpeaks import r_peaks

    if params.lead >= windows.shape[-1]:
        raise ConfigError(f"front-end 'hrv' reads lead {params.lead}, but the windows have "
                          f"{windows.shape[-1]} lead(s): set its params.lead")
    columns = [hrv.FEATURES.index(name) for name in params.features or hrv.FEATURES]
    rows = [hrv.rr_features(np.diff(r_peaks(window[:, params.lead], fs)) / fs)[columns] for window in windows]
    return np.stack(rows) if rows else np.zeros((0, len(columns)))


frontend_factory = FrontendFactory()
for _name, _fn, _params, _role in (
        ("raw", "ecg.models.frontends:raw", RawParams, "signal"),
        ("fft", "ecg.models.spectral_frontends:fft", FftParams, "signal"),
        ("stft", "ecg.models.spectral_frontends:stft", StftParams, "signal"),
        ("wavelet", wavelet_features, WaveletParams, "features"),
        ("hrv", hrv_features, HrvParams, "features")):
    frontend_factory.register(_name, _fn, _params, role=_role)
