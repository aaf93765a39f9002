"""The files the roles render, compared with goldens: a change of any rendered byte shows here, without a container.

Each inventory (the sandbox, the cluster example, the seed's values, every switch flipped, Redis Sentinel) runs
render.yml on fake local hosts through the bundle's own wiring (inventory/group_vars). The goldens in golden/ are
regenerated only on purpose: RENDER_UPDATE_GOLDEN=1 python -m pytest tests/render, then review their diff.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ROLES = ("websocket_app", "websocket_nginx", "websocket_redis", "websocket_firewall")
INVENTORIES = {
    "sandbox": ROOT / "inventory" / "hosts.yml",
    "cluster": ROOT / "inventory" / "examples" / "cluster" / "hosts.yml",
    "seed": ROOT / "bench" / "inventory" / "hosts.yml",
    "switches": HERE / "inventories" / "tls" / "hosts.yml",
    "sentinel": HERE / "inventories" / "sentinel" / "hosts.yml",
    # Beside the switches' inventory, for its link to the bundle's wiring.
    "own-app": HERE / "inventories" / "tls" / "own-app.yml",
}
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("RENDER_UPDATE_GOLDEN") == "1"


def templates_of(role: str) -> list[str]:
    base = ROOT / "roles" / role / "templates"
    return sorted(str(path.relative_to(base)) for path in base.rglob("*") if path.is_file())


def build_roles(roles_dir: Path) -> None:
    """Each role's defaults, vars and templates (links to the real ones), with render_tasks.yml as its tasks."""
    for role in ROLES:
        role_dir = roles_dir / role
        (role_dir / "tasks").mkdir(parents=True)
        for part in ("defaults", "vars", "templates"):
            (role_dir / part).symlink_to(ROOT / "roles" / role / part)
        (role_dir / "tasks" / "render.yml").symlink_to(HERE / "render_tasks.yml")


def start_render(inventory: Path, workdir: Path) -> subprocess.Popen[str]:
    """Start render.yml on the inventory's hosts, into workdir/out/<host>/<role>/<file>."""
    roles_dir = workdir / "roles"
    build_roles(roles_dir)
    extra = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        # The wiring generates one into the inventory directory otherwise.
        "websocket_redis_password": "render-password",
        "websocket_redis_metrics_password": "render-metrics-password",
        "websocket_redis_replication_password": "render-replication-password",
        "render_repo": str(ROOT),
        "render_out": str(workdir / "out"),
        "render_templates": {role: templates_of(role) for role in ROLES},
    }
    (workdir / "extra.json").write_text(json.dumps(extra))
    # Our own config: the repository's ansible.cfg brings its inventory and roles.
    (workdir / "ansible.cfg").write_text(
        f"[defaults]\nroles_path = {roles_dir}\nforks = 4\nretry_files_enabled = false\n"
        "interpreter_python = auto_silent\n"
    )
    playbook = Path(sys.executable).with_name("ansible-playbook")
    env = {**os.environ, "ANSIBLE_CONFIG": str(workdir / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.Popen(
        [str(playbook), "-i", str(inventory), str(HERE / "render.yml"), "-e", f"@{workdir / 'extra.json'}"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _files(directory: Path) -> dict[str, bytes]:
    paths = sorted(path for path in directory.rglob("*") if path.is_file())
    return {str(path.relative_to(directory)): path.read_bytes() for path in paths}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """Every inventory's rendered files (relative path -> bytes), the runs side by side."""
    workdirs = {name: tmp_path_factory.mktemp(name) for name in INVENTORIES}
    started = {name: start_render(inventory, workdirs[name]) for name, inventory in INVENTORIES.items()}
    results = {}
    for name, process in started.items():
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, f"{name}: render.yml failed:\n{output[-5000:]}"
        results[name] = _files(workdirs[name] / "out")
    return results


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_rendered_files_match_the_goldens(name: str, rendered: dict[str, dict[str, bytes]]) -> None:
    files = rendered[name]
    golden_dir = GOLDEN / name
    if UPDATE:
        shutil.rmtree(golden_dir, ignore_errors=True)
        for relative, content in files.items():
            (golden_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            (golden_dir / relative).write_bytes(content)
    golden = _files(golden_dir)
    assert sorted(files) == sorted(golden), "the rendered files are not the golden ones"
    diffs = [
        "".join(
            difflib.unified_diff(
                golden[relative].decode().splitlines(keepends=True),
                files[relative].decode().splitlines(keepends=True),
                f"golden/{name}/{relative}",
                f"rendered/{relative}",
            )
        )
        for relative in sorted(files)
        if files[relative] != golden[relative]
    ]
    assert not diffs, "\n".join(diffs)


def test_every_template_has_a_golden() -> None:
    """A template no inventory renders would escape the comparison."""
    covered = {path.relative_to(GOLDEN).parts[2:] for path in GOLDEN.rglob("*") if path.is_file()}
    for role in ROLES:
        for template in templates_of(role):
            expected = (role, *Path(template.removesuffix(".j2")).parts)
            assert expected in covered, f"roles/{role}/templates/{template} has no golden"
