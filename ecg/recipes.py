"""Preprocessing recipes: the actions a saved model needs before it predicts.

A recipe is a list of one-key dicts ``{"action_name": {kwargs}}``, e.g.::

    [{"band_pass_signals": {"low": 0.5, "high": 40}},
     {"split_signals": {"length": 3000, "step": 1500, "pad": True}}]

It is stored in the model config (``KerasModelConfig.preprocess``) so that
``ecg predict`` and :func:`predict_pipeline` prepare new records exactly as the
model expects, without the user repeating the training script's steps.

A saved model is data, never code: a model folder may come from anywhere, and its
recipe is replayed on the user's machine. So a recipe may only name the pure signal
actions of :data:`RECIPE_ACTIONS`, each with arguments checked against a schema of
plain numbers, flags and names (no path, callable or object; unknown arguments are
errors). ``load``, ``dump``, the model actions and any other ``EcgBatch`` method are
refused. :func:`validate_recipe` checks a recipe when it is stored in a config, when
a saved model is loaded, and again when :func:`apply_recipe` replays it.
"""
import dataclasses
import difflib
import re
from typing import Annotated, Any, Literal, NamedTuple, Optional

import numpy as np
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError, create_model,
                      model_validator)

from ecg.errors import ConfigError, EcgError, RecordError, SignalError
from ecg.ops.normalize import AXES, METHODS
from ecg.ops.rpeaks import PanTompkinsConf
from ecg.ops.segments import ALIGNS

MAX_FS = 20_000.0
"""Highest rate or cut-off (Hz) a recipe may name."""
MAX_SAMPLES = 10**8
"""Longest length (samples) a recipe may name: a day at 1 kHz."""
MAX_SECONDS = 60.0
"""Longest duration (s) a recipe may name (filter and beat windows)."""

_LEAD_NAME = re.compile(r"[^/\\\x00-\x1f\x7f]{1,32}")
_ANNOTATION_KEY = re.compile(r"[A-Za-z0-9_]{1,32}")
FIR_WINDOWS = ("hamming", "hann", "blackman", "blackmanharris", "bartlett", "boxcar", "flattop",
               "nuttall", "triang", "parzen", "bohman", "cosine")
"""Windows of :func:`scipy.signal.firwin` a recipe may name (those without parameters)."""
PAD_MODES = ("constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum", "reflect",
             "symmetric", "wrap")
""":func:`numpy.pad` modes a recipe may name (not ``"empty"``, which pads with garbage)."""


def _lead_name(value):
    if not _LEAD_NAME.fullmatch(value):
        raise ValueError("expected a lead name: 1-32 printable characters without '/' or '\\'")
    return value


def _annotation_key(value):
    if not _ANNOTATION_KEY.fullmatch(value):
        raise ValueError("expected an annotation key: 1-32 letters, digits or '_'")
    return value


def _plain_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _lead(value):
    if _plain_int(value) and 0 <= value < 1000:
        return int(value)
    if isinstance(value, str):
        return _lead_name(value)
    raise ValueError("expected a lead position (an int from 0) or a lead name")


def _lead_names(value):
    if isinstance(value, str):
        return _lead_name(value)
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 64 or not all(isinstance(n, str) for n in value):
        raise ValueError("expected a lead name or a list of 1 to 64 lead names")
    return [_lead_name(name) for name in value]


def _crop_align(value):
    if isinstance(value, str) and value in ALIGNS:
        return value
    if _plain_int(value) and 0 <= value <= MAX_SAMPLES:
        return int(value)
    raise ValueError(f"expected one of {', '.join(map(repr, ALIGNS))} or a first sample (an int from 0)")


Hz = Annotated[float, Strict(), Field(gt=0, le=MAX_FS)]
Samples = Annotated[int, Strict(), Field(ge=1, le=MAX_SAMPLES)]
Seconds = Annotated[float, Strict(), Field(ge=0, le=MAX_SECONDS)]
Amplitude = Annotated[float, Strict()]
Fraction = Annotated[float, Strict(), Field(ge=0, le=1)]
Flag = Annotated[bool, Strict()]
LeadName = Annotated[str, AfterValidator(_lead_name)]
AnnotationKey = Annotated[str, AfterValidator(_annotation_key)]


class RecipeArgs(BaseModel):
    """Arguments of one recipe action: plain, finite numbers, flags and names only.

    Each subclass lists the arguments of one ``EcgBatch`` action with the action's own
    defaults; unknown arguments are errors that name the valid ones.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def action_kwargs(self):
        """The arguments given in the recipe, as the action takes them."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class _CutOffs(RecipeArgs):
    """Band-pass cut-offs: at least one, and ``low < high`` when both are given."""

    @model_validator(mode="after")
    def _check_band(self):
        if self.low is None and self.high is None:
            raise ValueError("give low (Hz), high (Hz) or both")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError(f"low={self.low} Hz must be below high={self.high} Hz")
        return self


class BandPassArgs(_CutOffs):
    """:meth:`~ecg.batch.EcgBatch.band_pass_signals`: cut-offs in Hz, Butterworth order."""

    low: Optional[Hz] = None
    high: Optional[Hz] = None
    order: Annotated[int, Strict(), Field(ge=1, le=16)] = 4


class FirBandPassArgs(_CutOffs):
    """:meth:`~ecg.batch.EcgBatch.fir_band_pass_signals`: cut-offs in Hz, taps, window name."""

    low: Optional[Hz] = None
    high: Optional[Hz] = None
    n_taps: Optional[Annotated[int, Strict(), Field(ge=3, le=100_001)]] = None
    window: Literal[FIR_WINDOWS] = "hamming"


class NotchArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.notch_signals`: power-line frequency in Hz."""

    freq: Hz = 50.0
    harmonics: Annotated[int, Strict(), Field(ge=1, le=20)] = 1
    quality: Annotated[float, Strict(), Field(gt=0, le=1000)] = 30.0


class RemoveBaselineArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.remove_baseline`: method, cut-off (Hz), median windows (s)."""

    method: Literal["median", "highpass"] = "median"
    cutoff: Hz = 0.5
    windows: tuple[Annotated[Seconds, Field(gt=0)], Annotated[Seconds, Field(gt=0)]] = (0.2, 0.6)


class ResampleArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.resample_signals`: the new rate in Hz."""

    fs: Hz


class NormalizeArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.normalize_signals`: method and statistics axis."""

    method: Literal[METHODS] = "zscore"
    axis: Literal[tuple(AXES)] = "lead"


class ClipArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.clip_signals`: bounds in the signal's units."""

    low: Optional[Amplitude] = None
    high: Optional[Amplitude] = None

    @model_validator(mode="after")
    def _check_bounds(self):
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low={self.low} must not be above high={self.high}")
        return self


class PadArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.pad_signals`: length in samples, alignment, pad mode."""

    length: Samples
    align: Literal[ALIGNS] = "left"
    mode: Literal[PAD_MODES] = "constant"
    value: Amplitude = 0.0


class CropArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.crop_signals`: length in samples, alignment or first sample."""

    length: Samples
    align: Annotated[Any, AfterValidator(_crop_align)] = "left"


class SplitArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.split_signals`: window length and step in samples."""

    length: Samples
    step: Optional[Samples] = None
    pad: Flag = False


class SelectLeadsArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.select_leads`: lead names."""

    names: Annotated[Any, AfterValidator(_lead_names)]


class DropShortArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.drop_short_signals`: minimum length in samples."""

    length: Samples


PanTompkinsArgs = create_model(
    "PanTompkinsArgs", __base__=RecipeArgs,
    __doc__="The fields of :class:`~ecg.ops.rpeaks.PanTompkinsConf`, as positive numbers.",
    **{field.name: (Annotated[float, Strict(), Field(gt=0)], field.default)
       for field in dataclasses.fields(PanTompkinsConf)})


class FindRPeaksArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.find_r_peaks`: lead, detector parameters as a dict, key."""

    lead: Annotated[Any, AfterValidator(_lead)] = 0
    conf: Optional[PanTompkinsArgs] = None
    ext: AnnotationKey = "rpeaks"

    def action_kwargs(self):
        """The arguments given, ``conf`` as the :class:`PanTompkinsConf` the action takes."""
        kwargs = super().action_kwargs()
        if kwargs.get("conf") is not None:
            kwargs["conf"] = PanTompkinsConf(**kwargs["conf"].model_dump())
        return kwargs


class HeartRateArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.heart_rate`: annotation key of the R peaks."""

    ext: AnnotationKey = "rpeaks"


class BeatArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.beat_signals`: window before and from each beat in seconds."""

    before: Seconds = 0.25
    after: Seconds = 0.45
    ext: AnnotationKey = "rpeaks"

    @model_validator(mode="after")
    def _check_window(self):
        if self.before + self.after <= 0:
            raise ValueError("before + after must be a positive window (seconds)")
        return self


class SignalQualityArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.signal_quality`: limits of the quality indices."""

    max_flat: Fraction = 0.5
    max_saturation: Fraction = 0.05
    max_noise: Annotated[float, Strict(), Field(gt=0)] = 1.0
    drop: Flag = False


class RRFeaturesArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.rr_features`: annotation key of the R peaks."""

    ext: AnnotationKey = "rpeaks"


class KeepBeatsArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.keep_beats`: annotation key of the beat labels."""

    ext: AnnotationKey = "atr"


class BeatRRFeaturesArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.beat_rr_features`: RR intervals of the local average."""

    n_local: Annotated[int, Strict(), Field(ge=1, le=1000)] = 10


class BeatTemplatesArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.beat_templates`: no arguments."""


def _lead_refs(value):
    refs = value if isinstance(value, list) else [value]
    if not 1 <= len(refs) <= 64:
        raise ValueError("expected a lead name or position, or a list of 1 to 64 of them")
    out = []
    for ref in refs:
        if isinstance(ref, str):
            out.append(_lead_name(ref))
        elif _plain_int(ref) and -1000 <= ref < 1000:
            out.append(int(ref))
        else:
            raise ValueError("expected lead names or positions (ints)")
    return out if isinstance(value, list) else out[0]


def _lead_renames(value):
    if isinstance(value, dict):
        if not 1 <= len(value) <= 64 or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ValueError("expected a dict of 1 to 64 lead names: old name -> new name")
        return {_lead_name(k): _lead_name(v) for k, v in value.items()}
    return _lead_names(value)


def _component(value):
    from ecg.batch.spectral import RESERVED, _COMPONENT

    if not isinstance(value, str) or not _COMPONENT.fullmatch(value) or value in RESERVED:
        raise ValueError("expected a component name: lower-case letters, digits and '_' (not meta or annotation)")
    return value


def _wavelet_name(kind):
    def check(value):
        import pywt

        names = pywt.wavelist(kind=kind)
        if value in names or (kind == "continuous" and re.fullmatch(r"(cmor|shan|fbsp|cgau\d)[0-9.\-]{1,16}", value)):
            return value
        raise ValueError(f"expected a {kind} wavelet of pywt.wavelist(kind={kind!r})")
    return check


def _wavelet_mode(value):
    import pywt

    if value not in pywt.Modes.modes:
        raise ValueError(f"expected a padding mode in {pywt.Modes.modes}")
    return value


Component = Annotated[str, AfterValidator(_component)]
DiscreteWavelet = Annotated[str, AfterValidator(_wavelet_name("discrete"))]
WaveletMode = Annotated[str, AfterValidator(_wavelet_mode)]
FftLength = Optional[Annotated[int, Strict(), Field(ge=1, le=MAX_SAMPLES)]]
FftNorm = Optional[Literal["backward", "ortho", "forward"]]
SPECTROGRAM_WINDOWS = FIR_WINDOWS + ("tukey", "kaiser", "gaussian", "general_gaussian", "chebwin", "exponential")
""":func:`scipy.signal.get_window` names a spectrogram recipe may give (with one number after it where needed)."""


def _window(value):
    if isinstance(value, str) and value in FIR_WINDOWS:
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] in SPECTROGRAM_WINDOWS and \
            isinstance(value[1], (int, float)) and not isinstance(value[1], bool) and np.isfinite(value[1]):
        return (value[0], float(value[1]))
    raise ValueError(f"expected a window name ({', '.join(FIR_WINDOWS)}) or a pair (name, parameter)")


class FlipSignalsArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.flip_signals`: leads checked, QRS window (s)."""

    leads: Optional[Annotated[Any, AfterValidator(_lead_refs)]] = None
    window: Annotated[float, Strict(), Field(gt=0, le=1.0)] = 0.1


class ConvolveArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.convolve_signals`: a kernel of plain numbers, end padding."""

    kernel: Annotated[list[Amplitude], Field(min_length=1, max_length=100_001)]
    padding: Literal["edge", "constant", "reflect", "symmetric", "wrap"] = "edge"


class DropLeadsArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.drop_leads`: lead names or positions."""

    leads: Annotated[Any, AfterValidator(_lead_refs)]


class ReorderLeadsArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.reorder_leads`: every lead, by name or position."""

    order: Annotated[Any, AfterValidator(_lead_refs)]


class RenameLeadsArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.rename_leads`: old -> new names, or all new names."""

    names: Annotated[Any, AfterValidator(_lead_renames)]


class ConvertUnitsArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.convert_units`: the voltage unit."""

    units: Literal["V", "mV", "uV", "µV", "μV", "nV"] = "mV"


class EcgParametersArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.calc_ecg_parameters`: delineation, R peaks, wave symbols."""

    waves: Optional[AnnotationKey] = None
    ext: AnnotationKey = "rpeaks"
    classes: tuple[AnnotationKey, AnnotationKey, AnnotationKey] = ("p", "N", "t")


class FftArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.fft` and ``rfft``: components, length, normalisation."""

    src: Component = "signal"
    dst: Component = "spectrum"
    n: FftLength = None
    norm: FftNorm = None


class InverseFftArgs(FftArgs):
    """:meth:`~ecg.batch.EcgBatch.ifft` and ``irfft``: from the spectrum into the signal."""

    src: Component = "spectrum"
    dst: Component = "signal"


class SpectrogramArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.spectrogram`: segments in samples, window, mode, scaling."""

    src: Component = "signal"
    dst: Component = "stft"
    nperseg: Samples = 256
    noverlap: Optional[Annotated[int, Strict(), Field(ge=0, le=MAX_SAMPLES)]] = None
    window: Annotated[Any, AfterValidator(_window)] = ("tukey", 0.25)
    mode: Literal["psd", "magnitude", "angle", "phase", "complex"] = "psd"
    scaling: Literal["density", "spectrum"] = "density"


class DwtArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.dwt`: components, wavelet, padding mode."""

    src: Component = "signal"
    dst: Component = "dwt_coeffs"
    wavelet: DiscreteWavelet = "db4"
    mode: WaveletMode = "symmetric"


class IdwtArgs(DwtArgs):
    """:meth:`~ecg.batch.EcgBatch.idwt`: from the coefficients into the signal."""

    src: Component = "dwt_coeffs"
    dst: Component = "signal"


class WavedecArgs(DwtArgs):
    """:meth:`~ecg.batch.EcgBatch.wavedec`: components, wavelet, levels, padding mode."""

    dst: Component = "wavelet_coeffs"
    level: Optional[Annotated[int, Strict(), Field(ge=1, le=32)]] = None


class WaverecArgs(DwtArgs):
    """:meth:`~ecg.batch.EcgBatch.waverec`: from the coefficients into the signal."""

    src: Component = "wavelet_coeffs"
    dst: Component = "signal"


class CwtArgs(RecipeArgs):
    """:meth:`~ecg.batch.EcgBatch.cwt`: scales in samples, components, continuous wavelet."""

    scales: Annotated[list[Annotated[float, Strict(), Field(gt=0, le=MAX_SAMPLES)]], Field(min_length=1, max_length=512)]
    src: Component = "signal"
    dst: Component = "scalogram"
    wavelet: Annotated[str, AfterValidator(_wavelet_name("continuous"))] = "morl"


RECIPE_ACTIONS = {
    "band_pass_signals": BandPassArgs,
    "fir_band_pass_signals": FirBandPassArgs,
    "notch_signals": NotchArgs,
    "remove_baseline": RemoveBaselineArgs,
    "resample_signals": ResampleArgs,
    "normalize_signals": NormalizeArgs,
    "clip_signals": ClipArgs,
    "pad_signals": PadArgs,
    "crop_signals": CropArgs,
    "split_signals": SplitArgs,
    "select_leads": SelectLeadsArgs,
    "drop_short_signals": DropShortArgs,
    "find_r_peaks": FindRPeaksArgs,
    "heart_rate": HeartRateArgs,
    "beat_signals": BeatArgs,
    "signal_quality": SignalQualityArgs,
    "rr_features": RRFeaturesArgs,
    "keep_beats": KeepBeatsArgs,
    "beat_rr_features": BeatRRFeaturesArgs,
    "beat_templates": BeatTemplatesArgs,
    "flip_signals": FlipSignalsArgs,
    "convolve_signals": ConvolveArgs,
    "drop_leads": DropLeadsArgs,
    "reorder_leads": ReorderLeadsArgs,
    "rename_leads": RenameLeadsArgs,
    "convert_units": ConvertUnitsArgs,
    "calc_ecg_parameters": EcgParametersArgs,
    "fft": FftArgs,
    "rfft": FftArgs,
    "ifft": InverseFftArgs,
    "irfft": InverseFftArgs,
    "spectrogram": SpectrogramArgs,
    "dwt": DwtArgs,
    "idwt": IdwtArgs,
    "wavedec": WavedecArgs,
    "waverec": WaverecArgs,
    "cwt": CwtArgs,
}
"""dict: the recipe-safe ``EcgBatch`` actions, name -> schema of their arguments."""


def _valid_keys(schema, loc):
    """Field names of the (nested, possibly optional) schema that ``loc`` points into."""
    for part in loc:
        field = schema.model_fields.get(part)
        nested = [t for t in getattr(field.annotation, "__args__", (field.annotation,))
                  if isinstance(t, type) and issubclass(t, BaseModel)] if field else []
        if not nested:
            break
        schema = nested[0]
    return sorted(schema.model_fields)


def _problems(exc, schema):
    """One readable line per problem of a pydantic ValidationError on ``schema``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown argument {loc!r}; valid arguments: "
                         f"{', '.join(_valid_keys(schema, err['loc'][:-1]))}")
        elif err["type"] == "missing":
            lines.append(f"missing argument {loc!r}")
        elif loc:
            lines.append(f"{loc}: {msg} (got {err['input']!r})")
        else:
            lines.append(msg)
    return lines


def _parse_step(step):
    """``(name, RecipeArgs)`` of one recipe step, or raise ValueError with the problem."""
    if not isinstance(step, dict) or len(step) != 1:
        raise ValueError(f"expected a one-key dict {{action: {{arguments}}}}, got {step!r}")
    (name, kwargs), = step.items()
    if name not in RECIPE_ACTIONS:
        hint = difflib.get_close_matches(str(name), RECIPE_ACTIONS, n=1)
        raise ValueError(f"{name!r} is not a recipe action" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                         + f"; a recipe may only hold the signal actions {', '.join(RECIPE_ACTIONS)}")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise ValueError(f"arguments of {name!r} must be a dict, got {kwargs!r}")
    schema = RECIPE_ACTIONS[name]
    try:
        return name, schema.model_validate(kwargs or {})
    except ValidationError as exc:
        raise ValueError("; ".join(_problems(exc, schema))) from None


def _parse(recipe):
    """``[(name, RecipeArgs)]`` of a recipe; ConfigError listing every bad step."""
    if recipe is None:
        return []
    if not isinstance(recipe, (list, tuple)):
        raise ConfigError(f"a preprocess recipe is a list of one-key dicts {{action: {{arguments}}}}, "
                          f"got {type(recipe).__name__}")
    steps, problems = [], []
    for i, step in enumerate(recipe):
        try:
            steps.append(_parse_step(step))
        except ValueError as exc:
            action = f" ({next(iter(step))!r})" if isinstance(step, dict) and len(step) == 1 else ""
            problems.append(f"preprocess step {i}{action}: {exc}")
    if problems:
        raise ConfigError("\n".join(problems))
    return steps


def validate_recipe(recipe):
    """Check a recipe; return it as plain data, each step with the arguments it gives.

    Parameters
    ----------
    recipe : list of dict or None
        ``[{"action": {arguments}}, ...]``; ``None`` is an empty recipe.

    Returns
    -------
    list of dict
        The recipe as JSON-ready data (tuples become lists), arguments left out stay
        out (the action's defaults apply).

    Raises
    ------
    ConfigError
        One line per bad step, naming its index, its action and the problem: a step
        that is not a one-key dict, an action outside :data:`RECIPE_ACTIONS`, an
        unknown argument (the valid ones are listed), or a value of the wrong type or
        out of range.

    Examples
    --------
    >>> validate_recipe([{"band_pass_signals": {"low": 0.5, "high": 40}}, {"normalize_signals": None}])
    [{'band_pass_signals': {'low': 0.5, 'high': 40.0}}, {'normalize_signals': {}}]
    >>> validate_recipe([{"dump": {"dst": "/tmp"}}])
    Traceback (most recent call last):
    ...
    ecg.errors.ConfigError: preprocess step 0 ('dump'): 'dump' is not a recipe action; ...
    """
    return [{name: args.model_dump(mode="json", exclude_unset=True)} for name, args in _parse(recipe)]


Recipe = Annotated[list[Any], AfterValidator(validate_recipe)]
"""The type of a config field holding a recipe: validated by :func:`validate_recipe`."""


def recipe_steps(recipe):
    """Validate a recipe; return it as ``(action, kwargs)`` pairs ready to call.

    Raises
    ------
    ConfigError
        As :func:`validate_recipe`.

    Examples
    --------
    >>> recipe_steps([{"remove_baseline": {"windows": [0.2, 0.6]}}])
    [('remove_baseline', {'windows': (0.2, 0.6)})]
    """
    return [(name, args.action_kwargs()) for name, args in _parse(recipe)]


def apply_recipe(pipeline, recipe):
    """Append the recipe's actions to ``pipeline`` once the whole recipe is valid.

    Raises
    ------
    ConfigError
        As :func:`validate_recipe`; nothing is appended then.

    Examples
    --------
    >>> pipeline = apply_recipe(Pipeline(), [{"band_pass_signals": {"low": 0.5}}])   # doctest: +SKIP
    """
    for name, kwargs in recipe_steps(recipe):
        pipeline = getattr(pipeline, name)(**kwargs)
    return pipeline


def predict_pipeline(model_path, dataset, model_name="model", components=("signal", "meta"),
                     on_error="raise", report=None, fmt="wfdb"):
    """A pipeline that loads records, applies the saved model's recipe and predicts.

    Parameters
    ----------
    model_path : str or BaseModel
        Folder written by ``KerasBaseModel.save``, or a model with a recipe in its
        config (an exported one, see :func:`ecg.export.load_exported`).
    dataset : EcgDataset
        Records to predict.
    model_name : str
        Name of the model in the pipeline.
    components : sequence of str
        What ``load(fmt="wfdb")`` reads.
    on_error, report
        Passed to ``load``: with ``on_error="skip"`` an unreadable record is left out
        and listed in ``report`` (an :class:`~ecg.report.ErrorReport`).
    fmt : str
        ``load``'s format: ``"wfdb"`` (WFDB and EDF records) or ``"dicom"``.

    Returns
    -------
    tuple
        ``(pipeline, model)``: run it with ``pipeline.run(batch_size=..., n_epochs=1)``
        (``prefetch`` allowed); the pipeline variable ``"prediction"`` then maps each
        record to its probability vector (segments averaged).

    Raises
    ------
    ConfigError
        If the model's recipe is not valid (see :func:`validate_recipe`): the pipeline
        is not built.
    """
    from batchflow import V

    from ecg.models.base import BaseModel
    from ecg.models.keras_model import KerasBaseModel

    model = model_path if isinstance(model_path, BaseModel) else KerasBaseModel({"path": str(model_path)})
    pipeline = (dataset.p
                .import_model(model_name, model)
                .init_variable("prediction", {})
                .load(fmt=fmt, components=list(components), on_error=on_error, report=report))
    pipeline = apply_recipe(pipeline, model.config.preprocess)
    pipeline = pipeline.predict_on_batch(model_name, save_to=V("prediction", mode="u"), aggregate="mean",
                                         by_record=True)
    return pipeline, model


class Predictions(NamedTuple):
    """What :func:`predict_dataset` returns.

    Attributes
    ----------
    records : list of str
        Names of the predicted records, in dataset order.
    probabilities : numpy.ndarray
        float32 ``(len(records), n_classes)`` (segments averaged).
    classes : list of str
        Class names of the probability columns.
    missing : dict
        Record name -> why it got no prediction, for every other record of the dataset,
        in dataset order.
    """

    records: list
    probabilities: np.ndarray
    classes: list
    missing: dict


def _dropping_steps(recipe):
    """The steps of ``recipe`` that may leave records out, as ``action(arguments)``."""
    steps = []
    for name, kwargs in recipe_steps(recipe):
        if name == "drop_short_signals" or (name == "signal_quality" and kwargs.get("drop")):
            steps.append(f"{name}({', '.join(f'{k}={v!r}' for k, v in sorted(kwargs.items()))})")
    return steps


def _run_records(pipeline, dataset, indices, failed):
    """Run ``pipeline`` on the records ``indices``; a record that fails goes to ``failed``.

    A record error (e.g. too short to crop) in a batch must not cost the other records
    their prediction: the batch is run again one record at a time to find which fail.
    """
    from batchflow import SkipBatchException

    try:
        pipeline.execute_for(dataset.create_batch(np.asarray(indices)))
    except SkipBatchException:
        pass                        # no usable record: the load report or the recipe says why
    except (RecordError, SignalError) as exc:
        if len(indices) > 1:
            for ix in indices:
                _run_records(pipeline, dataset, [ix], failed)
        else:
            failed[str(indices[0])] = getattr(exc, "problem", str(exc))


def predict_dataset(model_path, dataset, batch_size=64, fmt="wfdb", strict=False):
    """Predict every record of ``dataset`` with a saved model and its recipe.

    A record that cannot be read, that the recipe drops (``drop_short_signals``,
    ``signal_quality(drop=True)``) or on which a recipe action fails (e.g. too short
    to crop) gets no prediction; it is listed in ``missing`` with the reason, and the
    other records are predicted.

    Parameters
    ----------
    model_path : str or BaseModel
        As :func:`predict_pipeline`.
    dataset : EcgDataset
        Records to predict.
    batch_size : int
        Records per batch.
    fmt : str
        How the records are read: ``"wfdb"`` (WFDB and EDF) or ``"dicom"``.
    strict : bool
        Stop at the first record that cannot be read or on which a recipe action fails
        (its error is raised), or that the recipe drops (an :class:`EcgError` naming it).

    Returns
    -------
    Predictions
        ``(records, probabilities, classes, missing)``.

    Raises
    ------
    ConfigError
        If the model's recipe is not valid (no record is read), or ``batch_size < 1``.

    Examples
    --------
    >>> result = predict_dataset("runs/cinc2017/model", EcgDataset(path="new/*.hea"))   # doctest: +SKIP
    >>> result.missing                                                                # doctest: +SKIP
    {'A00106': 'dropped by the recipe: drop_short_signals(length=6000)'}
    """
    from ecg.report import ErrorReport

    if not _plain_int(batch_size) or batch_size < 1:
        raise ConfigError(f"Expected batch_size >= 1. Received: batch_size={batch_size!r}.")
    report = ErrorReport()
    pipeline, model = predict_pipeline(model_path, dataset, on_error="raise" if strict else "skip",
                                       report=report, fmt=fmt)
    pipeline.reset("iter", "vars")     # what a run does first: batches go through execute_for here
    indices = list(dataset.indices)
    failed = {}
    for start in range(0, len(indices), batch_size):
        if strict:
            from batchflow import SkipBatchException

            try:
                pipeline.execute_for(dataset.create_batch(np.asarray(indices[start:start + batch_size])))
            except SkipBatchException:
                pass                    # every record dropped by the recipe: named below
        else:
            _run_records(pipeline, dataset, indices[start:start + batch_size], failed)
    predictions = pipeline.v("prediction")
    records = [str(ix) for ix in indices if ix in predictions]
    n_classes = model.config.num_classes
    probabilities = (np.stack([predictions[ix] for ix in indices if ix in predictions]).astype(np.float32)
                     if records else np.zeros((0, n_classes), dtype=np.float32))
    unreadable = dict(report)
    dropping = _dropping_steps(model.config.preprocess)
    dropped = ("dropped by the recipe: " + ", ".join(dropping) if dropping
               else "no prediction: the record left the batch during the recipe")
    missing = {str(ix): failed.get(str(ix)) or unreadable.get(str(ix)) or dropped
               for ix in indices if ix not in predictions}
    if strict and missing:
        record, reason = next(iter(missing.items()))
        raise EcgError(f"record {record!r}: {reason} (stopped here: strict)")
    classes = model.classes or [str(i) for i in range(probabilities.shape[1])]
    return Predictions(records, probabilities, list(classes), missing)
