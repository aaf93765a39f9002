"""Renders each role's meta/argument_specs.yml as a Markdown table into README.md, or checks it is current.

Usage: specdoc.py [--check]. The README holds one block per role between
<!-- BEGIN VARIABLES role --> and <!-- END VARIABLES role -->.
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _cell(text: object) -> str:
    text = " ".join(str(text).split())
    text = re.sub(r"C\(([^)]*)\)", r"`\1`", text)  # Ansible's C() markup
    return text.replace("|", "\\|")


def table(role: Path) -> str:
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    rows = ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for name, option in spec["options"].items():
        kind = option.get("type", "str")
        if kind == "list" and "elements" in option:
            kind = f"list of {option['elements']}"
        if "choices" in option:
            kind += " (" + ", ".join(map(str, option["choices"])) + ")"
        default = f"`{option['default']!r}`" if "default" in option else "derived"
        description = option["description"]
        if isinstance(description, list):
            description = " ".join(description)
        rows.append(f"| `{name}` | {kind} | {_cell(default)} | {_cell(description)} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    for role in sorted((ROOT / "roles").iterdir()):
        if not (role / "meta" / "argument_specs.yml").exists():
            continue
        begin, end = f"<!-- BEGIN VARIABLES {role.name} -->", f"<!-- END VARIABLES {role.name} -->"
        if begin not in readme:
            raise SystemExit(f"README.md has no block for role {role.name}: add {begin} ... {end}")
        head, rest = readme.split(begin, 1)
        _, tail = rest.split(end, 1)
        readme = f"{head}{begin}\n{table(role)}\n{end}{tail}"
    return readme


def main(argv: list[str]) -> int:
    current = README.read_text()
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            diff = difflib.unified_diff(
                current.splitlines(), wanted.splitlines(), "README.md", "from specs", lineterm=""
            )
            print("\n".join(diff))
            print("README.md variables tables differ from meta/argument_specs.yml: run `make docs`", file=sys.stderr)
            return 1
        print("README.md variables tables match meta/argument_specs.yml")
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
