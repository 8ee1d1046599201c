"""``ecg predict`` on folders as users have them: a model saved without a recipe, records of any length,
folders (recursive), globs, RECORDS files and single files in WFDB, EDF and DICOM, and folders mixing
good and bad records (every good one predicted, every bad one named, --strict stops at the first)."""
import csv
import shutil

import numpy as np
import pytest
import wfdb

from ecg import KerasBaseModel
from ecg.cli import main
from ecg.commands.predict import EXIT_MISSING

WINDOW, STEP = 3000, 1500
CLASSES = ["N", "A", "O", "~"]


def _read(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _probs(rows, classes=CLASSES):
    return np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])


def _copy(src_dir, name, dst_dir, exts):
    dst_dir.mkdir(parents=True, exist_ok=True)
    for ext in exts:
        shutil.copy(src_dir / f"{name}.{ext}", dst_dir)


@pytest.fixture(scope="module")
def bare_model(cinc_dir, tmp_path_factory):
    """A CNN trained on random 3,000-sample windows of real records and saved with no recipe (the seed's chain)."""
    rng = np.random.default_rng(0)
    labels = dict(line.strip().split(",") for line in (cinc_dir / "REFERENCE.csv").read_text().splitlines() if line)
    names = sorted(labels)[:20]
    windows, targets = [], []
    for name in names:
        signal = wfdb.rdrecord(str(cinc_dir / name)).p_signal[:, 0]
        for start in rng.integers(0, len(signal) - WINDOW, 2):
            windows.append(signal[start:start + WINDOW, None])
            targets.append(np.eye(4)[CLASSES.index(labels[name])])
    model = KerasBaseModel({"model": {"name": "cnn", "params": {"filters": [4, 4]}}, "seed": 0})
    for _ in range(2):
        model.train_on_batch(np.float32(windows), np.float32(targets), classes=CLASSES)
    assert model.config.preprocess == [] and model.config.input_shape == (WINDOW, 1)
    return model.save(tmp_path_factory.mktemp("bare") / "model")


@pytest.fixture(scope="module")
def lengths_dir(cinc_dir, tmp_path_factory):
    """Real records of several lengths: short (2,000 and 3,000 samples, cut from A00001 with wfdb), and 3 whole ones."""
    folder = tmp_path_factory.mktemp("lengths")
    record = wfdb.rdrecord(str(cinc_dir / "A00001"))
    for name, n in (("short2000", 2000), ("exact3000", WINDOW)):
        wfdb.wrsamp(name, fs=record.fs, units=record.units, sig_name=record.sig_name,
                    p_signal=record.p_signal[:n], fmt=["16"], adc_gain=record.adc_gain, baseline=record.baseline,
                    write_dir=str(folder))
    for name in ("A00445", "A00001", "A00008"):            # 3,264 samples, 9,000, longer
        _copy(cinc_dir, name, folder, ("hea", "mat"))
    return folder


def _reference(model_dir, path):
    """What a record's row must hold, computed here: wfdb's samples cut into 3,000-sample windows every 1,500
    samples (one zero-padded window for a shorter record), the network's window probabilities averaged."""
    model = KerasBaseModel({"path": str(model_dir)})
    signal = wfdb.rdrecord(str(path)).p_signal[:, 0]
    if len(signal) < WINDOW:
        windows = [np.pad(signal, (0, WINDOW - len(signal)))]
    else:
        windows = [signal[s:s + WINDOW] for s in range(0, len(signal) - WINDOW + 1, STEP)]
    return model.predict_on_batch(np.float32(windows)[..., None]).mean(axis=0), len(windows)


def test_a_model_without_a_recipe_windows_long_records_pads_short_ones_and_says_so(bare_model, lengths_dir,
                                                                                     tmp_path, capsys):
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(bare_model), "--records", str(lengths_dir), "--out", str(out)]) == 0
    rows = {r["record"]: r for r in _read(out)}
    assert sorted(rows) == sorted(p.stem for p in lengths_dir.glob("*.hea"))
    counts = {}
    for name, row in rows.items():
        expected, counts[name] = _reference(bare_model, lengths_dir / name)
        np.testing.assert_allclose(_probs([row])[0], expected, atol=1e-4, err_msg=name)
        assert row["label"] == CLASSES[int(np.argmax(expected))]
    assert counts["short2000"] == 1 and counts["exact3000"] == 1 and counts["A00001"] == 5
    err = capsys.readouterr().err
    assert "saved without a recipe that cuts windows; its network takes 3000 samples" in err
    assert "every 1500 samples" in err and "3 records windowed, 1 padded (short2000)" in err


@pytest.fixture(scope="module")
def messy_dir(cinc_dir, tmp_path_factory):
    """Good records, a truncated one, one without its signal file and one with a broken header."""
    folder = tmp_path_factory.mktemp("messy")
    good = ["A00001", "A00002", "A00005", "A00008"]
    for name in good + ["A00003", "A00004", "A00006"]:
        _copy(cinc_dir, name, folder, ("hea", "mat"))
    mat = folder / "A00003.mat"
    mat.write_bytes(mat.read_bytes()[:600])                           # truncated signal
    (folder / "A00004.mat").unlink()                                  # no signal at all
    (folder / "A00006.hea").write_text("A00006 1 three hundred\n")   # a header wfdb cannot read
    return folder, good, {"A00003": "is truncated", "A00004": "not found", "A00006": "header"}


def test_a_messy_folder_predicts_every_good_record_and_names_every_bad_one(bare_model, messy_dir, tmp_path, capsys):
    folder, good, bad = messy_dir
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(bare_model), "--records", str(folder), "--out", str(out)]) == EXIT_MISSING
    assert [r["record"] for r in _read(out)] == good
    errors = {r["record"]: r["reason"] for r in _read(tmp_path / "pred.errors.csv")}
    assert sorted(errors) == sorted(bad)
    for name, words in bad.items():
        assert words in errors[name], (name, errors[name])
    captured = capsys.readouterr()
    assert "3 of 7 records got no prediction" in captured.err
    assert all(f"  {name}: " in captured.err for name in bad)


def test_strict_stops_at_the_first_bad_record_and_writes_nothing(bare_model, messy_dir, tmp_path, capsys):
    folder, _, _ = messy_dir
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(bare_model), "--records", str(folder), "--out", str(out), "--strict"]) == 2
    (err,) = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("ecg predict: note")]
    assert err.startswith("ecg predict: error: record 'A00003'") and "A00004" not in err
    assert not out.exists() and not (tmp_path / "pred.errors.csv").exists()


def test_quiet_prints_no_summary_but_still_the_bad_records(bare_model, messy_dir, tmp_path, capsys):
    folder, _, bad = messy_dir
    assert main(["predict", "--model", str(bare_model), "--records", str(folder), "--out", str(tmp_path / "p.csv"),
                 "--quiet", "--set", "batch_size=2"]) == EXIT_MISSING
    captured = capsys.readouterr()
    assert captured.out == "" and "note:" not in captured.err
    assert all(f"  {name}: " in captured.err for name in bad)


# --- every form of --records, in WFDB, EDF and DICOM ------------------------------------------------------
LEADS = 12


@pytest.fixture(scope="module")
def lead12_model(fixture_dir, tmp_path_factory):
    """A 12-lead CNN on 2,000-sample windows of LUDB records (500 Hz, saved in info['fs']), no recipe."""
    ludb = fixture_dir / "ludb"
    windows = np.float32([wfdb.rdrecord(str(ludb / str(n))).p_signal[s:s + 2000] for n in (5, 6, 7) for s in (0, 2500)])
    model = KerasBaseModel({"model": {"name": "cnn", "params": {"filters": [4, 4]}}, "seed": 0, "info": {"fs": 500}})
    model.train_on_batch(windows, np.float32(np.eye(2)[[0, 1] * 3]), classes=["x", "y"])
    return model.save(tmp_path_factory.mktemp("lead12") / "model")


@pytest.fixture(scope="module")
def tree(fixture_dir, tmp_path_factory):
    """root/{1,2}.hea (WFDB), root/sub/e3.edf (LUDB 3 through wfdb's EDF writer), root/sub/deep/ecg.dcm
    (pydicom's 12-lead waveform at 1,000 Hz) and root/RECORDS."""
    pydicom_data = pytest.importorskip("pydicom.data")
    from wfdb.io.convert.edf import wfdb_to_edf

    ludb = fixture_dir / "ludb"
    root = tmp_path_factory.mktemp("tree")
    for n in ("1", "2"):
        _copy(ludb, n, root, ("hea", "dat"))
    (root / "sub" / "deep").mkdir(parents=True)
    wfdb_to_edf(str(ludb / "3"), output_filename=str(root / "sub" / "e3.edf"))
    shutil.copy(pydicom_data.get_testdata_file("waveform_ecg.dcm"), root / "sub" / "deep" / "ecg.dcm")
    (root / "RECORDS").write_text("1\nsub/e3\nsub/deep/ecg\nnot_here\n")
    return root


def _records(model, tmp_path, *sources, expect=0):
    out = tmp_path / "p.csv"
    assert main(["predict", "--model", str(model), "--out", str(out), "--records", *map(str, sources)]) == expect
    rows = _read(out)
    np.testing.assert_allclose(_probs(rows, ["x", "y"]).sum(axis=1), 1, atol=1e-4)
    return [r["record"] for r in rows], {r["record"]: r["reason"] for r in _read(tmp_path / "p.errors.csv")}


def test_records_forms(lead12_model, tree, tmp_path):
    assert _records(lead12_model, tmp_path, tree) == (["1", "2"], {})                       # a folder
    assert _records(lead12_model, tmp_path, tree, "--recursive")[0] == ["1", "2", "ecg", "e3"]  # path order
    assert _records(lead12_model, tmp_path, f"{tree}/**/*.edf")[0] == ["e3"]                  # a glob
    assert _records(lead12_model, tmp_path, f"{tree}/su*")[0] == ["e3"]                       # a glob of folders
    names, errors = _records(lead12_model, tmp_path, tree / "RECORDS", expect=EXIT_MISSING)   # a RECORDS file
    assert names == ["1", "e3", "ecg"] and list(errors) == ["not_here"] and "listed in" in errors["not_here"]
    names, _ = _records(lead12_model, tmp_path, tree / "2.hea", tree / "sub" / "deep" / "ecg.dcm", tree / "1")
    assert names == ["2", "ecg", "1"]                                                          # single files


def test_edf_and_dicom_records_are_read_as_their_own_readers_read_them(lead12_model, tree, fixture_dir, tmp_path,
                                                                       capsys):
    names, _ = _records(lead12_model, tmp_path, tree / "sub", "--recursive")
    assert names == ["ecg", "e3"]                                                   # sub/deep/ecg.dcm, sub/e3.edf
    assert "resampling 1 of 2 records to the model's 500 Hz" in capsys.readouterr().err     # the 1,000 Hz DICOM
    rows = {r["record"]: r for r in _read(tmp_path / "p.csv")}
    # the EDF copy of LUDB 3 gives LUDB 3's own prediction (16-bit samples both ways)
    _records(lead12_model, tmp_path, fixture_dir / "ludb" / "3.hea")
    wfdb_row = _read(tmp_path / "p.csv")[0]
    np.testing.assert_allclose(_probs([rows["e3"]], ["x", "y"]), _probs([wfdb_row], ["x", "y"]), atol=1e-3)


def test_records_errors_are_clear(lead12_model, tree, tmp_path, capsys):
    twin = tmp_path / "twin"
    _copy(tree, "1", twin, ("hea", "dat"))
    _copy(tree, "2", tmp_path / "nested" / "inner", ("hea", "dat"))
    for sources, message in [([tmp_path / "nothing"], "no such folder, record file, RECORDS file or glob"),
                             ([f"{tree}/*.xyz"], "no records (.hea, .edf or .dcm files) match"),
                             ([tmp_path / "nested"], "(--recursive also looks in its subfolders)"),
                             ([tree, twin], "record name(s) in more than one folder (1 in ")]:
        assert main(["predict", "--model", str(lead12_model), "--out", str(tmp_path / "x.csv"),
                     "--records", *map(str, sources)]) == 2
        assert message in capsys.readouterr().err, message
