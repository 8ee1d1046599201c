"""ecg.tasks.logs: history.csv and TensorBoard scalars after every epoch, also when the run stops early."""
import csv

import pytest

from ecg.tasks.base import RunDirectory
from ecg.tasks.logs import EpochLog
from ecg.training import StopTraining


class Keeper:
    """Validates like EpochKeeper: appends a row with the validation score; stops after epoch 3."""

    def __init__(self):
        self.rows = []

    def __call__(self, logs):
        self.rows.append({**logs, "val_score": 0.5 + logs["epoch"] / 10, "val_A_F1": 0.1 * logs["epoch"]})
        if logs["epoch"] == 3:
            raise StopTraining("enough")


def history(run_dir):
    with open(run_dir / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


def scalars(folder):
    """``{tag: [(step, value)]}`` read back from the event files of ``folder``."""
    tf = pytest.importorskip("tensorflow")
    found = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                assert value.metadata.plugin_data.plugin_name == "scalars"
                found.setdefault(value.tag, []).append((event.step, float(tf.make_ndarray(value.tensor))))
    return found


def test_every_epoch_is_written_as_it_ends_and_the_stopping_one_too(tmp_path):
    run_dir = RunDirectory(tmp_path / "run")
    log = EpochLog(Keeper(), run_dir)
    for epoch in (1, 2):
        log({"epoch": epoch, "batches": 4, "seconds": 1.5, "loss": 1.0 / epoch})
        rows = history(run_dir)
        assert [int(r["epoch"]) for r in rows] == list(range(1, epoch + 1))
        assert float(rows[-1]["loss"]) == pytest.approx(1.0 / epoch)
    with pytest.raises(StopTraining):
        log({"epoch": 3, "batches": 4, "seconds": 1.5, "loss": 0.25})
    assert [float(r["val_score"]) for r in history(run_dir)] == pytest.approx([0.6, 0.7, 0.8])
    found = scalars(run_dir / "tensorboard" / "train")
    assert dict(found["loss"]) == pytest.approx({1: 1.0, 2: 0.5, 3: 0.25})
    assert dict(found["val_score"]) == pytest.approx({1: 0.6, 2: 0.7, 3: 0.8})
    assert "epoch" not in found and {"batches", "seconds", "val_A_F1"} <= set(found)


def test_ensemble_members_have_their_own_runs_after_the_earlier_rows(tmp_path):
    run_dir = RunDirectory(tmp_path / "run")
    first = [{"member": 0, "epoch": 1, "loss": 0.9, "val_score": 0.6}]
    log = EpochLog(Keeper(), run_dir, earlier=first, member=1)
    log({"epoch": 1, "batches": 2, "seconds": 1.0, "loss": 0.8})
    rows = history(run_dir)
    assert [(r["member"], r["epoch"]) for r in rows] == [("0", "1"), ("1", "1")]
    assert rows[0]["batches"] == ""                             # columns of every row, in order
    assert dict(scalars(run_dir / "tensorboard" / "member_1")["loss"]) == pytest.approx({1: 0.8})
