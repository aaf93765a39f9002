"""One validation run per role for the whole table, started together, shared by every test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cases import BASE, RUNS, STRINGS, cases_of, entry_base, strings_host
from validationlib import MAIN, RoleRun, positive_host, results, run_name, start_run, write_run

from pki import self_signed, write_key


def _make_files(files: Path) -> None:
    """Inputs some rows point at: `{files}/...` in cases.py."""
    (files / "tls").mkdir(parents=True)
    self_signed(files / "tls" / "site.crt", files / "tls" / "site.key", names=("validation.test",), ips=(), days=1)
    write_key(files / "tls" / "other.key")
    (files / "tls" / "not-a-certificate.pem").write_text("not a certificate\n")
    (files / "empty").mkdir()
    (files / "notes.txt").write_text("not a wheel\n")
    (files / "requirements-unpinned.txt").write_text("flask\n")
    (files / "app.conf.j2").write_text("setting = 1\n")


def _substitute(value: Any, files: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{files}", str(files))
    if isinstance(value, list):
        return [_substitute(item, files) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, files) for key, item in value.items()}
    return value


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RoleRun]:
    """Every role's table in one --check run per role and entry point, the runs side by side."""
    workdir = tmp_path_factory.mktemp("validation")
    _make_files(workdir / "files")
    started = {}
    for role, entry in RUNS:
        run = run_name(role, entry)
        base = entry_base(role, entry)
        hosts: dict[str, dict[str, Any]] = {positive_host(role): base}
        if role in STRINGS and entry == MAIN:
            hosts[strings_host(role)] = {**BASE[role], **STRINGS[role]}
        for case in cases_of(run):
            hosts[case.host] = {**base, **_substitute(case.given, workdir / "files")}
        write_run(role, hosts, workdir / run, entry)
        started[run] = start_run(workdir / run)
    return {run: RoleRun(*results(process)) for run, process in started.items()}
