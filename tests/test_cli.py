"""The shared parts of the ``ecg`` command line: version, help with examples and exit codes, a closed
pipe, ``ecg plot``, config errors before any data is read, and one-line model input errors."""
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.image import imread

from conftest import REPO
from ecg import __version__
from ecg.cli import EXIT_BROKEN_PIPE, build_parser, main

CONFIGS = REPO / "pipelines"


def run_ecg(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "ecg.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"ecg {__version__}"


def test_top_level_help_lists_commands_examples_and_exit_codes():
    text = build_parser().format_help()
    for command in ("download", "train", "evaluate", "predict", "plot", "models"):
        assert command in text
    assert "examples:" in text and "exit status (every command):" in text
    for code in ("0 ", "1 ", "2 ", "3 ", "130", "141"):
        assert f"  {code}" in text


@pytest.mark.parametrize("command", [["download"], ["train"], ["evaluate"], ["plot"], ["models"],
                                     ["models", "list"], ["models", "describe"]])
def test_command_help_has_an_example_of_itself(command):
    done = run_ecg(*command, "--help")
    assert done.returncode == 0
    examples = done.stdout.split("examples:", 1)[1]
    assert f"ecg {command[0]} " in examples


def test_a_closed_pipe_ends_quietly():
    process = subprocess.Popen([sys.executable, "-m", "ecg.cli", "models"], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()                        # the reader is gone before ecg writes (ecg models | head)
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == EXIT_BROKEN_PIPE and stderr == ""


def test_models_into_head_prints_the_first_lines_only():
    done = subprocess.run(f"{sys.executable} -m ecg.cli models | head -2", shell=True, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2 and "Traceback" not in done.stderr


def test_plot_writes_the_paper_to_scale(tmp_path, fixture_dir, capsys):
    out = tmp_path / "ludb.png"
    assert main(["plot", str(fixture_dir / "ludb" / "1"), "--layout", "12", "--mask", "leads", "--dpi", "100",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    height, width = imread(out).shape[:2]
    assert width / 100 * 25.4 >= 10 * 25                                   # 10 s at 25 mm/s
    assert main(["plot", str(fixture_dir / "mitdb" / "208"), "--leads", "V9", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no lead 'V9' in the record; its leads are ['MLII', 'V1']" in error


@pytest.mark.parametrize("override, message", [
    ("train.epohcs=2", "unknown key 'train.epohcs'; valid keys: average_last, batch_size, epochs"),
    ("model.params.filtrs=2", "model.params: architecture 'resnet': invalid params: filtrs"),
    ("model.name=resnot", "model.name 'resnot' is not an architecture; registered: autoencoder, cnn"),
    ("data.path=/nonexistent/cinc", "data.path '/nonexistent/cinc' is not a folder"),
])
def test_a_config_error_is_reported_before_any_data_is_read(override, message, tmp_path):
    # a mirror that does not exist: reading any data would fail with another message
    done = run_ecg("train", CONFIGS / "cinc2017.yaml", "--set", override, "--mirror", tmp_path / "no-mirror",
                   "--out", tmp_path / "run")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_a_model_fed_another_number_of_leads_says_so_in_one_line():
    from ecg import KerasBaseModel
    from ecg.errors import ModelError

    model = KerasBaseModel({"model": {"name": "cnn"}, "seed": 0})
    model.train_on_batch(np.zeros((2, 600, 1), np.float32), np.eye(2, dtype=np.float32))
    with pytest.raises(ModelError) as error:
        model.predict_on_batch(np.zeros((2, 600, 12), np.float32))
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith("the model takes 1 lead (channels); this batch has 12 (windows of shape (2, 600, 12))")
    with pytest.raises(ModelError, match=r"takes 1 lead .* this batch has 2"):
        model.train_on_batch(np.zeros((2, 600, 2), np.float32), np.eye(2, dtype=np.float32))
    assert model.predict_on_batch(np.zeros((3, 600, 1), np.float32)).shape == (3, 2)
