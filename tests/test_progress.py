"""Training feedback (ecg.progress): a bar per epoch in a terminal or a notebook, one line per epoch in logs."""
import io
import re
import sys
import types

import pytest

from ecg import EcgDataset, KerasBaseModel
from ecg import progress as progress_module
from ecg.progress import EpochProgress, resolve
from ecg.training import epoch_batches, train_epochs


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self):
        return True


def _pipeline(cinc_dir):
    dataset = EcgDataset(path=str(cinc_dir / "*.hea"))
    config = {"model": {"name": "cnn", "params": {"filters": [4]}}, "seed": 0}
    return (dataset.p.init_model("m", KerasBaseModel, config=config)
            .load(fmt="wfdb", components=["signal", "meta"])
            .load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv", components="target")
            .random_split_signals(3000, 1).binarize_labels(["A"])
            .train_on_batch("m", metrics="accuracy"))


def test_one_line_per_epoch_when_the_stream_is_not_a_terminal(cinc_dir):
    log = io.StringIO()
    history = train_epochs(_pipeline(cinc_dir), "m", n_epochs=2, batch_size=16, drop_last=True,
                           progress=EpochProgress(file=log))
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in log.getvalue()
    for line, epoch in zip(lines, history):
        assert line.startswith(f"epoch {epoch['epoch']}/2: 2 batches, ")         # 40 records, 16 a batch, drop_last
        assert f"loss {epoch['loss']:.4f}" in line and f"accuracy {epoch['accuracy']:.4f}" in line


def test_a_bar_per_epoch_in_a_terminal(cinc_dir):
    terminal = Terminal()
    history = train_epochs(_pipeline(cinc_dir), "m", n_epochs=2, batch_size=10, drop_last=False,
                           progress=EpochProgress(file=terminal, refresh=0))
    text = terminal.getvalue()
    assert "\r" in text                                                           # redrawn in place
    for epoch in history:
        final = [part for part in text.split("\r") if part.startswith(f"epoch {epoch['epoch']}/2") and "4/4" in part]
        assert final, text[-500:]
        assert "100%" in final[-1] and f"loss {epoch['loss']:.4f}" in final[-1]
        assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", final[-1])                      # elapsed < ETA
    assert len(re.findall(r"batch/s|s/batch", text)) >= 2


def test_auto_is_a_bar_in_a_notebook_and_nothing_where_the_caller_logs_its_own_lines(monkeypatch):
    assert resolve("auto", io.StringIO()) == "line"
    assert resolve("auto", io.StringIO(), lines=False) == "off"
    assert resolve("auto", Terminal(), lines=False) == "bar"
    kernel = types.SimpleNamespace(config={"IPKernelApp": {"connection_file": "kernel.json"}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: kernel))
    assert progress_module.in_notebook() and resolve("auto", io.StringIO(), lines=False) == "bar"
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert not progress_module.in_notebook()


def test_off_by_default_writes_nothing(cinc_dir, monkeypatch):
    monkeypatch.setattr(progress_module, "_default", ["off"])
    terminal = Terminal()
    train_epochs(_pipeline(cinc_dir), "m", n_epochs=1, batch_size=20, progress=EpochProgress(file=terminal))
    assert terminal.getvalue() == ""
    with pytest.raises(Exception, match="progress must be one of auto, bar, line, off"):
        EpochProgress("loud")


def test_epoch_batches():
    assert [epoch_batches(range(40), size, drop) for size, drop in [(16, True), (16, False), (64, False), (40, True)]] \
        == [2, 3, 1, 1]
