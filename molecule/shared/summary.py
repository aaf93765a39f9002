"""Prints one closing line for `make test` from the JUnit reports of every pytest run (unit and Molecule verify)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def count(reports: list[Path]) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    for report in reports:
        for suite in ET.parse(report).getroot().iter("testsuite"):
            tests = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            passed += tests - bad - skip
            failed += bad
            skipped += skip
    return passed, failed, skipped


def main(directory: str) -> int:
    reports = sorted(Path(directory).glob("*.xml"))
    if not reports:
        print(f"no test reports in {directory}", file=sys.stderr)
        return 1
    passed, failed, skipped = count(reports)
    # Scenarios that failed before or after their tests (converge, idempotence, check) count as one failure each.
    broken = Path(directory, "failed-scenarios.txt")
    scenarios = broken.read_text().split() if broken.exists() else []
    failed += len(scenarios)
    print(f"reports: {', '.join(r.stem for r in reports)}")
    if scenarios:
        print(f"failed scenarios (outside or including their tests): {', '.join(scenarios)}")
    print(f"summary: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
