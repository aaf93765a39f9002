"""Prints requirements.yml's collections as galaxy.yml's `dependencies:` mapping, so that a checkout and the built
collection ask for the same ranges (`make collection` appends the output to the collection's galaxy.yml)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def dependencies(requirements: Path) -> dict[str, str]:
    """name -> version range of every collection in a requirements file; a collection without a range is refused
    (galaxy.yml's "*" would accept a major the roles were never run with)."""
    collections = yaml.safe_load(requirements.read_text())["collections"]
    missing = [entry["name"] for entry in collections if not entry.get("version")]
    if missing:
        raise SystemExit(f"{requirements}: give a version range for {', '.join(missing)}")
    return {entry["name"]: str(entry["version"]) for entry in collections}


def main(argv: list[str]) -> None:
    requirements = Path(argv[1]) if len(argv) > 1 else Path("requirements.yml")
    sys.stdout.write(yaml.safe_dump({"dependencies": dependencies(requirements)}, default_flow_style=False))


if __name__ == "__main__":
    main(sys.argv)
