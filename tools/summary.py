"""Prints the closing lines of `make test` from the JUnit reports of every pytest run (unit and Molecule verify).

Usage: summary.py REPORTS_DIR EXPECTED...   (EXPECTED: the report names the run must have produced, e.g. `unit`,
`molecule-default-bookworm`). A missing report fails the run: a scenario that stopped before its tests (create,
converge, idempotence) or a prerequisite of the molecule target that failed leaves none, and must not pass unseen.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skips: list[str] = field(default_factory=list)

    def add(self, report: Path) -> None:
        """Count one JUnit report's test cases, and note each skip with its reason."""
        for case in ET.parse(report).getroot().iter("testcase"):
            outcome = {child.tag: child for child in case}
            if "failure" in outcome or "error" in outcome:
                self.failed += 1
            elif "skipped" in outcome:
                reason = outcome["skipped"].get("message", "").strip() or "no reason given"
                self.skips.append(f"{report.stem}: {case.get('classname', '')}.{case.get('name', '')}: {reason}")
            else:
                self.passed += 1


def main(directory: str, expected: list[str]) -> int:
    reports = {report.stem: report for report in sorted(Path(directory).glob("*.xml"))}
    tally = Tally()
    for report in reports.values():
        tally.add(report)
    missing = [name for name in expected if name not in reports]
    # Scenarios that failed before or after their tests (converge, idempotence, check) count as one failure each.
    broken = Path(directory, "failed-scenarios.txt")
    scenarios = broken.read_text().split() if broken.exists() else []
    failed = tally.failed + len(scenarios) + len(missing)
    print(f"reports: {', '.join(reports) or 'none'}")
    if missing:
        print(f"missing reports (each counts as a failure): {', '.join(missing)}")
    if scenarios:
        print(f"failed scenarios (outside or including their tests): {', '.join(scenarios)}")
    for skip in tally.skips:
        print(f"skipped: {skip}")
    print(f"summary: {tally.passed} passed, {failed} failed, {len(tally.skips)} skipped")
    return 1 if failed or not tally.passed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
