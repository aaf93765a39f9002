"""The bundle's wiring (inventory/group_vars): what one group's hosts learn from another's, without containers.

A throwaway inventory with separate hosts per group (the cluster layout) links the real group_vars; `ansible -m
debug` shows what a host ends up with.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GROUP_VARS = ROOT / "inventory" / "group_vars"


SEPARATE = {"loadbalancer": "lb1", "websocket": "app1", "redis": "redis1"}
ONE_HOST = {"loadbalancer": "app1", "websocket": "app1", "redis": "app1"}


def _inventory(
    tmp_path: Path,
    groups: dict[str, dict[str, Any]],
    hosts_vars: dict[str, dict[str, Any]] | None = None,
    hosts: dict[str, str] = SEPARATE,
) -> Path:
    """hosts.yml with one host per group (lb1, app1, redis1 unless `hosts` says otherwise), group vars per group
    (in group_vars/, or with hosts_vars in hosts.yml itself), and the bundle's wiring."""
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "websocket_redis_password": "wiring-password"},
            "children": {
                group: {"hosts": {host: None}, "vars": (hosts_vars or {}).get(group, {})}
                for group, host in hosts.items()
            },
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    group_vars = tmp_path / "group_vars"
    group_vars.mkdir()
    for wiring in GROUP_VARS.glob("*.yml"):
        text = wiring.read_text()
        extra = groups.get(wiring.stem)
        if extra:
            text += yaml.safe_dump(extra)
        (group_vars / wiring.name).write_text(text)
    for group, values in groups.items():
        if not (GROUP_VARS / f"{group}.yml").exists():
            (group_vars / f"{group}.yml").write_text(yaml.safe_dump(values))
    return tmp_path / "hosts.yml"


def value_on(host: str, variable: str, inventory: Path) -> Any:
    """What `variable` templates to on `host` of the inventory."""
    config = inventory.parent / "ansible.cfg"
    config.write_text("[defaults]\nstdout_callback = ansible.posix.json\nbin_ansible_callbacks = true\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(config), "ANSIBLE_NOCOLOR": "1"}
    ansible = Path(sys.executable).with_name("ansible")
    run = subprocess.run(
        [str(ansible), host, "-i", str(inventory), "-m", "ansible.builtin.debug", "-a", f"var={variable}"],
        cwd=inventory.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"][host]
    return result[variable]


@pytest.mark.parametrize(
    ("pings", "window"),
    [({}, 45), ({"websocket_app_ping_interval": 60, "websocket_app_ping_timeout": 30}, 90)],
    ids=["role-defaults", "set-for-the-app-hosts"],
)
def test_nginx_learns_the_app_hosts_ping_window(tmp_path: Path, pings: dict[str, int], window: int) -> None:
    """Pings set for the app hosts only reach nginx on a load balancer of its own (it cut idle sockets at 75 s)."""
    inventory = _inventory(tmp_path, {"websocket": pings})
    assert int(value_on("lb1", "websocket_nginx_ping_window", inventory)) == window


def test_an_app_directory_set_in_hosts_yml_wins_over_the_bundled_app(tmp_path: Path) -> None:
    """The bundled app is the fallback of playbooks/websocket.yml, not a wiring value: inventory/group_vars would
    outrank the user's own group vars in hosts.yml."""
    inventory = _inventory(tmp_path, {}, hosts_vars={"websocket": {"websocket_app_source_dir": "/srv/src/chat"}})
    assert value_on("app1", "websocket_app_source_dir", inventory) == "/srv/src/chat"


@pytest.mark.parametrize(
    ("app", "routes"),
    [({}, False), ({"websocket_app_module": "chat.wsgi:application"}, True)],
    ids=["bundled-app", "own-app"],
)
def test_nginx_passes_the_routes_of_your_own_app_to_it(tmp_path: Path, app: dict[str, str], routes: bool) -> None:
    """Set in hosts.yml for the app hosts, as the docs show: it reaches a load balancer of its own."""
    inventory = _inventory(tmp_path, {}, hosts_vars={"websocket": app})
    assert value_on("lb1", "websocket_nginx_app_routes", inventory) is routes


@pytest.mark.parametrize(
    ("hosts", "code_dir"), [(SEPARATE, ""), (ONE_HOST, "/srv/ws/current/app")], ids=["own-load-balancer", "one-host"]
)
def test_nginx_finds_the_live_release_only_on_an_app_host(tmp_path: Path, hosts: dict[str, str], code_dir: str) -> None:
    inventory = _inventory(tmp_path, {"websocket": {"websocket_app_root": "/srv/ws"}}, hosts=hosts)
    assert value_on(hosts["loadbalancer"], "websocket_nginx_app_code_dir", inventory) == code_dir


def test_nginx_takes_the_largest_message_size_of_the_app_hosts(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, {"websocket": {"websocket_app_max_message_size": 5000000}})
    assert int(value_on("lb1", "websocket_nginx_client_max_body_size", inventory)) == 5000000


# A fallback of the wiring: `map(attribute='x', default=v)`, `['x'] | default(v)` or `x | default(v)`.
FALLBACK = re.compile(
    r"attribute='(?P<attr>websocket_\w+)',\s*default=(?P<attr_value>[^)]+)\)"
    r"|(?P<name>websocket_\w+)'?\]?\s*\|\s*default\((?P<value>[^()]*)\)"
)


def wiring_fallbacks() -> list[tuple[str, str, Any]]:
    """Every fallback of a role option in inventory/group_vars: (file, option, value)."""
    found = []
    for path in sorted(GROUP_VARS.glob("*.yml")):
        for match in FALLBACK.finditer(path.read_text()):
            name = match["attr"] or match["name"]
            value = match["attr_value"] if match["attr"] else match["value"]
            found.append((path.name, name, yaml.safe_load(value)))
    return found


def role_default(option: str) -> Any:
    role = "_".join(option.split("_")[:2])
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()).get(option)


def test_the_fallbacks_are_found() -> None:
    names = {name for _, name, _ in wiring_fallbacks()}
    assert {"websocket_app_ping_interval", "websocket_redis_port", "websocket_app_max_message_size"} <= names


@pytest.mark.parametrize(("path", "option", "value"), wiring_fallbacks(), ids=lambda value: str(value))
def test_every_wiring_fallback_is_the_role_default(path: str, option: str, value: Any) -> None:
    """When the other host did not set it, the wiring assumes the role's default, not a copy that can drift."""
    assert value == role_default(option), f"{path}: {option} falls back to {value!r}"


def test_prometheus_learns_every_metrics_endpoint_and_the_firewall_admits_only_the_scrapers(tmp_path: Path) -> None:
    """With websocket_metrics_enabled, every host's endpoint is a target (its private address, its role's port) and
    each host's firewall admits the monitoring group's hosts to its metrics port, nobody else."""
    # In group_vars of each group: the inventory file's own group vars rank below the wiring's group_vars/all.yml.
    on = {"websocket_metrics_enabled": True, "websocket_private_address": "10.0.0.9"}
    inventory = _inventory(tmp_path, {group: on for group in ("websocket", "loadbalancer", "redis")})
    targets = value_on("lb1", "websocket_metrics_targets", inventory)
    assert {(t["service"], t["host"], t["address"], int(t["port"])) for t in targets} == {
        ("websocket", "app1", "10.0.0.9", 9290),
        ("nginx", "lb1", "10.0.0.9", 9113),
        ("redis", "redis1", "10.0.0.9", 9121),
    }
    for host, port in (("app1", 9290), ("lb1", 9113), ("redis1", 9121)):
        rules = value_on(host, "websocket_firewall_rules", inventory)
        metrics = [rule for rule in rules if rule["name"] == "Metrics"]
        assert [(rule["ports"], rule["sources"]) for rule in metrics] == [([port], [])], rules  # no monitoring group
    (tmp_path / "off").mkdir()
    off = _inventory(tmp_path / "off", {})
    assert value_on("lb1", "websocket_metrics_targets", off) == []
    assert [rule["name"] for rule in value_on("app1", "websocket_firewall_rules", off)] == []
