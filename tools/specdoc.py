"""Renders each role's meta/argument_specs.yml into the role's README.md, or checks that it is current.

Usage: specdoc.py [--check]. Every role with a meta/argument_specs.yml has a README.md holding one block between
<!-- BEGIN GENERATED --> and <!-- END GENERATED -->: for each entry point (main first, then the others in the order of
the file) its short description, its description and its variables table. The text around the block is written by
hand. --check fails when a README or its markers are missing or a block differs from what the specs give.
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- BEGIN GENERATED -->"
END = "<!-- END GENERATED -->"
PREAMBLE = (
    "Generated from `meta/argument_specs.yml` by `make docs` (`tools/specdoc.py`); `make lint` fails when they drift\n"
    "apart. Values shown as *derived* are computed from other variables (see the description); set them to override."
)


def _markup(text: object) -> str:
    """One line of Markdown from Ansible's doc text: whitespace joined, C() as code."""
    text = " ".join(str(text).split())
    return re.sub(r"C\(([^)]*)\)", r"`\1`", text)


def _cell(text: object) -> str:
    return _markup(text).replace("|", "\\|")


def _paragraphs(description: str | list[str] | None) -> list[str]:
    if description is None:
        return []
    items = description if isinstance(description, list) else [description]
    return [_markup(item) for item in items]


def table(options: dict) -> str:
    """The variables table of one entry point's options."""
    rows = ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for name, option in options.items():
        kind = option.get("type", "str")
        if kind == "list" and "elements" in option:
            kind = f"list of {option['elements']}"
        if "choices" in option:
            kind += " (" + ", ".join(map(str, option["choices"])) + ")"
        default = f"`{option['default']!r}`" if "default" in option else "derived"
        description = " ".join(_paragraphs(option.get("description")))
        rows.append(f"| `{name}` | {kind} | {_cell(default)} | {_cell(description)} |")
    return "\n".join(rows)


def entry_points(specs: dict) -> list[str]:
    """Entry point names, main first, then the others in the order of the file."""
    return sorted(specs, key=lambda name: name != "main")


def block(role: Path) -> str:
    """The generated part of a role's README: every entry point of its argument_specs."""
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    parts = [PREAMBLE]
    for name in entry_points(specs):
        spec = specs[name] or {}
        parts.append(f"### Entry point `{name}`")
        if spec.get("short_description"):
            parts.append(_markup(spec["short_description"]))
        parts.extend(_paragraphs(spec.get("description")))
        options = spec.get("options") or {}
        parts.append(table(options) if options else "No variables.")
    return "\n\n".join(parts)


def render(role: Path, readme: str) -> str:
    """The README with its generated block replaced; SystemExit when the markers are missing."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise SystemExit(f"{role / 'README.md'} needs one {BEGIN} ... {END} block")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block(role)}\n{END}{tail}"


def documented_roles(root: Path) -> list[Path]:
    return [role for role in sorted((root / "roles").iterdir()) if (role / "meta" / "argument_specs.yml").is_file()]


def check(root: Path) -> list[str]:
    """Problems found: a missing README or markers, or a diff between a README and its specs."""
    problems = []
    for role in documented_roles(root):
        path = role / "README.md"
        if not path.is_file():
            problems.append(f"{path.relative_to(root)} is missing (a role with argument_specs needs one)")
            continue
        current = path.read_text()
        try:
            wanted = render(role, current)
        except SystemExit as error:
            problems.append(str(error))
            continue
        if current != wanted:
            name = str(path.relative_to(root))
            diff = difflib.unified_diff(current.splitlines(), wanted.splitlines(), name, "from specs", lineterm="")
            problems.append("\n".join(diff))
    return problems


def main(argv: list[str], root: Path = ROOT) -> int:
    if "--check" in argv:
        problems = check(root)
        for problem in problems:
            print(problem)
        if problems:
            print("role READMEs differ from meta/argument_specs.yml: run `make docs`", file=sys.stderr)
            return 1
        print("role READMEs match meta/argument_specs.yml")
        return 0
    for role in documented_roles(root):
        path = role / "README.md"
        path.write_text(render(role, path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
