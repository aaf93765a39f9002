"""Controllers with nothing but ansible-core: one virtualenv per supported ansible-core minor, kept under .cache
while its inputs (the requirement and the Python that runs it) are unchanged."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import yaml


def _minor(text: str) -> tuple[int, int]:
    major, minor = re.match(r"(\d+)\.(\d+)", text).groups()  # type: ignore[union-attr]
    return int(major), int(minor)


def supported_minors(runtime: Path) -> list[str]:
    """Every ansible-core minor from the collection's floor (meta/runtime.yml `requires_ansible: >=X.Y...`) up to the
    one the pinned toolchain runs (requirements-dev.txt's `ansible`): the newest that runs on this controller's
    Python, since the next minor wants a newer one."""
    requires = yaml.safe_load(runtime.read_text())["requires_ansible"]
    floor = re.fullmatch(r">=\s*(\d+\.\d+)(\.\d+)?", requires.split(",")[0].strip())
    if not floor:
        raise ValueError(f"{runtime}: requires_ansible {requires!r} does not start with >=X.Y")
    low, high = _minor(floor.group(1)), _minor(version("ansible-core"))
    return [f"{low[0]}.{minor}" for minor in range(low[1], high[1] + 1)] if low[0] == high[0] else []


def controller(minor: str, cache: Path) -> Path:
    """The virtualenv (its directory) with the newest ansible-core `minor` from the package index and nothing else."""
    venv = cache / f"ansible-core-{minor}"
    requirement = f"ansible-core=={minor}.*"
    stamp = f"{requirement} python {sys.version_info.major}.{sys.version_info.minor}\n"
    marker = venv / ".installed"
    if marker.exists() and marker.read_text() == stamp and (venv / "bin/ansible-playbook").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", requirement], check=True, capture_output=True, text=True, timeout=900
    )
    marker.write_text(stamp)
    return venv
