"""Run a role's validation phase against localhost for many inputs at once, and read what each input got.

Every case is one inventory host (ansible_connection=local) carrying its variables as host vars, so one
ansible-playbook run checks a whole role: each host fails, or passes, on its own. The run is always --check and
limited to the tasks tagged `always` (the role's argument_specs validation and tasks/validate.yml), so nothing on
the controller can change.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
# A tag no task carries: only tasks tagged `always` run (validation), nothing that installs or configures.
ONLY_ALWAYS = "validation-only-nonexistent-tag"
ARGSPEC = "argument_specs"
ARGSPEC_ACTION = "ansible.builtin.validate_argument_spec"
POSITIVE = "defaults"
MAIN = "main"


@dataclass
class HostResult:
    """What one inventory host (one case) got from the run."""

    tasks: list[tuple[str, str, str]] = field(default_factory=list)  # (task name, path, action) of each task run
    failure: dict[str, Any] | None = None  # result of the failed task
    failed_task: tuple[str, str, str] | None = None
    stats: dict[str, int] = field(default_factory=dict)

    def messages(self) -> list[str]:
        """The messages of the failure: one per failed loop item, or the task's own."""
        if self.failure is None:
            return []
        items = [item for item in self.failure.get("results", []) if item.get("failed")]
        return [str(item.get("msg", "")) for item in items] or [str(self.failure.get("msg", ""))]

    def rule_keys(self) -> list[tuple[str, str]]:
        """Which rules failed, keyed like rules_of() keys them."""
        if self.failure is None or self.failed_task is None:
            return []
        name, _, action = self.failed_task
        if action == ARGSPEC_ACTION:
            errors = self.failure.get("argument_errors") or [self.failure.get("msg", "")]
            named = {_argspec_variable(str(error)) for error in errors}
            # An element that is no mapping also gets a bare "dictionary requested" line beside the one naming it.
            named = {name for name in named if not name.startswith("dictionary requested")} or named
            return sorted((ARGSPEC, name) for name in named)
        if "results" in self.failure:
            return [
                (name, _item_key(index, item.get("item")))
                for index, item in enumerate(self.failure["results"])
                if item.get("failed")
            ]
        return [(name, str(self.failure.get("assertion", "")))]


@dataclass
class RoleRun:
    """One role's run: each host's result, and everything ansible-playbook printed."""

    hosts: dict[str, HostResult]
    output: str


def positive_host(role: str) -> str:
    """The host that gets only the role's defaults (and the inputs it requires)."""
    return f"{role.removeprefix('websocket_')}-{POSITIVE}"


def run_name(role: str, entry: str) -> str:
    """One validation run per role and argument_specs entry point: "websocket_app", "websocket_app:rollback"."""
    return role if entry == MAIN else f"{role}:{entry}"


def _specs(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def entry_points(role: str) -> list[str]:
    """The role's argument_specs entry points, main first."""
    return sorted(_specs(role), key=lambda entry: (entry != MAIN, entry))


def options_of(role: str, entry: str = MAIN) -> dict[str, dict[str, Any]]:
    return _specs(role)[entry]["options"]


def _item_key(index: int, item: Any) -> str:
    """A rule of a data-driven assert is its id; of a literal loop, its position."""
    return str(item["id"]) if isinstance(item, dict) and "id" in item else f"item {index}"


def _argspec_variable(error: str) -> str:
    # Suboptions: "missing required arguments: x found in <option>", "<option>.<key>. Supported parameters ...".
    match = re.search(
        r"argument '([^']+)'|value of (\S+) must|option '([^']+)'|found in (\S+)$|^(\w+)\.\w+\. Supported", error
    )
    return next((group for group in match.groups() if group), error) if match else error


def _task_name(name: str) -> str:
    # "websocket_redis : Check the ports" -> "Check the ports"
    return name.split(" : ", 1)[-1]


def write_run(role: str, hosts: dict[str, dict[str, Any]], workdir: Path, entry: str = MAIN) -> None:
    """Write the inventory (one host per case: name -> host vars), playbook and config of one role's run, through
    one of its entry points (main: the role; another: import_role with tasks_from, as the playbooks call it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            },
            "hosts": hosts,
        }
    }
    (workdir / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    play: dict[str, Any] = {"name": f"Validate the inputs of {role}", "hosts": "all", "gather_facts": False}
    if entry == MAIN:
        play["roles"] = [role]
    else:
        play["tasks"] = [{"ansible.builtin.import_role": {"name": role, "tasks_from": entry}}]
    (workdir / "validate.yml").write_text(yaml.safe_dump([play], sort_keys=False))
    # Our own config: the repository's ansible.cfg would bring its inventory and output format.
    (workdir / "ansible.cfg").write_text(
        "[defaults]\n"
        f"roles_path = {ROLES}\n"
        "stdout_callback = ansible.posix.json\n"
        "forks = 8\n"
        "retry_files_enabled = false\n"
        "interpreter_python = auto_silent\n"
    )


def start_run(workdir: Path) -> subprocess.Popen[str]:
    """Start the run written by write_run(): --check, validation tasks only; read it with results().

    Started by root, it runs in a private mount namespace with /proc/sys read-only, as in a container: the
    controller's kernel settings cannot change, and rules that depend on that (net.core.somaxconn) can be shown.
    """
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(workdir / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ROLES),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
    }
    playbook = Path(sys.executable).with_name("ansible-playbook")
    command = [str(playbook) if playbook.exists() else "ansible-playbook"]
    command += ["-i", "hosts.yml", "validate.yml", "--check", "--tags", ONLY_ALWAYS]
    if os.geteuid() == 0:
        read_only = 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$@"'
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", read_only, "sh", *command]
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def results(process: subprocess.Popen[str]) -> tuple[dict[str, HostResult], str]:
    """Wait for a start_run() run; its results sorted by host, and the whole output."""
    stdout, stderr = process.communicate(timeout=600)
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(
            f"ansible-playbook gave no JSON report (rc {process.returncode}):\n{stderr[-3000:]}"
        ) from error
    hosts: dict[str, HostResult] = {name: HostResult(stats=stats) for name, stats in report["stats"].items()}
    for play in report["plays"]:
        for task in play["tasks"]:
            name = _task_name(task["task"]["name"])
            path = str(task["task"].get("path") or "")
            for host, result in task["hosts"].items():
                entry = (name, path, str(result.get("action", "")))
                hosts[host].tasks.append(entry)
                if result.get("failed") and hosts[host].failure is None:
                    hosts[host].failure = result
                    hosts[host].failed_task = entry
    return hosts, stdout + stderr


_IMPORTS = ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks")


def _task_files(role: str, name: str = "validate.yml") -> list[Path]:
    """A task file of the role and, recursively, the files it imports or includes."""
    path = ROLES / role / "tasks" / name
    files = [path]
    for task in yaml.safe_load(path.read_text()) or []:
        for key in _IMPORTS:
            if key in task:
                files += _task_files(role, task[key])
    return files


def _entry_files(role: str, entry: str) -> list[Path]:
    """The task files an entry point runs under the validation-only tag: main's validate.yml (tagged `always` where
    tasks/main.yml imports it) and its imports; another entry point's imports tagged `always`, e.g. rules.yml."""
    if entry == MAIN:
        return _task_files(role)
    tasks = yaml.safe_load((ROLES / role / "tasks" / f"{entry}.yml").read_text()) or []
    return [
        path
        for task in tasks
        if "always" in task.get("tags", [])
        for key in _IMPORTS
        if key in task
        for path in _task_files(role, task[key])
    ]


def _validation_tasks(role: str, entry: str = MAIN) -> list[dict[str, Any]]:
    return [task for path in _entry_files(role, entry) for task in yaml.safe_load(path.read_text()) or []]


def _data_rules(role: str, task: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, variable) of each rule of a data-driven assert (loop over variables): the shape rules generated from
    argument_specs (every list and dict option), a range rule per variable of its `*_ranges`, every item with an
    `id` of its lists."""
    rules = []
    if "_shape" in task["loop"]:
        rules += [
            (f"{name}-shape", name) for name, spec in options_of(role).items() if spec.get("type") in ("list", "dict")
        ]
    for name, value in task.get("vars", {}).items():
        if isinstance(value, list):
            rules += [(str(item["id"]), str(item["var"])) for item in value if isinstance(item, dict) and "id" in item]
        elif name.endswith("_ranges") and isinstance(value, dict):
            rules += [(f"{variable}-range", variable) for variable in value]
    return rules


def ranges_of(role: str) -> dict[str, dict[str, Any]]:
    """The bounds of the role's numbers: the `*_ranges` table of its rules.yml."""
    tasks = yaml.safe_load((ROLES / role / "tasks" / "rules.yml").read_text()) or []
    return {
        variable: bounds
        for task in tasks
        for name, value in task.get("vars", {}).items()
        if name.endswith("_ranges")
        for variable, bounds in value.items()
    }


def rules_of(role: str, entry: str = MAIN) -> set[tuple[str, str]]:
    """Every rule an entry point's validation runs: each loop item of a looped assert (its id in a data-driven one,
    for the entry point's options only: rules.yml filters them so), each `that` otherwise."""
    options = options_of(role, entry)
    rules: set[tuple[str, str]] = set()
    for task in _validation_tasks(role, entry):
        assertion = task.get("ansible.builtin.assert")
        if assertion is None:
            continue
        if isinstance(task.get("loop"), str):
            rules.update((task["name"], rule_id) for rule_id, var in _data_rules(role, task) if var in options)
        elif "loop" in task:
            rules.update((task["name"], f"item {index}") for index in range(len(task["loop"])))
        else:
            that = assertion["that"]
            rules.update((task["name"], condition) for condition in ([that] if isinstance(that, str) else that))
    return rules


def label_of(role: str, key: tuple[str, str]) -> str:
    """A readable name for a rule key: the loop item's variable, or the rule's id or condition."""
    name, rule = key
    if name == ARGSPEC or not rule.startswith("item "):
        return rule
    task = next(task for task in _validation_tasks(role) if task.get("name") == name)
    return str(task["loop"][int(rule.split()[1])].get("var", rule))


def role_variables(role: str) -> set[str]:
    """The role's documented variables (argument_specs options of its main entry point)."""
    return set(options_of(role))


def validation_paths(role: str, entry: str = MAIN) -> tuple[Path, ...]:
    """Task files the validation phase of an entry point may run (see _entry_files)."""
    return tuple(_entry_files(role, entry))
