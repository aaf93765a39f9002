"""Every Molecule scenario's suite imports and finds every fixture its tests ask for, as the verify step runs it,
without containers: an import error or a missing fixture then fails `make unit` instead of the scenario's verify step
forty minutes later. `--setup-plan` collects and resolves the fixtures of every test but runs neither."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
SUITES = sorted(path.parent.name for path in PROJECT.glob("molecule/*/tests"))


def test_every_scenario_has_a_suite() -> None:
    assert {"default", "cluster", "faults", "apps"} <= set(SUITES)


@pytest.mark.parametrize("scenario", SUITES)
def test_the_scenario_suite_collects_and_its_fixtures_resolve(scenario: str, tmp_path: Path) -> None:
    # As molecule/shared/verify.yml runs it: this Python, an absolute path, from another working directory.
    suite = PROJECT / "molecule" / scenario / "tests"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--setup-plan", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # 0: every module imported and every test's fixtures exist (1 on a missing fixture, 2 on an import error).
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SETUP" in done.stdout, done.stdout[-3000:]  # the plan was printed: the tests were there
