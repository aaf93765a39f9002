"""The built collection, the artifacts of the collections it depends on, and projects where only ansible-core (one
virtualenv per supported minor) installed them, offline: Galaxy is not asked, so the declared ranges must resolve
against the artifacts given."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from artifacts import artifact, installed
from controllers import controller, supported_minors

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "packaging"
FQCN = "websocket_bundle.flask_socketio"
MINORS = supported_minors(ROOT / "templates/collection/meta/runtime.yml")


def requirements() -> list[str]:
    """The collections requirements.yml names (the collection's dependencies)."""
    return [entry["name"] for entry in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]]


@dataclass(frozen=True)
class Project:
    """A directory whose collections/ ansible-core from `venv` installed."""

    path: Path
    venv: Path

    def run(self, *command: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        """A command of the controller in the project: its collections and nothing of this checkout (no ansible.cfg,
        roles path or environment of the bundle's own toolchain)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "MOLECULE_"))}
        env.update(
            PATH=f"{self.venv / 'bin'}:{env['PATH']}",
            ANSIBLE_COLLECTIONS_PATH=str(self.path / "collections"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_HOST_KEY_CHECKING="False",
        )
        command = (str(self.venv / "bin" / command[0]), *command[1:])
        self.path.mkdir(parents=True, exist_ok=True)
        return subprocess.run(command, cwd=self.path, env=env, capture_output=True, text=True, timeout=timeout)

    def install(self, *artifacts: Path) -> subprocess.CompletedProcess[str]:
        """`ansible-galaxy collection install --offline` of the artifacts into collections/: no Galaxy server."""
        return self.run(
            "ansible-galaxy", "collection", "install", "--offline", "-p", "collections", *map(str, artifacts)
        )


@pytest.fixture(scope="session")
def tarball() -> Path:
    subprocess.run(["make", "-s", "collection"], cwd=ROOT, check=True, capture_output=True)
    version = yaml.safe_load((ROOT / "templates/collection/galaxy.yml").read_text())["version"]
    return ROOT / ".cache" / f"websocket_bundle-flask_socketio-{version}.tar.gz"


@pytest.fixture(scope="session")
def dependencies() -> list[Path]:
    """An artifact of each collection requirements.yml names, from the pinned `ansible` package."""
    return [artifact(installed(name), CACHE / "artifacts") for name in requirements()]


@pytest.fixture(scope="session")
def controllers() -> Callable[[str], Path]:
    return lambda minor: controller(minor, CACHE)


@pytest.fixture(scope="session")
def projects(
    tarball: Path,
    dependencies: list[Path],
    controllers: Callable[[str], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], Project]:
    """A project per ansible-core minor with nothing but the collection and its dependencies, installed by that
    minor's ansible-galaxy."""
    made: dict[str, Project] = {}

    def project(minor: str) -> Project:
        if minor not in made:
            made[minor] = Project(tmp_path_factory.mktemp(f"project-{minor}"), controllers(minor))
            installed = made[minor].install(tarball, *dependencies)
            assert installed.returncode == 0, installed.stdout + installed.stderr
        return made[minor]

    return project
