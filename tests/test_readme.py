"""Every code example of the README runs as written, on the fixture records.

The Python blocks run in order in one fresh interpreter (later blocks use the names of
earlier ones, as a reader's session does), in a folder where ``training2017/`` is the
40-record CinC 2017 fixture; only ``../shared/data`` is replaced by where the shared data
lives. The cheap ``ecg`` commands of the README (those that need no trained run
directory or download) run too.
"""
import os
import re
import shlex
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO, SHARED_DATA

README = REPO / "README.md"
BLOCK = re.compile(r"^([ \t]*)```(\w+)\n(.*?)^[ \t]*```", re.S | re.M)


def blocks(language):
    """The README's fenced code blocks of ``language`` (those in list items too), in order."""
    return [textwrap.dedent(code) for _, lang, code in BLOCK.findall(README.read_text(encoding="utf-8"))
            if lang == language]


def substituted(code):
    return code.replace("../shared/data", str(SHARED_DATA))


def test_the_readme_has_its_examples():
    python = blocks("python")
    assert len(python) >= 4
    for code in python:
        compile(code, "README.md", "exec")                     # each block parses on its own


RUNNER = textwrap.dedent('''
    import json, sys, time, traceback, warnings
    warnings.simplefilter("default")
    blocks = json.load(open(sys.argv[1]))
    namespace = {"__name__": "__main__"}
    for number, code in enumerate(blocks, 1):
        began = time.perf_counter()
        try:
            exec(compile(code, f"README.md python block {number}", "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            print(f"README python block {number} failed:\\n{code}", file=sys.stderr)
            sys.exit(1)
        print(f"block {number} ran in {time.perf_counter() - began:.1f} s", flush=True)
''')


def test_python_blocks_run_in_order_on_the_fixture(tmp_path):
    import json

    (tmp_path / "training2017").symlink_to(SHARED_DATA / "fixture" / "cinc2017", target_is_directory=True)
    (tmp_path / "blocks.json").write_text(json.dumps([substituted(code) for code in blocks("python")]))
    (tmp_path / "runner.py").write_text(RUNNER)
    env = {**os.environ, "PYTHONPATH": str(REPO), "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
    done = subprocess.run([sys.executable, "runner.py", "blocks.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    n_blocks = len(blocks("python"))
    assert f"block {n_blocks} ran in" in done.stdout
    # the quick start's 300-record batches are clipped to the 40 fixture records, with a warning
    assert "batch_size=300 is larger than the dataset (40 records)" in done.stderr
    assert (tmp_path / "runs" / "af" / "model" / "ecg_model.json").is_file()
    assert "40 ['other', 'A']" in done.stdout                 # the bring-your-own-model block's print
    assert (tmp_path / "runs" / "af" / "checkpoints" / "state.json").is_file()


def readme_commands():
    """``ecg ...`` commands of the README, in bash blocks and in inline code."""
    text = README.read_text(encoding="utf-8")
    found = []
    for code in blocks("bash"):
        for line in code.splitlines():
            found += [part.strip() for part in line.split("&&") if part.strip().startswith("ecg ")]
    found += [c for c in re.findall(r"`(ecg [^`]+)`", text)]
    return list(dict.fromkeys(found))


CHEAP = {                                   # no trained run directory, no download, no full training
    "ecg --version",
    "ecg --help",
    "ecg models",
    "ecg models --zoo",
    "ecg models describe tcn --input-shape 2500,1 --num-classes 4",
    "ecg plot ../shared/data/fixture/ludb/1 --layout 12 --mask leads --out ludb1.png",
}


def test_the_readme_commands_are_known():
    from ecg.cli import build_parser

    commands = readme_commands()
    assert CHEAP <= set(commands), sorted(set(CHEAP) - set(commands))
    assert "ecg train pipelines/cinc2017.yaml --mirror ../shared/data/mirror" in commands   # the main job
    parser = build_parser()
    names = set(parser._subparsers._group_actions[0].choices)
    for command in commands:
        words = shlex.split(command)
        assert words[1] in names | {"--version", "--help"}, command
        if len(words) > 2 and not re.search(r"\.\.\.|<|\|", command):     # whole commands parse
            parser.parse_args(words[1:])


@pytest.mark.parametrize("command", sorted(CHEAP))
def test_cheap_readme_commands_run(command, tmp_path):
    done = subprocess.run([sys.executable, "-m", "ecg.cli", *shlex.split(substituted(command))[1:]],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    if "--out" in command:
        assert (tmp_path / shlex.split(command)[-1]).stat().st_size > 50_000


def test_zoo_predict_command_of_the_readme(tmp_path):
    """``--model zoo:cinc2017`` in place of the trained model: the README's predict command, no training."""
    (command,) = [c for c in readme_commands() if c.startswith("ecg predict --model runs/cinc2017/model")]
    words = shlex.split(substituted(command).replace("runs/cinc2017/model", "zoo:cinc2017"))
    words[words.index("--out") + 1] = str(tmp_path / "pred.csv")
    done = subprocess.run([sys.executable, "-m", "ecg.cli", *words[1:]], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = (tmp_path / "pred.csv").read_text().splitlines()
    assert rows[0].startswith("record,label,p_") and len(rows) == 41
