"""``ecg evaluate --records`` takes what ``ecg predict --records`` takes: folders (``--recursive``),
globs, RECORDS files and single WFDB/EDF files, labels from the REFERENCE.csv beside the records.

The model is the zoo's CinC 2017 rhythm model (no training here); the records are real CinC 2017
fixture records laid out in a tree. What each form must evaluate is known from the tree the test
builds; the labels are read from the fixture's REFERENCE.csv with the csv module, the accuracy is
recomputed with scikit-learn, and each record's predicted class is the one ``ecg predict`` gives it.
"""
import csv
import json
import shutil

import pytest

from ecg.cli import main
from ecg.commands.evaluate import EXIT_MISSING

MODEL = "zoo:cinc2017"
SITE1 = ["A00001", "A00004", "A00008"]          # N, A, O
DEEP = ["A00005", "A00022"]                     # A, ~ (site2/deep, its own REFERENCE.csv of these two)


def _read(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def truth(cinc_dir):
    with open(cinc_dir / "REFERENCE.csv", newline="", encoding="utf-8") as file:
        return {row[0]: row[1] for row in csv.reader(file) if row}


@pytest.fixture(scope="module")
def tree(cinc_dir, truth, tmp_path_factory):
    """root/site1/ (3 records, the fixture's REFERENCE.csv), root/site2/deep/ (2, a REFERENCE.csv of
    those two), root/unlabelled/A00010 (no REFERENCE.csv of its own: root's), root/edf/A00009.edf
    (wfdb's EDF writer, with a REFERENCE.csv), root/dicom/ecg.dcm, root/bare/A00002 (no labels
    anywhere up to root/bare), root/RECORDS and root/REFERENCE.csv."""
    from wfdb.io.convert.edf import wfdb_to_edf

    root = tmp_path_factory.mktemp("evaluate_tree")

    def copy(names, folder):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            for ext in ("hea", "mat"):
                shutil.copy(cinc_dir / f"{name}.{ext}", root / folder)

    copy(SITE1, "site1")
    shutil.copy(cinc_dir / "REFERENCE.csv", root / "site1")
    copy(DEEP, "site2/deep")
    (root / "site2" / "deep" / "REFERENCE.csv").write_text("".join(f"{n},{truth[n]}\n" for n in DEEP))
    copy(["A00010"], "unlabelled")
    copy(["A00002"], "bare/inner")
    (root / "edf").mkdir()
    wfdb_to_edf(str(cinc_dir / "A00009"), output_filename=str(root / "edf" / "A00009.edf"))
    (root / "edf" / "REFERENCE.csv").write_text(f"A00009,{truth['A00009']}\n")
    pydicom_data = pytest.importorskip("pydicom.data")
    (root / "dicom").mkdir()
    shutil.copy(pydicom_data.get_testdata_file("waveform_ecg.dcm"), root / "dicom" / "ecg.dcm")
    shutil.copy(cinc_dir / "REFERENCE.csv", root)
    (root / "RECORDS").write_text("site1/A00004\nsite2/deep/A00022\nunlabelled/A00010\nnot_here\n")
    return root


@pytest.fixture(scope="module")
def predicted(cinc_dir, tmp_path_factory):
    """Record -> the class ``ecg predict`` gives it (the WFDB originals)."""
    out = tmp_path_factory.mktemp("predict") / "p.csv"
    names = SITE1 + DEEP + ["A00009", "A00010"]
    assert main(["predict", "--model", MODEL, "--quiet", "--out", str(out),
                 "--records", *[str(cinc_dir / f"{n}.hea") for n in names]]) == 0
    return {row["record"]: row["label"] for row in _read(out)}


def _evaluate(tmp_path, *args, expect=0):
    out = tmp_path / "eval"
    shutil.rmtree(out, ignore_errors=True)
    assert main(["evaluate", "--model", MODEL, "--quiet", "--out", str(out), *map(str, args)]) == expect
    return _read(out / "predictions.csv"), json.loads((out / "metrics.json").read_text())


def _check(rows, metrics, expected, truth, predicted):
    from sklearn.metrics import accuracy_score

    assert sorted(r["record"] for r in rows) == sorted(expected)
    assert {r["record"]: r["label"] for r in rows} == {n: truth[n] for n in expected}
    assert {r["record"]: r["prediction"] for r in rows} == {n: predicted[n] for n in expected}
    assert metrics["accuracy"] == pytest.approx(accuracy_score([r["label"] for r in rows],
                                                               [r["prediction"] for r in rows]))
    assert sum(map(sum, metrics["confusion_matrix"])) == len(expected)


def test_a_folder(tree, truth, predicted, tmp_path):
    rows, metrics = _evaluate(tmp_path, "--records", tree / "site1")
    _check(rows, metrics, SITE1, truth, predicted)


def test_a_folder_with_its_subfolders(tree, truth, predicted, tmp_path, capsys):
    rows, metrics = _evaluate(tmp_path, "--records", tree / "site2", "--recursive")
    _check(rows, metrics, DEEP, truth, predicted)                  # labels of site2/deep/REFERENCE.csv
    capsys.readouterr()
    assert main(["evaluate", "--model", MODEL, "--records", str(tree / "site2")]) == 2
    assert "(--recursive also looks in its subfolders)" in capsys.readouterr().err


def test_a_glob(tree, truth, predicted, tmp_path):
    rows, metrics = _evaluate(tmp_path, "--records", f"{tree}/site*/**/*.hea")
    _check(rows, metrics, SITE1 + DEEP, truth, predicted)


def test_a_records_file(tree, truth, predicted, tmp_path, capsys):
    """A00010 has no REFERENCE.csv of its own: its label is in the RECORDS file's folder's; not_here is named."""
    rows, metrics = _evaluate(tmp_path, "--records", tree / "RECORDS", expect=EXIT_MISSING)
    _check(rows, metrics, ["A00004", "A00022", "A00010"], truth, predicted)
    assert "ecg evaluate: not_here: listed in" in capsys.readouterr().err


def test_single_files_wfdb_edf_and_a_dicom_left_out(tree, truth, predicted, tmp_path, capsys):
    rows, metrics = _evaluate(tmp_path, "--records", tree / "site1" / "A00001.hea", tree / "site2" / "deep" / "A00005",
                              tree / "edf" / "A00009.edf", tree / "dicom" / "ecg.dcm", expect=EXIT_MISSING)
    _check(rows, metrics, ["A00001", "A00005", "A00009"], truth, predicted)    # the EDF copy: the original's class
    assert "ecg evaluate: ecg: a DICOM record: ecg evaluate reads WFDB and EDF records" in capsys.readouterr().err


def test_labels_file_and_no_labels(tree, truth, predicted, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("A00001,A\nA00004,A\n")                      # A00001 is N in REFERENCE.csv
    rows, _ = _evaluate(tmp_path, "--records", tree / "site1", "--labels", labels, expect=EXIT_MISSING)
    assert {r["record"]: r["label"] for r in rows} == {"A00001": "A", "A00004": "A"}
    assert "ecg evaluate: A00008: no label" in capsys.readouterr().err
    assert main(["evaluate", "--model", MODEL, "--records", str(tree / "bare"), "--recursive"]) == 2
    err = capsys.readouterr().err
    assert "labels not found: no REFERENCE.csv in" in err and str(tree / "bare") in err


def test_the_readme_records_commands_run_on_the_fixture(tmp_path):
    """The README's ``ecg predict``/``ecg evaluate --model zoo:...`` lines, only ``../shared/data`` replaced,
    in one interpreter of their own (``--quiet`` and ``--device`` act on its process)."""
    import os
    import subprocess
    import sys

    from conftest import REPO, SHARED_DATA
    from test_readme import readme_commands

    commands = [c for c in readme_commands() if c.startswith(("ecg predict --model zoo:", "ecg evaluate --model zoo:"))
                and "--records" in c]
    assert len(commands) >= 3 and any("evaluate" in c for c in commands)
    script = ("import shlex, sys\nfrom ecg.cli import main\n"
              "for line in sys.argv[1:]:\n"
              "    code = main(shlex.split(line)[1:])\n"
              "    print('exit', code, line, flush=True)\n")
    done = subprocess.run([sys.executable, "-c", script,
                           *[c.replace("../shared/data", str(SHARED_DATA)) for c in commands]],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("exit 0 ") == len(commands), done.stdout + done.stderr[-3000:]
    labels = {row[0]: row[1] for row in csv.reader(open(SHARED_DATA / "fixture" / "cinc2017" / "REFERENCE.csv"))}
    assert len(_read(tmp_path / "pred.csv")) == len(labels)                          # the whole folder
    mixed = [r["record"] for r in _read(tmp_path / "mixed.csv")]                     # the glob, then A00106
    assert mixed == sorted(n for n in labels if n[:5] == "A0000" or n[:5] in ("A0001", "A0002")) + ["A00106"]
    evaluated = sorted(r["record"] for r in _read(tmp_path / "eval" / "predictions.csv"))
    assert evaluated == sorted(n for n in labels if n.startswith("A0001"))
    assert _read(tmp_path / "pred.errors.csv") == []                               # header only
