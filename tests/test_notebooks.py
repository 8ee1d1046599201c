"""The notebooks of ``notebooks/`` run top to bottom on the fixture records and show their plots inline.

They are stored without outputs; each runs here in a fresh kernel (nbclient) from the
``notebooks/`` folder, with ``ECG_SHARED_DATA`` pointing at the shared data and
``ECG_NOTEBOOK_RUNS`` at a temporary folder (02 saves the model that 03 loads), in under
two minutes each.
"""
import os
import re
import time

import pytest

from conftest import REPO, SHARED_DATA

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = REPO / "notebooks"
NAMES = ["01_quick_start", "02_train_af_detection", "03_predict_from_a_saved_model",
         "04_bring_your_own_model", "05_delineation_ludb"]
SECONDS = 120


def test_the_notebooks_are_stored_without_outputs_and_linked_from_the_readme():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code and all(not cell.outputs and cell.execution_count is None for cell in code), name
        assert f"notebooks/{name}.ipynb" in readme, name


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("notebook_runs")


def execute(name, runs):
    """Run notebook ``name`` in a fresh kernel; return it with its outputs and the seconds it took."""
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    env = {"ECG_SHARED_DATA": str(SHARED_DATA), "ECG_NOTEBOOK_RUNS": str(runs),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)                          # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(notebook, timeout=SECONDS, kernel_name="python3",
                                         resources={"metadata": {"path": str(NOTEBOOKS)}})
        began = time.perf_counter()
        client.execute()
        return notebook, time.perf_counter() - began
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def outputs(notebook, kind):
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs
            if kind in out.get("data", {})]


def text_of(notebook):
    parts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


EXPECT = {   # notebook: (at least this many inline images, texts its outputs show)
    "01_quick_start": (3, ["Se", "208"]),
    "02_train_af_detection": (1, ["epoch 8: loss", "validation F1", "ecg_model.json", "epoch 8/8: 100%"]),
    "03_predict_from_a_saved_model": (2, ["classes of the saved model: ['other', 'A']", "macro F1"]),
    "04_bring_your_own_model": (0, ["SimpleFCModel (3000, 1) ['other', 'A']", "wide_conv", "filter"]),
    "05_delineation_ludb": (1, ["QRS", "onset"]),
}


@pytest.mark.parametrize("name", NAMES)          # in order: 03 loads the model 02 saves
def test_notebook_runs_and_shows_its_plots(name, runs):
    notebook, seconds = execute(name, runs)
    n_images, texts = EXPECT[name]
    assert len(outputs(notebook, "image/png")) >= n_images
    shown = text_of(notebook)
    for text in texts:
        assert text in shown, (text, shown[-2000:])
    assert seconds < SECONDS, f"{name} took {seconds:.0f} s"
    if name == "02_train_af_detection":
        assert (runs / "af" / "model" / "ecg_model.json").is_file()
        check_the_af_model_learned(shown)


def check_the_af_model_learned(shown):
    """Notebook 02's model beats the one that answers "other" for every record, by a margin.

    The notebook validates on 3 records of each CinC class (3 AF of 12); the majority-class
    macro F1 is computed here from that count with scikit-learn, not taken from the notebook.
    With fixed seeds the notebook's model reaches 0.700 (measured): one AF record of three
    found, no false alarm; the margin 0.15 leaves room for one false alarm (0.621).
    """
    from sklearn.metrics import f1_score

    found = re.search(r"validation F1 after 8 epochs: ([0-9.]+) \(a model answering 'other' for every "
                      r"record: ([0-9.]+)\)", shown)
    assert found, shown[-2000:]
    learned, majority = float(found.group(1)), float(found.group(2))
    reference = f1_score([1] * 3 + [0] * 9, [0] * 12, average="macro", zero_division=0)
    assert majority == pytest.approx(reference, abs=5e-4)
    assert learned >= reference + 0.15, (learned, reference)
