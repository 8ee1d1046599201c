"""Filter actions that leave no record in a batch skip the batch, counted in the error report,
with and without prefetch, also when the very first batch of a prefetched run is skipped."""
import numpy as np
import pytest
from batchflow import B, SkipBatchException, V

from ecg import EcgDataset, KerasBaseModel
from ecg.errors import LabelError, RecordError
from ecg.report import EmptyLabelsError, EmptyRecordsError, ErrorReport
from ecg.training import train_epochs

CFG = {"model": {"name": "cnn", "params": {"filters": [4, 8], "norm": "layer"}}, "seed": 0}


@pytest.fixture(scope="module")
def dataset(cinc_dir):
    return EcgDataset(path=str(cinc_dir / "*.hea"))


@pytest.fixture(scope="module")
def labels(cinc_dir):
    return dict(line.split(",") for line in (cinc_dir / "REFERENCE.csv").read_text().split())


def _labelled(dataset, cinc_dir):
    return (dataset.p.init_variable("seen", [])
            .load(fmt="wfdb", components=["signal", "meta"])
            .load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv", components="target"))


def _batches(dataset, size):
    names = [str(ix) for ix in dataset.indices]
    return [names[i:i + size] for i in range(0, len(names), size)]


def test_an_emptied_batch_raises_a_skip_that_is_also_the_old_error(dataset, cinc_dir):
    batch = _labelled(dataset, cinc_dir).next_batch(4, shuffle=False, n_epochs=1)
    report = ErrorReport()
    with pytest.raises(EmptyLabelsError, match=r"no record is left after keep_labels\(\['X'\]\)") as caught:
        batch.keep_labels("X", report=report)
    assert isinstance(caught.value, LabelError) and isinstance(caught.value, SkipBatchException)
    with pytest.raises(EmptyRecordsError, match="nothing is left") as caught:
        batch.drop_short_signals(10 ** 6, report=report)
    assert isinstance(caught.value, RecordError) and isinstance(caught.value, SkipBatchException)
    for sig in batch.signal:
        sig[:] = 0.0                                     # flat: no record passes the quality limits
    with pytest.raises(EmptyRecordsError, match="quality limits"):
        batch.signal_quality(drop=True, report=report)
    assert report.skipped_batches == 3 and len(report) == 0
    assert report.summary().startswith("3 whole batches skipped:\n")
    assert "1 x no record passes the quality limits" in report.summary()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("prefetch", [0, 3])
def test_a_label_filter_skips_empty_batches_and_the_run_goes_on(dataset, cinc_dir, labels, prefetch):
    batches = _batches(dataset, 2)
    wanted = next(c for c in ("N", "A", "O", "~") if all(labels[r] != c for r in batches[0]))
    empty = sum(all(labels[r] != wanted for r in b) for b in batches)
    assert 0 < empty < len(batches)
    pipeline = (_labelled(dataset, cinc_dir).keep_labels(wanted)
                .update(V("seen", mode="e"), B("indices")))
    pipeline.run(batch_size=2, n_epochs=1, shuffle=False, prefetch=prefetch)   # first batch skipped
    assert sorted(str(r) for r in pipeline.v("seen")) == sorted(r for r in labels if labels[r] == wanted)
    report = pipeline.v("ecg_errors")
    assert report.skipped_batches == empty and len(report) == 0
    assert report.skip_reasons == {f"no record is left after keep_labels(['{wanted}'])": empty}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("prefetch", [0, 2])
def test_training_with_small_shuffled_batches_survives_emptied_ones(dataset, cinc_dir, labels, prefetch):
    lengths = {str(ix): n for ix, n in zip(dataset.indices, _lengths(dataset, cinc_dir))}
    length = int(np.percentile(list(lengths.values()), 80))
    pipeline = (_labelled(dataset, cinc_dir).init_model("m", KerasBaseModel, config=CFG)
                .drop_labels("~").drop_short_signals(length).crop_signals(length)
                .one_hot_labels(["N", "A", "O"]).train_on_batch("m"))
    history = train_epochs(pipeline, "m", n_epochs=2, batch_size=2, seed=5, prefetch=prefetch)
    report = pipeline.v("ecg_errors")
    assert report.skipped_batches > 0 and len(report) == 0
    assert sum(h["batches"] for h in history) + report.skipped_batches == 2 * 20   # every batch: one or other
    assert all(np.isfinite(h["loss"]) for h in history)


def _lengths(dataset, cinc_dir):
    batch = dataset.p.load(fmt="wfdb", components=["signal", "meta"]).next_batch(len(dataset), shuffle=False,
                                                                                   n_epochs=1)
    return [sig.shape[-1] for sig in batch.signal]


@pytest.mark.timeout(60)
def test_a_prefetched_run_hands_out_no_skipped_batch_nor_a_previous_one_again(dataset, cinc_dir, labels):
    pipeline = _labelled(dataset, cinc_dir).keep_labels("A")
    seen = [str(ix) for batch in pipeline.gen_batch(batch_size=3, n_epochs=1, shuffle=False, prefetch=2)
            for ix in batch.indices]
    assert seen == [str(ix) for ix in dataset.indices if labels[str(ix)] == "A"]
