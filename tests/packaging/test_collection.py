"""The roles as an Ansible collection: `make collection` builds it, it installs, and a project that only has the
installed collection can read the roles' documentation, parse the collection's site playbook and run a role."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FQCN = "websocket_bundle.flask_socketio"
ROLES = ("websocket_app", "websocket_firewall", "websocket_nginx", "websocket_redis")
# Runs only the tasks tagged `always` (argument_specs and validate.yml), in check mode: nothing changes.
ONLY_VALIDATION = ["--check", "--tags", "validation-only-nonexistent-tag"]


@pytest.fixture(scope="module")
def tarball() -> Path:
    subprocess.run(["make", "-s", "collection"], cwd=ROOT, check=True, capture_output=True)
    version = yaml.safe_load((ROOT / "templates/collection/galaxy.yml").read_text())["version"]
    return ROOT / ".cache" / f"websocket_bundle-flask_socketio-{version}.tar.gz"


@pytest.fixture(scope="module")
def project(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with nothing but the installed collection (no roles/ beside it to fall back on)."""
    where = tmp_path_factory.mktemp("project")
    subprocess.run(
        ["ansible-galaxy", "collection", "install", "-p", str(where / "collections"), str(tarball)],
        check=True,
        capture_output=True,
    )
    return where


def ansible(project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(project / "collections"), "ANSIBLE_NOCOLOR": "1"}
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)


def test_the_tarball_holds_roles_playbooks_and_app_but_no_tests_or_secrets(tarball: Path) -> None:
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    for role in ROLES:
        assert f"roles/{role}/meta/argument_specs.yml" in names
    assert {"playbooks/site.yml", "playbooks/rollback.yml", "meta/runtime.yml", "app/socketapp/wsgi.py"} <= names
    # The fleet status and the templates it prints with.
    assert {"playbooks/status.yml", "playbooks/templates/status.txt.j2", "playbooks/templates/status.json.j2"} <= names
    assert "roles/websocket_nginx/vars/Debian-13.yml" in names
    assert "roles/websocket_nginx/files/www/index.html" in names
    unwanted = [
        n for n in names if n.startswith(("molecule", "bench", "inventory")) or "tests" in n.split("/") or "/." in n
    ]
    assert not unwanted


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_shows_every_documented_variable(project: Path, role: str) -> None:
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    documented = specs["argument_specs"]["main"]["options"]
    shown = ansible(project, "ansible-doc", "-t", "role", f"{FQCN}.{role}")
    assert shown.returncode == 0, shown.stderr
    missing = [name for name in documented if name not in shown.stdout]
    assert not missing


def test_the_collection_site_playbook_resolves_its_playbooks_and_roles(project: Path) -> None:
    parsed = ansible(project, "ansible-playbook", f"{FQCN}.site", "-i", str(ROOT / "inventory"), "--syntax-check")
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr


def write_play(project: Path, role: str, variables: dict[str, object]) -> Path:
    play = [
        {
            "name": "Use a role from the installed collection",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "roles": [{"role": f"{FQCN}.{role}", "vars": variables}],
        }
    ]
    path = project / f"{role}.yml"
    path.write_text(yaml.safe_dump(play))
    return path


def test_a_role_from_the_collection_accepts_its_defaults_and_the_shipped_app(project: Path) -> None:
    app = project / "collections/ansible_collections/websocket_bundle/flask_socketio/app"
    play = write_play(project, "websocket_app", {"websocket_app_source_dir": str(app)})
    run = ansible(project, "ansible-playbook", str(play), *ONLY_VALIDATION)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "failed=0" in run.stdout


def test_a_role_from_the_collection_asks_for_the_app_to_deploy(project: Path) -> None:
    run = ansible(project, "ansible-playbook", str(write_play(project, "websocket_app", {})), *ONLY_VALIDATION)
    assert run.returncode != 0
    assert re.search(r"websocket_app_source_dir\s+must\s+be\s+a\s+directory", run.stdout)


def test_a_role_from_the_collection_refuses_bad_input_by_name(project: Path) -> None:
    play = write_play(project, "websocket_app", {"websocket_app_socket_type": "carrier-pigeon"})
    run = ansible(project, "ansible-playbook", str(play), *ONLY_VALIDATION)
    assert run.returncode != 0
    assert "websocket_app_socket_type" in run.stdout
    assert "carrier-pigeon" in run.stdout
