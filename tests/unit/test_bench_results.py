"""The benchmark's results in the repository match the code that produced them: measured with today's plan, and
the summary is what today's runner writes from them (`python bench/run.py --render` redraws it after a change to
how results are shown; a change to what is measured needs a new `make bench`)."""

from __future__ import annotations

import json
from pathlib import Path

import run

RESULTS = Path(run.__file__).resolve().parent / "results"


def _report() -> dict:
    return json.loads((RESULTS / "results.json").read_text())


def test_results_were_measured_with_the_current_plan() -> None:
    assert _report()["plan"] == run.FULL, "bench/run.py's FULL plan changed since bench/results: run make bench"


def test_the_summary_is_what_the_runner_writes_from_the_results() -> None:
    assert (RESULTS / "summary.md").read_text() == run.summary(_report()), "run python bench/run.py --render"


def test_the_chart_is_drawn_from_the_results(tmp_path: Path) -> None:
    run.chart(_report()["results"], tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 10_000
