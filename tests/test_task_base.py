"""ecg.tasks.base: the epoch keeper (best epoch, weight averaging, early stopping) and the run directory."""
import json

import numpy as np
import pytest

from ecg.tasks.base import EpochKeeper, RunDirectory, TrainConfig
from ecg.training import StopTraining


class Network:
    def __init__(self):
        self.weights = [np.zeros(3), np.zeros((2, 2))]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.asarray(w).copy() for w in weights]


class Model:
    def __init__(self):
        self.model = Network()


def run_keeper(scores, **train):
    model = Model()
    state = {"epoch": 0}

    def score():
        # the score of the weights in the model: epoch e's weights are all e
        value = model.model.weights[0][0]
        return scores.get(value, float(-abs(value - 7.5))), {}

    keeper = EpochKeeper(lambda: model, score, TrainConfig(**train), log=lambda text: None)
    for epoch in range(1, train.get("epochs", 10) + 1):
        model.model.set_weights([np.full(3, float(epoch)), np.full((2, 2), float(epoch))])
        state["epoch"] = epoch
        try:
            keeper({"epoch": epoch, "batches": 1, "seconds": 0.0, "loss": 1.0 / epoch})
        except StopTraining:
            break
    return keeper, model


def test_keeps_the_best_epoch():
    keeper, model = run_keeper({4.0: 0.9}, epochs=10)
    assert keeper.restore() == 4 and model.model.weights[0][0] == 4.0
    assert [row["epoch"] for row in keeper.rows] == list(range(1, 11))


def test_average_of_the_last_epochs_when_it_validates_better():
    # epochs 5..10 average to 7.5, where the score peaks: better than any single epoch
    keeper, model = run_keeper({}, epochs=10, average_last=6)
    assert keeper.restore() == "average of epochs 5-10"
    np.testing.assert_allclose(model.model.weights[1], np.full((2, 2), 7.5))


def test_best_epoch_when_the_average_is_worse():
    keeper, model = run_keeper({3.0: 0.99}, epochs=10, average_last=5)
    assert keeper.restore() == 3 and model.model.weights[0][0] == 3.0


def test_patience_stops_the_run():
    keeper, _ = run_keeper({2.0: 0.99}, epochs=10, patience=3)
    assert [row["epoch"] for row in keeper.rows] == [1, 2, 3, 4, 5]


def test_run_directory_writes_atomically(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.write_json("metrics.json", {"a": np.float32(0.5), "b": np.arange(2)})
    run.write_rows("rows.csv", [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}])
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == {"a": 0.5, "b": [0, 1]}
    assert (tmp_path / "run" / "rows.csv").read_text().splitlines() == ["x,y", "1,a", "2,b"]
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]
    with pytest.raises(TypeError):
        run.write_json("bad.json", {"x": object()})
    assert not (tmp_path / "run" / "bad.json").exists()
