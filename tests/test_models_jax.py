"""Run part of the zoo tests on the JAX backend.

Keras fixes its backend when first imported, so the JAX run happens in a separate
pytest process with ``KERAS_BACKEND=jax``.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBSET = (
    "backend_matches_environment or mobileone_reparameterize or causal_output or npu_rule_pool"
    " or (trains_saves_and_reloads and (fc-segmentation or tcn-classification or conformer-segmentation"
    " or mobileone or unext-segmentation or layer_spec or metaformer-classification))"
)


def test_zoo_subset_on_jax():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "tests" / "test_models_zoo.py"), "-q",
         "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning", "-k", SUBSET],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    assert " passed" in completed.stdout and "deselected" in completed.stdout
