"""Preprocessing recipes: only registered signal actions, with checked arguments, on real records."""
import doctest
import inspect

import numpy as np
import pytest
from batchflow import Pipeline
from pydantic import ValidationError

from ecg import EcgDataset, KerasBaseModel
from ecg import recipes
from ecg.batch import EcgBatch
from ecg.errors import ConfigError
from ecg.models.keras_model import KerasModelConfig
from ecg.ops.rpeaks import PanTompkinsConf
from ecg.recipes import RECIPE_ACTIONS, apply_recipe, recipe_steps, validate_recipe

SIGNAL_ACTIONS = {"band_pass_signals", "fir_band_pass_signals", "notch_signals", "remove_baseline",
                  "resample_signals", "normalize_signals", "clip_signals", "pad_signals", "crop_signals",
                  "split_signals", "select_leads", "drop_short_signals", "find_r_peaks", "heart_rate",
                  "beat_signals", "signal_quality", "rr_features",
                  "keep_beats", "beat_rr_features", "beat_templates",
                  "flip_signals", "convolve_signals", "drop_leads", "reorder_leads", "rename_leads",
                  "convert_units", "calc_ecg_parameters", "fft", "rfft", "ifft", "irfft", "spectrogram",
                  "dwt", "idwt", "wavedec", "waverec", "cwt"}
VALID = {"band_pass_signals": {"low": 0.5, "high": 40}}

# (bad step, what the error must say besides its index and action)
TAMPERED = [
    ({"load": {"src": "/tmp/evil", "fmt": "blosc", "components": "signal"}}, "'load' is not a recipe action"),
    ({"dump": {"dst": "/tmp/evil", "fmt": "npz"}}, "'dump' is not a recipe action"),
    ({"init_model": {"name": "m"}}, "'init_model' is not a recipe action"),
    ({"train_on_batch": {"model_name": "m"}}, "'train_on_batch' is not a recipe action"),
    ({"__class__": {}}, "'__class__' is not a recipe action"),
    ({"band_pass_signal": {"low": 0.5}}, "did you mean 'band_pass_signals'?"),
    ({"band_pass_signals": {"low": "/etc/passwd"}}, "low: Input should be a valid number (got '/etc/passwd')"),
    ({"band_pass_signals": {"low": 0.5, "src": "/etc/passwd"}},
     "unknown argument 'src'; valid arguments: high, low, order"),
    ({"band_pass_signals": {"low": float("nan")}}, "low: Input should be a finite number"),
    ({"band_pass_signals": {"low": 40, "high": 0.5}}, "low=40.0 Hz must be below high=0.5 Hz"),
    ({"band_pass_signals": ["low", 0.5]}, "arguments of 'band_pass_signals' must be a dict"),
    ({"split_signals": {"step": 1500}}, "missing argument 'length'"),
    ({"split_signals": {"length": True}}, "length: Input should be a valid integer"),
    ({"normalize_signals": {"method": "eval"}}, "method: Input should be 'zscore', 'minmax' or 'robust'"),
    ({"fir_band_pass_signals": {"low": 0.5, "window": ["kaiser", 8.0]}}, "window: Input should be 'hamming'"),
    ({"pad_signals": {"length": 9000, "mode": "empty"}}, "mode: Input should be 'constant'"),
    ({"select_leads": {"names": ["II", "../../etc/passwd"]}}, "names: expected a lead name"),
    ({"find_r_peaks": {"conf": "builtins.eval"}}, "conf: Input should be a valid dictionary"),
    ({"find_r_peaks": {"conf": PanTompkinsConf()}}, "conf: Input should be a valid dictionary"),
    ({"find_r_peaks": {"conf": {"low": 5, "callback": "os.system"}}},
     "unknown argument 'conf.callback'; valid arguments: high, integration_window, learning_time"),
    ({"find_r_peaks": {"ext": "../rpeaks"}}, "ext: expected an annotation key"),
    ({"crop_signals": {"length": 3000, "align": print}}, "align: expected one of 'left', 'center', 'right'"),
]


def _step_label(step):
    return next(iter(step))


@pytest.mark.parametrize("step, problem", TAMPERED, ids=[f"{i}-{_step_label(s)}" for i, (s, _) in enumerate(TAMPERED)])
def test_tampered_step_is_refused_naming_index_action_and_problem(step, problem):
    recipe = [VALID, step]
    for check in (validate_recipe, recipe_steps, lambda r: apply_recipe(Pipeline(), r)):
        with pytest.raises(ConfigError) as err:
            check(recipe)
        message = str(err.value)
        assert message.startswith(f"preprocess step 1 ({_step_label(step)!r}): "), message
        assert problem in message, message
        assert "step 0" not in message


@pytest.mark.parametrize("step", ["band_pass_signals", {"band_pass_signals": {}, "dump": {}}, {}, None])
def test_a_step_that_is_not_a_one_key_dict_is_refused(step):
    with pytest.raises(ConfigError, match=r"^preprocess step 1: expected a one-key dict \{action: \{arguments\}\}"):
        validate_recipe([VALID, step])


def test_every_bad_step_is_listed_and_a_non_list_is_refused():
    with pytest.raises(ConfigError) as err:
        validate_recipe([{"dump": {}}, VALID, {"split_signals": {"length": 0}}])
    lines = str(err.value).splitlines()
    assert [line.split(":")[0] for line in lines] == ["preprocess step 0 ('dump')",
                                                      "preprocess step 2 ('split_signals')"]
    assert "length: Input should be greater than or equal to 1 (got 0)" in lines[1]
    with pytest.raises(ConfigError, match="a preprocess recipe is a list of one-key dicts"):
        validate_recipe({"dump": {}})


def test_registry_holds_exactly_the_signal_actions():
    assert set(RECIPE_ACTIONS) == SIGNAL_ACTIONS


@pytest.mark.parametrize("name", sorted(SIGNAL_ACTIONS))
def test_schema_matches_the_action_signature(name):
    """Schemas cannot drift from the actions: same names, required where the action needs them, same defaults."""
    schema = RECIPE_ACTIONS[name]
    params = dict(inspect.signature(getattr(EcgBatch, name)).parameters)
    del params["self"]
    assert set(schema.model_fields) <= set(params), f"{name}: {set(schema.model_fields) - set(params)}"
    required = {p for p, param in params.items() if param.default is inspect.Parameter.empty}
    assert required == {f for f, field in schema.model_fields.items() if field.is_required()}
    for field, info in schema.model_fields.items():
        if not info.is_required():
            assert info.default == params[field].default, (name, field)


def test_detector_parameters_reach_the_action_as_its_conf():
    assert recipe_steps([{"find_r_peaks": {"conf": {"low": 6}}}]) == [
        ("find_r_peaks", {"conf": PanTompkinsConf(low=6.0)})]


def test_stored_recipe_is_plain_data_with_the_given_arguments():
    recipe = [{"remove_baseline": {"windows": (0.3, 0.7)}}, {"normalize_signals": None},
              {"find_r_peaks": {"lead": "II", "conf": {"refractory": 0.25}}}]
    assert validate_recipe(recipe) == [{"remove_baseline": {"windows": [0.3, 0.7]}}, {"normalize_signals": {}},
                                       {"find_r_peaks": {"lead": "II", "conf": {"refractory": 0.25}}}]
    assert recipe_steps([{"select_leads": {"names": ("II", "V1")}}]) == [("select_leads", {"names": ["II", "V1"]})]
    assert recipe_steps(recipe) == [("remove_baseline", {"windows": (0.3, 0.7)}), ("normalize_signals", {}),
                                    ("find_r_peaks", {"lead": "II", "conf": PanTompkinsConf(refractory=0.25)})]


def test_model_config_validates_the_recipe_when_it_is_stored():
    config = KerasModelConfig(preprocess=[{"remove_baseline": {"windows": (0.3, 0.7)}}])
    assert config.preprocess == [{"remove_baseline": {"windows": [0.3, 0.7]}}]
    for bad in ([{"dump": {"dst": "/tmp/evil"}}], [VALID, {"band_pass_signals": {"low": "/etc/passwd"}}]):
        with pytest.raises(ConfigError, match=r"preprocess step \d \('(dump|band_pass_signals)'\)"):
            KerasBaseModel({"preprocess": bad})
    # built directly, the config raises pydantic's error, with the same text
    with pytest.raises(ValidationError, match=r"preprocess step 0 \('load'\): 'load' is not a recipe action"):
        KerasModelConfig(preprocess=[{"load": {"fmt": "blosc"}}])
    with pytest.raises(ValidationError, match=r"preprocess step 0 \('dump'\)"):
        config.preprocess = [{"dump": {"dst": "/tmp/evil"}}]
    assert config.preprocess == [{"remove_baseline": {"windows": [0.3, 0.7]}}]


def test_recipe_runs_the_actions_it_names(cinc_dir):
    """On real records: the recipe gives what the same actions called directly give."""
    dataset = EcgDataset(path=str(cinc_dir / "*.hea"))
    recipe = [{"notch_signals": {"freq": 50}}, {"remove_baseline": {"windows": [0.2, 0.6]}},
              {"band_pass_signals": {"low": 0.5, "high": 40}}, {"normalize_signals": {"method": "robust"}},
              {"find_r_peaks": {"conf": {"low": 6}}}, {"heart_rate": {}}, {"crop_signals": {"length": 3000,
                                                                                          "align": "center"}}]
    def loaded():
        return dataset.p.load(fmt="wfdb", components=["signal", "meta"])

    by_recipe = apply_recipe(loaded(), recipe).next_batch(8, shuffle=False)
    direct = (loaded().notch_signals(50)
              .remove_baseline(windows=(0.2, 0.6)).band_pass_signals(0.5, 40).normalize_signals("robust")
              .find_r_peaks(conf=PanTompkinsConf(low=6)).heart_rate().crop_signals(3000, "center")
              ).next_batch(8, shuffle=False)
    np.testing.assert_array_equal(np.stack(by_recipe.signal), np.stack(direct.signal))
    assert by_recipe.signal[0].shape == (1, 3000)
    np.testing.assert_array_equal([m["heart_rate"] for m in by_recipe.meta], [m["heart_rate"] for m in direct.meta])
    for a, b in zip(by_recipe.annotation, direct.annotation):
        np.testing.assert_array_equal(a["rpeaks"]["sample"], b["rpeaks"]["sample"])
    default = apply_recipe(loaded(), [step if "find_r_peaks" not in step else {"find_r_peaks": {}}
                                    for step in recipe]).next_batch(8, shuffle=False)
    # the detector's parameters reached it: another band than the default moves some peaks
    assert any(not np.array_equal(a["rpeaks"]["sample"], b["rpeaks"]["sample"])
               for a, b in zip(by_recipe.annotation, default.annotation))


def test_docstring_examples():
    assert doctest.testmod(recipes, optionflags=doctest.ELLIPSIS).failed == 0
