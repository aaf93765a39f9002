"""Each role states its defaults twice, in defaults/main.yml (what Ansible uses) and meta/argument_specs.yml (what
the docs and ansible-doc show): the two must agree, option by option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(path.parent.parent.name for path in (ROOT / "roles").glob("*/meta/argument_specs.yml"))


def _main_options(role: str) -> dict[str, dict[str, Any]]:
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


def _defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def test_every_role_is_checked() -> None:
    assert sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir()) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_an_option_and_every_option_has_a_default(role: str) -> None:
    options, defaults = set(_main_options(role)), set(_defaults(role))
    assert sorted(defaults - options) == [], "in defaults/main.yml but not in argument_specs"
    assert sorted(options - defaults) == [], "in argument_specs but not in defaults/main.yml"


@pytest.mark.parametrize("role", ROLES)
def test_literal_defaults_are_the_documented_ones(role: str) -> None:
    defaults = _defaults(role)
    differ = {
        name: (spec["default"], defaults[name])
        for name, spec in _main_options(role).items()
        if "default" in spec and spec["default"] != defaults.get(name)
    }
    assert differ == {}, "argument_specs default != defaults/main.yml value"


@pytest.mark.parametrize("role", ROLES)
def test_options_without_a_default_are_derived_or_required(role: str) -> None:
    """No `default:` in argument_specs means "derived": defaults/main.yml computes it (or the user must give it)."""
    defaults = _defaults(role)
    undocumented = sorted(
        name
        for name, spec in _main_options(role).items()
        if "default" not in spec and not spec.get("required") and not _is_expression(defaults.get(name))
    )
    assert undocumented == [], "literal defaults missing from argument_specs"
