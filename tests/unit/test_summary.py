"""summary.py: what makes `make test` fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from summary import main

CASES = {
    "ok": "",
    "bad": '<failure message="assert 1 == 2"/>',
    "broken": '<error message="fixture failed"/>',
    "later": '<skipped type="pytest.skip" message="needs CAP_SYS_ADMIN"/>',
}


def report(directory: Path, name: str, *cases: str) -> None:
    body = "".join(f'<testcase classname="tests.t" name="{case}">{CASES[case]}</testcase>' for case in cases)
    (directory / f"{name}.xml").write_text(f'<testsuites><testsuite name="pytest">{body}</testsuite></testsuites>')


def test_every_expected_report_present_and_passing_passes(tmp_path, capsys):
    report(tmp_path, "unit", "ok", "ok")
    report(tmp_path, "molecule-default-bookworm", "ok", "later")
    assert main(str(tmp_path), ["unit", "molecule-default-bookworm"]) == 0
    out = capsys.readouterr().out
    assert "summary: 3 passed, 0 failed, 1 skipped" in out
    assert "skipped: molecule-default-bookworm: tests.t.later: needs CAP_SYS_ADMIN" in out


@pytest.mark.parametrize("case", ["bad", "broken"])
def test_a_failure_or_an_error_fails(tmp_path, capsys, case):
    report(tmp_path, "unit", "ok", case)
    assert main(str(tmp_path), ["unit"]) == 1
    assert "summary: 1 passed, 1 failed, 0 skipped" in capsys.readouterr().out


def test_a_missing_report_fails_and_is_named(tmp_path, capsys):
    # A scenario that never reached its tests leaves no report: it must not pass unseen.
    report(tmp_path, "unit", "ok")
    assert main(str(tmp_path), ["unit", "molecule-cluster-bookworm"]) == 1
    out = capsys.readouterr().out
    assert "missing reports (each counts as a failure): molecule-cluster-bookworm" in out
    assert "summary: 1 passed, 1 failed, 0 skipped" in out


def test_a_scenario_that_failed_outside_its_tests_fails(tmp_path, capsys):
    report(tmp_path, "molecule-faults-bookworm", "ok")
    (tmp_path / "failed-scenarios.txt").write_text("faults\n")
    assert main(str(tmp_path), ["molecule-faults-bookworm"]) == 1
    assert "failed scenarios (outside or including their tests): faults" in capsys.readouterr().out


def test_no_reports_at_all_fails(tmp_path):
    assert main(str(tmp_path), []) == 1
