"""Bad inventory input fails before any change, with a message naming the variable and what is allowed.

Runs on the controller without containers: each role's validation phase (argument_specs and tasks/validate.yml)
against localhost in check mode, one inventory host per row of cases.py.
"""

from __future__ import annotations

import re

import pytest
import yaml
from cases import CASES, ROLE_NAMES, RUNS, STRINGS, Case, cases_of, strings_host
from validationlib import (
    ARGSPEC,
    ARGSPEC_ACTION,
    MAIN,
    ROLES,
    HostResult,
    RoleRun,
    label_of,
    positive_host,
    role_variables,
    rules_of,
    run_name,
    validation_paths,
)

ALL_VARIABLES = set().union(*(role_variables(role) for role in ROLE_NAMES))


# A row whose known defect gets fixed fails (strict xfail), so its note is removed with the fix.
REFUSED_ROWS = [
    pytest.param(case, id=case.host, marks=[pytest.mark.xfail(reason=case.known, strict=True)] if case.known else [])
    for case in CASES
]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _ran_only_validation(role: str, result: HostResult, entry: str = MAIN) -> None:
    allowed = {str(path) for path in validation_paths(role, entry)}
    for name, path, action in result.tasks:
        assert action == ARGSPEC_ACTION or path.rsplit(":", 1)[0] in allowed, (
            f"not a validation task ran: {name} ({path})"
        )


@pytest.mark.parametrize(("role", "entry"), RUNS, ids=[run_name(*run) for run in RUNS])
def test_defaults_pass_and_change_nothing(runs: dict[str, RoleRun], role: str, entry: str) -> None:
    result = runs[run_name(role, entry)].hosts[positive_host(role)]
    assert result.failure is None, result.messages()
    assert result.stats["changed"] == 0
    assert result.stats["ok"] >= (2 if rules_of(role, entry) else 1)  # argument_specs, and the role's checks if any
    _ran_only_validation(role, result, entry)


@pytest.mark.parametrize("role", sorted(STRINGS))
def test_booleans_and_numbers_given_as_strings_pass(runs: dict[str, RoleRun], role: str) -> None:
    result = runs[role].hosts[strings_host(role)]
    assert result.failure is None, result.messages()
    _ran_only_validation(role, result)


@pytest.mark.parametrize("case", REFUSED_ROWS)
def test_bad_input_is_refused_before_any_change(runs: dict[str, RoleRun], case: Case) -> None:
    result = runs[case.run].hosts[case.host]
    assert result.failure is not None, f"{case.given} passed validation"
    assert result.failed_task is not None
    name, _, action = result.failed_task
    assert action in (ARGSPEC_ACTION, "ansible.builtin.assert"), (
        f"{name} failed as an error, not a rule: {result.failure}"
    )
    # The rows of types and choices show that argument_specs runs under the validation-only tag too.
    assert action == ARGSPEC_ACTION or not case.by_argspec, f"{name} refused it, not argument_specs"
    message = _flat(" ".join(result.messages()))
    assert re.search(rf"\b{case.var}\b", message), message
    for allowed in case.allowed:
        assert _flat(allowed) in message, message
    if case.shown is not None:
        assert case.shown in message, message
    # Exactly this row's rule refused it: the other inputs are valid.
    assert len(result.rule_keys()) == 1, result.messages()
    assert result.stats["changed"] == 0
    assert result.stats["failures"] == 1
    _ran_only_validation(case.role, result, case.entry)
    if case.secret:
        assert case.secret not in runs[case.run].output


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.host)
def test_message_names_only_the_offending_variable(runs: dict[str, RoleRun], case: Case) -> None:
    message = " ".join(runs[case.run].hosts[case.host].messages())
    named = {variable for variable in ALL_VARIABLES if re.search(rf"\b{variable}\b", message)}
    assert named - {case.var, *case.related} == set(), message


@pytest.mark.parametrize(("role", "entry"), RUNS, ids=[run_name(*run) for run in RUNS])
def test_every_rule_has_a_row(runs: dict[str, RoleRun], role: str, entry: str) -> None:
    run = run_name(role, entry)
    hit = {key for case in cases_of(run) for key in runs[run].hosts[case.host].rule_keys()}
    missing = rules_of(role, entry) - hit
    assert not missing, [f"{task}: {label_of(role, (task, rule))}" for task, rule in sorted(missing)]
    checked = {rule for task, rule in hit if task == ARGSPEC}
    assert checked, "no row reached argument_specs"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_validation_runs_first_and_always(role: str) -> None:
    first = (yaml.safe_load((ROLES / role / "tasks" / "main.yml").read_text()) or [{}])[0]
    assert first.get("ansible.builtin.import_tasks") == "validate.yml"
    assert "always" in first.get("tags", [])
