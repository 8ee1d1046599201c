"""``import ecg`` stays light: heavy libraries load only when the names that need them are used."""
import subprocess
import sys

HEAVY = ("keras", "tensorflow", "jax", "batchflow", "scipy", "pandas", "wfdb", "matplotlib")


def _loaded_after(statement):
    code = f"import sys; {statement}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(filter(None, out.stdout.strip().split(",")))


def test_import_ecg_loads_no_heavy_library():
    assert _loaded_after("import ecg") == set()


def test_batch_and_cli_listing_do_not_load_keras():
    loaded = _loaded_after("from ecg import EcgBatch, EcgDataset; import ecg.metrics, ecg.cli")
    assert "batchflow" in loaded and not loaded & {"keras", "tensorflow", "jax"}


def test_lazy_names_resolve():
    import ecg

    assert ecg.KerasBaseModel.__name__ == "KerasBaseModel" and "EcgBatch" in dir(ecg)
