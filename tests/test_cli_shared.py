"""The flags every ``ecg`` command shares (ecg.commands.common): --out, --set KEY=VALUE, --quiet, --device,
an example of itself in every --help, and YAML or JSON configs validated with the valid keys named."""
import json
import subprocess
import sys

import pytest
import yaml
from matplotlib.image import imread

from conftest import REPO
from ecg.cli import COMMANDS, build_parser, main
from ecg.commands.common import apply_shared
from ecg.errors import ConfigError

SHARED = ("--out", "--set", "--quiet", "--device")


def _commands():
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices   # noqa: SLF001
    return {name: choices[name] for name in COMMANDS if name in choices}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_the_shared_flags_and_an_example_of_itself(name):
    commands = _commands()
    if name not in commands:
        pytest.skip(f"ecg {name} is not registered in this checkout")
    text = commands[name].format_help()
    for flag in SHARED:
        assert flag in text, (name, flag)
    assert "auto,cpu,gpu" in text.replace(" ", "")
    examples = text.split("examples:", 1)[1]
    assert f"ecg {name} " in examples


def test_the_top_level_help_explains_the_shared_flags():
    text = build_parser().format_help()
    assert "shared options (every command):" in text
    for flag in SHARED:
        assert f"  {flag}" in text


def _parse(*argv):
    return apply_shared(build_parser().parse_args(list(argv)))


def test_set_sets_a_commands_own_options_with_their_types_and_choices():
    args = _parse("predict", "--model", "m", "--records", "r", "--out", "o.csv", "--set", "batch_size=8",
                  "--set", "strict=true", "--set", "recursive=false")
    assert args.batch_size == 8 and args.strict is True and args.recursive is False
    args = _parse("plot", "rec", "--set", "layout=12", "--set", "dpi=300", "--set", "speed=50")
    assert (args.layout, args.dpi, args.speed) == ("12", 300, 50.0)
    assert _parse("models", "describe", "cnn", "--set", "num-classes=3").num_classes == 3


@pytest.mark.parametrize("argv, message", [
    (["plot", "rec", "--set", "dpii=3"], "unknown key 'dpii'; valid keys: beats, dpi, end, gain, layout, leads"),
    (["plot", "rec", "--set", "dpi=many"], "'dpi=many': dpi takes an int"),
    (["plot", "rec", "--set", "layout=13"], "layout must be one of rows, 12"),
    (["plot", "rec", "--set", "dpi"], "--set takes KEY=VALUE"),
    (["predict", "--model", "m", "--records", "r", "--out", "o", "--set", "strict=maybe"], "strict is a flag"),
    (["predict", "--model", "m", "--records", "r", "--out", "o", "--set", "quiet=true"], "unknown key 'quiet'"),
])
def test_a_bad_set_is_one_error_naming_the_valid_keys(argv, message):
    with pytest.raises(ConfigError, match=None) as error:
        _parse(*argv)
    assert message in str(error.value)


def test_set_reaches_the_command(fixture_dir, tmp_path, capsys):
    out = tmp_path / "a.png"
    assert main(["plot", str(fixture_dir / "cinc2017" / "A00001"), "--out", str(out), "--set", "dpi=60",
                 "--set", "end=4", "--quiet"]) == 0
    assert capsys.readouterr().out == ""                                          # --quiet: not even the path
    narrow = imread(out).shape[1]
    assert main(["plot", str(fixture_dir / "cinc2017" / "A00001"), "--out", str(out), "--dpi", "120",
                 "--end", "4", "--quiet"]) == 0
    assert imread(out).shape[1] == pytest.approx(2 * narrow, abs=2)               # pixels follow the dpi set
    assert main(["plot", str(fixture_dir / "cinc2017" / "A00001"), "--set", "dpii=3"]) == 2
    assert "valid keys: beats, dpi" in capsys.readouterr().err


def test_quiet_leaves_the_process_as_it_was(capsys):
    """ecg --quiet run in-process (a notebook, a test) gives the ecg logger and the progress default back."""
    import logging

    from ecg import progress

    logger = logging.getLogger("ecg")
    before = logger.level, progress.get_default()
    logger.setLevel(logging.INFO)
    progress.set_default("line")
    try:
        assert main(["models", "--quiet"]) == 0
        assert (logger.level, progress.get_default()) == (logging.INFO, "line")
    finally:
        logger.setLevel(before[0])
        progress.set_default(before[1])


def test_models_out_writes_what_it_would_print(tmp_path, capsys):
    assert main(["models"]) == 0
    printed = capsys.readouterr().out
    assert main(["models", "--out", str(tmp_path / "models.txt")]) == 0
    assert capsys.readouterr().out == "" and (tmp_path / "models.txt").read_text() == printed
    assert main(["models", "describe", "cnn", "--out", str(tmp_path / "cnn.txt")]) == 0
    assert (tmp_path / "cnn.txt").read_text().startswith("cnn: ")


def test_download_out_is_its_dest():
    assert _parse("download", "ludb", "--out", "somewhere").dest == "somewhere"
    assert _parse("download", "ludb", "--dest", "elsewhere").dest == "elsewhere"


def test_device_cpu_hides_the_gpus_before_keras_starts_and_gpu_needs_one():
    code = ("import os, sys\n"
            "from ecg.cli import build_parser\n"
            "from ecg.commands.common import apply_shared\n"
            "apply_shared(build_parser().parse_args(['models', '--device', 'cpu']))\n"
            "assert 'keras' not in sys.modules\n"
            "import tensorflow as tf\n"
            "print(os.environ['CUDA_VISIBLE_DEVICES'], tf.config.list_physical_devices('GPU'))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[0] == "-1 []"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    done = subprocess.run([sys.executable, "-m", "ecg.cli", "models", "--device", "gpu"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    if gpus:
        assert done.returncode == 0, done.stderr[-2000:]
    else:
        assert done.returncode == 2 and "--device gpu: the Keras backend (tensorflow) sees no GPU" in done.stderr


def test_a_json_config_is_read_and_validated_like_yaml(tmp_path):
    from ecg.tasks.base import read_config

    data = yaml.safe_load((REPO / "pipelines" / "cinc2017.yaml").read_text())
    path = tmp_path / "cinc2017.json"
    path.write_text(json.dumps(data))
    _, config = read_config(path, ["train.epochs=2"])
    assert config.train.epochs == 2 and config.name == data["name"]
    with pytest.raises(ConfigError, match="unknown key 'train.epohcs'; valid keys: average_last, batch_size"):
        read_config(path, ["train.epohcs=2"])
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        read_config(path)
