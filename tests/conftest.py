"""Shared test set-up: where the real PhysioNet data lives, and the Hypothesis profiles."""
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ECG_SHARED_DATA", REPO.parent / "shared" / "data"))
FIXTURE = SHARED_DATA / "fixture"
MIRROR = SHARED_DATA / "mirror"

# Property tests (tests/test_fuzz.py) run the "ci" profile unless HYPOTHESIS_PROFILE says
# otherwise, on CI (CI=true) and on a developer's machine alike: the same examples on every
# run, so a failure is reproducible and never appears on one run and not the next.
# HYPOTHESIS_PROFILE=long searches many more, fresh random examples (and keeps failures in
# .hypothesis/ to replay them first next time).
# Both build on Hypothesis' "default" profile, not on whatever Hypothesis loaded for CI=true.
_COMMON = {"parent": settings.get_profile("default"), "deadline": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", derandomize=True, max_examples=200, **_COMMON)
settings.register_profile("long", derandomize=False, max_examples=5000, **_COMMON)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if HYPOTHESIS_PROFILE not in ("ci", "long"):
    raise pytest.UsageError(f"Expected HYPOTHESIS_PROFILE in ('ci', 'long'). "
                            f"Received: HYPOTHESIS_PROFILE={HYPOTHESIS_PROFILE!r}.")
settings.load_profile(HYPOTHESIS_PROFILE)


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


def _progress_default_at_start():
    from ecg import progress

    return progress.get_default()


_PROGRESS_DEFAULT = _progress_default_at_start()


@pytest.fixture(autouse=True)
def _progress_default_restored():
    """``ecg ... --quiet`` run in-process (in a test or a module fixture) sets the progress default
    to "off" for the whole process: every test starts from the session's default."""
    from ecg import progress

    progress.set_default(_PROGRESS_DEFAULT)
    yield
    progress.set_default(_PROGRESS_DEFAULT)
