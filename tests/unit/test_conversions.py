"""argument_specs checks a variable's type but hands it on unconverted ("false" stays a truthy string, "5" a string):
every use of a bool option must go through `| bool`, every use of an int or float option through `| int`/`| float`.

Uses are read from the Jinja of templates and the expressions of task, vars, defaults, playbook and wiring files
(conditionals and `{{ }}`); names in messages, task names and comments are prose, not uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path.parent.parent.name for path in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
CONVERSION = {"bool": ("bool",), "int": ("int", "float"), "float": ("float",)}
# Keys whose value is an expression without braces.
CONDITIONALS = {"when", "that", "changed_when", "failed_when", "until"}
# Keys whose value is text for people (task names, messages, the rule's variable name).
PROSE = {"name", "msg", "fail_msg", "success_msg", "var", "description"}
JINJA = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.DOTALL)
# Ways a use may reach its conversion: hostvars['x'], map(attribute='x', default=v) | map('int'), | default(v).
FOLLOW = r"""(?:['"]\])?\s*(?:\|\s*default\([^()]*\)\s*)?"""
ATTRIBUTE = r"""['"]\s*,\s*default=[^()]*\)\s*\|\s*map\(['"]({conv})['"]\)"""
# Uses that need no conversion: tests of presence or type, the value shown as given.
PRESENCE = (
    r"""(?:['"]\])?\s*(?:is\s+(?:not\s+)?(?:defined|undefined|none|boolean|number|integer|float|string)\b"""
    r"""|\|\s*(?:string|to_json)\b)"""
)


def typed_options() -> dict[str, str]:
    """Every bool, int and float option of every role: name -> type."""
    options: dict[str, str] = {}
    for role in ROLES:
        specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        for entry in specs["argument_specs"].values():
            for name, spec in entry.get("options", {}).items():
                if spec.get("type") in CONVERSION:
                    options[name] = spec["type"]
    return options


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for child_key, value in node.items():
            yield from _strings(value, str(child_key))
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)
    elif isinstance(node, str) and key not in PROSE:
        yield key, node


def expressions(path: Path) -> Iterator[str]:
    """The Jinja expressions of one file."""
    text = path.read_text()
    if path.suffix == ".j2":
        yield from (
            match.group(1) or match.group(2)
            for match in JINJA.finditer(re.sub(r"\{#.*?#\}", "", text, flags=re.DOTALL))
        )
        return
    for key, value in _strings(yaml.safe_load(text)):
        if key in CONDITIONALS and "{{" not in value:
            yield value
        else:
            yield from (match.group(1) or match.group(2) for match in JINJA.finditer(value))


def scanned_files() -> list[Path]:
    patterns = [
        "roles/*/tasks/**/*.yml",
        "roles/*/handlers/**/*.yml",
        "roles/*/templates/**/*.j2",
        "roles/*/vars/**/*.yml",
        "roles/*/defaults/**/*.yml",
        "playbooks/**/*.yml",
        "inventory/group_vars/*.yml",
    ]
    return sorted({path for pattern in patterns for path in ROOT.glob(pattern)})


def raw_uses() -> list[str]:
    """Every use of a typed option without its conversion, as 'path: variable'."""
    found = []
    for name, kind in typed_options().items():
        conv = "|".join(CONVERSION[kind])
        use = re.compile(rf"(?<![\w.]){name}(?!\w)")
        good = re.compile(rf"{FOLLOW}\|\s*(?:{conv})\b|{ATTRIBUTE.format(conv=conv)}|{PRESENCE}")
        for path in scanned_files():
            for expression in expressions(path):
                for match in use.finditer(expression):
                    if not good.match(expression, match.end()):
                        found.append(f"{path.relative_to(ROOT)}: {name}")
    return sorted(found)


# Uses that are converted where they land: a module argument of type bool converts "false" itself.
CONVERTED_BY_THE_MODULE = ["roles/websocket_app/tasks/service.yml: websocket_app_enabled"]


def test_the_scan_finds_typed_options_and_files() -> None:
    options = typed_options()
    assert "websocket_app_enabled" in options
    assert "websocket_nginx_listen_port" in options
    assert any(path.suffix == ".j2" for path in scanned_files())


@pytest.mark.parametrize(
    ("expression", "raw"),
    [
        ("websocket_app_enabled", True),
        ("websocket_app_enabled | bool", False),
        ("not websocket_app_enabled|bool and x", False),
        ("hostvars[h]['websocket_app_enabled'] | default(false) | bool", False),
        ("websocket_app_enabled is defined", False),
        ("websocket_app_enabled | lower", True),
    ],
)
def test_the_scan_tells_converted_uses(expression: str, raw: bool) -> None:
    use = re.compile(r"(?<![\w.])websocket_app_enabled(?!\w)")
    good = re.compile(rf"{FOLLOW}\|\s*(?:bool)\b|{PRESENCE}")
    match = use.search(expression)
    assert match is not None
    assert (good.match(expression, match.end()) is None) is raw


def test_every_typed_use_is_converted() -> None:
    assert raw_uses() == sorted(CONVERTED_BY_THE_MODULE)
