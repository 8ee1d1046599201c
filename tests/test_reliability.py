"""Bad records raise ecg errors naming them, or are skipped and reported; models load safely;
prefetch neither interleaves training steps nor loses predictions."""
import json
import logging
import shutil

import numpy as np
import pytest
from batchflow import B, V

from ecg import EcgDataset, KerasBaseModel
from ecg.errors import LabelError, ModelError, RecordError
from ecg.io import read_npz, read_record
from ecg.report import ErrorReport

CLASSES = ["N", "A", "O", "~"]
SMALL = {"model": {"name": "cnn", "params": {"filters": [4, 8], "norm": "layer"}}, "seed": 0}


def _copy(src, folder, name, ext):
    """Copy record ``src`` (a path without extension) as ``folder/name``; return its path."""
    shutil.copy(f"{src}.{ext}", folder / f"{name}.{ext}")
    lines = [line.split(" ") for line in open(f"{src}.hea").read().splitlines()]
    lines[0][0] = name
    for line in lines[1:]:
        if line[0] == f"{src.name}.{ext}":
            line[0] = f"{name}.{ext}"
    (folder / f"{name}.hea").write_text("\n".join(" ".join(line) for line in lines) + "\n")
    return folder / name


def _edit_header(path, old, new):
    hea = path.parent / f"{path.name}.hea"
    hea.write_text(hea.read_text().replace(old, new, 1))


def _dat_samples(path, lead, n_leads, values):
    """Overwrite the first samples of ``lead`` in a format-16 .dat with ``values``."""
    data = np.fromfile(f"{path}.dat", dtype="<i2").reshape(-1, n_leads)
    data[:len(values), lead] = values
    data.tofile(f"{path}.dat")


# --- each kind of bad record raises an ecg error naming it ---------------------------------
@pytest.fixture()
def ludb(fixture_dir, tmp_path):
    return lambda name: _copy(fixture_dir / "ludb/1", tmp_path, name, "dat")


def test_unknown_formats_are_record_errors(ludb, tmp_path):
    path = ludb("fmt")
    _edit_header(path, " 16 ", " 999 ")
    with pytest.raises(RecordError, match=r"'fmt'.*unknown signal format '999'"):
        read_record(path)
    (tmp_path / "scan.xml").write_text("<ecg/>")
    with pytest.raises(RecordError, match=r"'scan.xml'.*unknown record format '.xml'"):
        read_record(tmp_path / "scan.xml")


@pytest.mark.parametrize("record_line, problem", [("1 12", "no sampling frequency"),
                                                  ("1 12 -500 5000", "invalid sampling frequency '-500'"),
                                                  ("1 12 0 5000", "invalid sampling frequency '0'"),
                                                  ("1 12 fast 5000", "invalid sampling frequency 'fast'")])
def test_missing_or_wrong_fs_is_a_record_error(ludb, record_line, problem):
    path = ludb("1")
    _edit_header(path, "1 12 500 5000", record_line)
    with pytest.raises(RecordError, match=rf"'1'.*{problem}"):
        read_record(path)


def test_nan_samples_are_record_errors(ludb):
    path = ludb("nan")
    _dat_samples(path, lead=3, n_leads=12, values=[-32768])         # WFDB's 'no sample' value
    with pytest.raises(RecordError, match=r"'nan'.*non-finite sample.*lead 3 at sample 0"):
        read_record(path)


def test_flat_lead_is_listed_in_meta_and_an_error_on_demand(ludb):
    path = ludb("flat")
    _dat_samples(path, lead=2, n_leads=12, values=np.zeros(5000, dtype="<i2"))
    signal, meta = read_record(path)
    assert meta["flat_leads"] == [2] and np.ptp(signal[2]) == 0
    assert read_record(ludb("ok"))[1]["flat_leads"] == []
    with pytest.warns(RuntimeWarning, match=r"'flat'.*flat lead\(s\) \['iii'\]"):
        read_record(path, on_flat="warn")
    with pytest.raises(RecordError, match=r"'flat'.*flat lead\(s\) \['iii'\]"):
        read_record(path, on_flat="error")


# --- on_error="skip": bad records leave the batch and are reported --------------------------
@pytest.fixture()
def cinc_copy(cinc_dir, tmp_path):
    """Copies of 8 CinC 2017 records, 3 of them corrupted, and a label table missing one."""
    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))[:8]
    for name in names:
        _copy(cinc_dir / name, tmp_path, name, "mat")
    (tmp_path / f"{names[1]}.mat").unlink()                               # missing signal file
    data = (tmp_path / f"{names[4]}.mat").read_bytes()
    (tmp_path / f"{names[4]}.mat").write_bytes(data[:len(data) // 3])     # truncated
    _edit_header(tmp_path / names[6], " 300 ", " -300 ")                 # invalid fs
    labels = (cinc_dir / "REFERENCE.csv").read_text().splitlines()
    (tmp_path / "REFERENCE.csv").write_text("\n".join(l for l in labels if not l.startswith(names[7])))
    return tmp_path, names


def test_skip_leaves_bad_records_out_and_reports_them(cinc_copy, caplog):
    folder, names = cinc_copy
    ds = EcgDataset(path=str(folder / "*.hea"))
    with pytest.raises(RecordError, match=names[1]):
        ds.create_batch(ds.indices).load(fmt="wfdb")
    report = ErrorReport()
    with caplog.at_level(logging.WARNING, logger="ecg"):
        batch = (ds.create_batch(ds.indices)
                 .load(fmt="wfdb", on_error="skip", report=report)
                 .load(src=str(folder / "REFERENCE.csv"), fmt="csv", on_error="skip", report=report))
    kept = [n for i, n in enumerate(names) if i not in (1, 4, 6, 7)]
    assert list(batch.indices) == kept and [m["record"] for m in batch.meta] == kept
    assert all(s.shape == (1, 9000) or s.shape[0] == 1 for s in batch.signal) and None not in list(batch.target)
    reasons = dict(report.records)
    assert list(reasons) == [names[1], names[4], names[6], names[7]]
    assert "signal file not found" in reasons[names[1]] and "truncated" in reasons[names[4]]
    assert "sampling frequency" in reasons[names[6]] and "no label" in reasons[names[7]]
    assert "4 records left out" in report.summary() and names[4] in caplog.text
    assert batch.index.get_fullpath(kept[0]).endswith(f"{kept[0]}.hea")   # paths kept for later loads


def test_skip_labels_outside_the_classes_and_npz_errors(cinc_copy, tmp_path):
    folder, names = cinc_copy
    good = [names[0], names[2], names[3]]
    ds = EcgDataset(path=str(folder / "*.hea"))
    batch = ds.create_batch(good).load(fmt="wfdb")
    (folder / "labels.csv").write_text(f"{good[0]},N\n{good[1]},X\n{good[2]},A\n")
    with pytest.raises(LabelError, match=rf"'{good[1]}'.*label 'X'.*not one of the classes"):
        batch.load(src=str(folder / "labels.csv"), fmt="csv", classes=CLASSES)
    report = ErrorReport()
    out = batch.load(src=str(folder / "labels.csv"), fmt="csv", classes=CLASSES, on_error="skip", report=report)
    assert list(out.indices) == [good[0], good[2]] and list(out.target) == ["N", "A"]
    cache = tmp_path / "cache"
    batch.dump(dst=str(cache), fmt="npz", components=["signal", "meta"])
    (cache / f"{good[1]}.npz").write_bytes(b"not a zip")
    np.savez(cache / f"{good[2]}.npz", signal=np.array([{"code": "x"}], dtype=object),
             format_version=np.array(1))                                   # needs pickle to load
    with pytest.raises(RecordError, match=good[2]):
        read_npz(cache / f"{good[2]}.npz")
    out = ds.create_batch(good).load(src=str(cache), fmt="npz", on_error="skip", report=report)
    assert list(out.indices) == [good[0]]
    assert [r for r, _ in report.records] == [good[1], good[1], good[2]]


def test_a_batch_of_bad_records_is_skipped_in_a_pipeline(cinc_copy):
    folder, names = cinc_copy
    ds = EcgDataset(path=str(folder / "*.hea"))
    pipeline = (ds.p.init_variable("seen", [])
                .load(fmt="wfdb", on_error="skip")
                .update(V("seen", mode="e"), B("indices")))
    pipeline.run(batch_size=2, n_epochs=1, shuffle=False)
    report = pipeline.v("ecg_errors")                  # the pipeline's own report
    assert [str(ix) for ix in pipeline.v("seen")] == [names[i] for i in (0, 2, 3, 5, 7)]
    assert [r for r, _ in report.records] == [names[1], names[4], names[6]]
    (folder / f"{names[0]}.mat").unlink()
    (folder / f"{names[2]}.mat").unlink()
    pipeline.run(batch_size=4, n_epochs=1, shuffle=False)            # [0, 1, 2, 3]: 3 is good
    (folder / f"{names[3]}.mat").unlink()
    pipeline.run(batch_size=4, n_epochs=1, shuffle=False)            # first batch all bad: skipped
    assert report.skipped_batches == 1 and "skipped" in report.summary()


# --- model files --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory, cinc_dir):
    import wfdb

    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))[:8]
    x = np.stack([wfdb.rdrecord(str(cinc_dir / n)).p_signal[:600].astype(np.float32) for n in names])
    model = KerasBaseModel(SMALL)
    model.train_on_batch(x, np.eye(2, dtype=np.float32)[np.arange(8) % 2])
    path = tmp_path_factory.mktemp("model") / "m"
    model.save(path)
    return path


def test_a_lambda_layer_is_refused_and_never_runs(saved, tmp_path):
    import keras

    marker = tmp_path / "ran"
    path = tmp_path / "m"
    shutil.copytree(saved, path)

    def payload(t):
        marker.write_text("code from the model file ran")
        return t

    inputs = keras.Input((600, 1))
    outputs = keras.layers.Dense(2, activation="softmax")(
        keras.layers.GlobalAveragePooling1D()(keras.layers.Lambda(payload)(inputs)))
    keras.Model(inputs, outputs).save(path / "model.keras")
    marker.unlink(missing_ok=True)                       # saving traced the lambda once
    with pytest.raises(ModelError, match=r"cannot load the network.*(safe_mode|Lambda|lambda)"):
        KerasBaseModel({"path": str(path)})
    assert not marker.exists()


def test_a_config_with_an_unknown_key_is_refused(saved, tmp_path):
    from ecg.errors import ConfigError

    path = tmp_path / "m"
    shutil.copytree(saved, path)
    meta = json.loads((path / "ecg_model.json").read_text())
    meta["config"]["dropout_schedule"] = "cosine"                   # written by another ecg version
    (path / "ecg_model.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=r"(?s)ecg_model.json.*unknown key 'dropout_schedule'.*valid keys"):
        KerasBaseModel({"path": str(path)})


# --- concurrency --------------------------------------------------------------------------
def _pipeline(ds, cinc_dir, model):
    return (ds.p.import_model("m", model)
            .load(fmt="wfdb").load(src=str(cinc_dir / "REFERENCE.csv"), fmt="csv")
            .crop_signals(1500).one_hot_labels(CLASSES))


def test_prefetch_loses_or_reorders_no_prediction(cinc_dir):
    ds = EcgDataset(path=str(cinc_dir / "*.hea"))
    model = KerasBaseModel(dict(SMALL, input_shape=(1500, 1), num_classes=4))
    model.build((1500, 1), 4)
    runs = []
    for prefetch in (0, 4):
        pipeline = _pipeline(ds, cinc_dir, model).predict_on_batch("m")
        records, probs = [], []
        for batch in pipeline.gen_batch(batch_size=3, n_epochs=1, shuffle=False, prefetch=prefetch):
            records.extend(str(ix) for ix in batch.indices)
            probs.extend(batch.predictions)
        runs.append((records, np.stack(probs)))
    assert runs[0][0] == runs[1][0] == [str(ix) for ix in ds.indices]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
