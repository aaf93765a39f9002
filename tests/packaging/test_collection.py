"""The roles as an Ansible collection: `make collection` builds it; ansible-core alone (no `ansible` package)
installs it with the collections it declares, offline (no Galaxy server: the ranges resolve against the artifacts
given, or the install fails); a project that only has the installed collection can read the roles' documentation,
parse the collection's site playbook and run a role. test_deploy.py deploys with it on every supported minor."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from artifacts import installed
from conftest import FQCN, MINORS, ROOT, Project, requirements

ROLES = ("websocket_app", "websocket_firewall", "websocket_nginx", "websocket_redis")
# Runs only the tasks tagged `always` (argument_specs and validate.yml), in check mode: nothing changes.
ONLY_VALIDATION = ["--check", "--tags", "validation-only-nonexistent-tag"]
# A plugin's FQCN as tasks and lookups spell it: namespace.collection.plugin.
PLUGIN = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b")
SHIPPED = ("roles", "playbooks", "templates/collection")


@pytest.fixture(scope="module")
def project(projects: Callable[[str], Project]) -> Project:
    """The oldest supported ansible-core's project (test_deploy.py runs every supported minor)."""
    return projects(MINORS[0])


def manifest(tarball: Path) -> dict:
    with tarfile.open(tarball) as archive:
        return json.load(archive.extractfile("MANIFEST.json"))  # type: ignore[arg-type]


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


def test_the_collection_depends_on_what_requirements_yml_lists(tarball: Path) -> None:
    declared = manifest(tarball)["collection_info"]["dependencies"]
    wanted = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    assert declared == {entry["name"]: entry["version"] for entry in wanted}


def test_every_collection_the_roles_and_playbooks_use_is_declared() -> None:
    """A plugin of a collection outside ansible-core (any the pinned `ansible` package has) needs a dependency."""
    used: dict[str, set[str]] = {}
    for top in SHIPPED:
        for path in (ROOT / top).rglob("*"):
            if path.suffix in {".yml", ".yaml", ".j2"} and path.is_file():
                for namespace, name in PLUGIN.findall(path.read_text()):
                    if installed(f"{namespace}.{name}").is_dir():
                        used.setdefault(f"{namespace}.{name}", set()).add(str(path.relative_to(ROOT)))
    assert {"ansible.posix", "community.crypto", "community.general"} <= set(used)  # the finder finds
    undeclared = {fqcn: sorted(paths) for fqcn, paths in used.items() if fqcn not in requirements()}
    assert not undeclared


def test_the_supported_ansible_core_range_is_the_same_in_the_collection_and_every_role() -> None:
    requires = yaml.safe_load((ROOT / "templates/collection/meta/runtime.yml").read_text())["requires_ansible"]
    for role in ROLES:
        meta = yaml.safe_load((ROOT / "roles" / role / "meta/main.yml").read_text())
        assert requires.startswith(f">={meta['galaxy_info']['min_ansible_version']}."), role
    assert MINORS[0] == requires.removeprefix(">=").rsplit(".", 1)[0]


def test_the_dependencies_resolve_only_from_the_artifacts_given(
    tarball: Path, dependencies: list[Path], controllers: Callable[[str], Path], tmp_path: Path
) -> None:
    """Offline, a dependency without its artifact fails the install; so does a declared range the artifact misses:
    the install of the real ranges (every project fixture) is a resolution, not a copy."""
    floor = controllers(MINORS[0])
    missing = Project(tmp_path / "missing", floor).install(tarball, *dependencies[1:])
    assert missing.returncode != 0
    assert requirements()[0] in missing.stdout + missing.stderr

    # The same collection asking for the next major of one dependency.
    source = tmp_path / "source"
    shutil.copytree(ROOT / ".cache/collection", source)
    galaxy = yaml.safe_load((source / "galaxy.yml").read_text())
    name = requirements()[-1]
    major = int(json.loads((installed(name) / "MANIFEST.json").read_text())["collection_info"]["version"].split(".")[0])
    galaxy["dependencies"][name] = f">={major + 1}.0.0"
    (source / "galaxy.yml").write_text(yaml.safe_dump(galaxy))
    built = Project(tmp_path, floor).run("ansible-galaxy", "collection", "build", "--output-path", "wrong", str(source))
    assert built.returncode == 0, built.stdout + built.stderr
    wrong = Project(tmp_path / "wrong-range", floor).install(next((tmp_path / "wrong").glob("*.tar.gz")), *dependencies)
    assert wrong.returncode != 0
    assert f"{name}:>={major + 1}.0.0" in wrong.stdout + wrong.stderr


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_shows_every_documented_variable(project: Project, role: str) -> None:
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
    documented = specs["argument_specs"]["main"]["options"]
    shown = project.run("ansible-doc", "-t", "role", f"{FQCN}.{role}")
    assert shown.returncode == 0, shown.stderr
    missing = [name for name in documented if name not in shown.stdout]
    assert not missing


def test_the_collection_site_playbook_resolves_its_playbooks_and_roles(project: Project) -> None:
    parsed = project.run("ansible-playbook", f"{FQCN}.site", "-i", str(ROOT / "inventory"), "--syntax-check")
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr


def write_play(project: Project, role: str, variables: dict[str, object]) -> Path:
    play = [
        {
            "name": "Use a role from the installed collection",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "roles": [{"role": f"{FQCN}.{role}", "vars": variables}],
        }
    ]
    path = project.path / f"{role}.yml"
    path.write_text(yaml.safe_dump(play))
    return path


def test_a_role_from_the_collection_accepts_its_defaults_and_the_shipped_app(project: Project) -> None:
    app = project.path / "collections/ansible_collections/websocket_bundle/flask_socketio/app"
    play = write_play(project, "websocket_app", {"websocket_app_source_dir": str(app)})
    run = project.run("ansible-playbook", str(play), *ONLY_VALIDATION)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "failed=0" in run.stdout


def test_a_role_from_the_collection_asks_for_the_app_to_deploy(project: Project) -> None:
    run = project.run("ansible-playbook", str(write_play(project, "websocket_app", {})), *ONLY_VALIDATION)
    assert run.returncode != 0
    assert re.search(r"websocket_app_source_dir\s+must\s+be\s+a\s+directory", run.stdout)


def test_a_role_from_the_collection_refuses_bad_input_by_name(project: Project) -> None:
    play = write_play(project, "websocket_app", {"websocket_app_socket_type": "carrier-pigeon"})
    run = project.run("ansible-playbook", str(play), *ONLY_VALIDATION)
    assert run.returncode != 0
    assert "websocket_app_socket_type" in run.stdout
    assert "carrier-pigeon" in run.stdout
