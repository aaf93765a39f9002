"""websocket_hash: the code part of every release id. Its output for the same files must never change (a new id is a
new release, and every host restarts on its next deploy): the golden value below was computed by the script the
role ran before it moved to files/ (vars/main.yml's __websocket_app_hash_script at commit 83eb325)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from websocket_hash import tree_hash

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "roles/websocket_app/files/websocket_hash.py"
FILES = {
    "requirements.txt": b"flask==3.0.0\n",
    "pkg/b.py": b"x = 1\n",
    "a.py": b"print('a')\n",
    "\u00e9.txt": "\u00fc".encode(),
    "pkg/__init__.py": b"",
}
GOLDEN = "5427b11c58be0be2c6e464d75a7f87f593a04c4a03572f83a89814e5608b0094"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel, content in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(content)
    return tmp_path


def test_the_hash_of_a_fixed_tree_is_the_one_release_ids_always_had(tree: Path) -> None:
    assert tree_hash(str(tree), FILES) == GOLDEN


def test_the_order_of_the_arguments_does_not_matter_but_every_byte_and_name_does(tree: Path) -> None:
    assert tree_hash(str(tree), sorted(FILES, reverse=True)) == GOLDEN
    (tree / "a.py").write_bytes(b"print('b')\n")
    assert tree_hash(str(tree), FILES) != GOLDEN
    (tree / "a.py").write_bytes(FILES["a.py"])
    (tree / "a.py").rename(tree / "c.py")
    assert tree_hash(str(tree), [name.replace("a.py", "c.py") for name in FILES]) != GOLDEN


def role_hash_script(where: Path) -> str:
    """__websocket_app_hash_script as a task of the role sees it: a copy of the role gets one more task file that
    writes the variable out (role_path and the file lookup resolve only inside the role)."""
    role = where / "roles/websocket_app"
    shutil.copytree(ROOT / "roles/websocket_app", role)
    task = {
        "name": "Write the script",
        "ansible.builtin.copy": {
            "content": "{{ __websocket_app_hash_script }}",
            "dest": str(where / "script.py"),
            "mode": "0644",
        },
    }
    (role / "tasks/write_hash_script.yml").write_text(yaml.safe_dump([task]))
    run_it = {
        "name": "Run it",
        "ansible.builtin.import_role": {"name": "websocket_app", "tasks_from": "write_hash_script"},
    }
    play = [{"name": "Show it", "hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [run_it]}]
    (where / "play.yml").write_text(yaml.safe_dump(play))
    ran = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}", "play.yml"],
        cwd=where,
        env={**os.environ, "ANSIBLE_ROLES_PATH": str(where / "roles")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return (where / "script.py").read_text()


def test_the_role_runs_this_file_as_python_c_with_the_same_output(
    tree: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    script = role_hash_script(tmp_path_factory.mktemp("role"))
    assert script.strip() == SCRIPT.read_text().strip()
    # The role runs `python -c <text> <directory> <files>` (tasks/validate.yml): the same output as the file.
    for command in ([sys.executable, "-c", script], [sys.executable, str(SCRIPT)]):
        ran = subprocess.run([*command, str(tree), *FILES], capture_output=True, text=True, check=True)
        assert ran.stdout == GOLDEN + "\n"
