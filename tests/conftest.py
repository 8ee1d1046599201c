"""Shared test fixtures: where the real PhysioNet data lives."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ECG_SHARED_DATA", REPO.parent / "shared" / "data"))
FIXTURE = SHARED_DATA / "fixture"
MIRROR = SHARED_DATA / "mirror"


@pytest.fixture(scope="session")
def fixture_dir():
    """``../shared/data/fixture``: small unzipped real records (see its README)."""
    if not FIXTURE.is_dir():
        pytest.fail(f"real test data not found at {FIXTURE}; set ECG_SHARED_DATA")
    return FIXTURE


@pytest.fixture(scope="session")
def mirror_dir():
    """``../shared/data/mirror``: a local PhysioNet mirror with SHA256SUMS.txt."""
    if not MIRROR.is_dir():
        pytest.fail(f"PhysioNet mirror not found at {MIRROR}; set ECG_SHARED_DATA")
    return MIRROR


@pytest.fixture(scope="session")
def cinc_dir(fixture_dir):
    """40 CinC 2017 records (10 per class) with REFERENCE.csv."""
    return fixture_dir / "cinc2017"
