"""A real deploy with the installed collection, as a project that has nothing but ansible-core and the collections
the bundle declares would run it: the collection's site playbook over SSH against a systemd container, nginx with
TLS (community.crypto reads the pair on the controller), the app's sysctl (ansible.posix) and source tree
(community.general). The oldest supported ansible-core deploys; every newer minor deploys again and must change
nothing. The service answers a real Socket.IO client over WebSocket through nginx after each."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import yaml
from conftest import FQCN, MINORS, ROOT, Project

from pki import self_signed
from testlib import clients

NAME = "websocket-packaging"
IMAGE = "localhost/websocket-bookworm"


def podman_settings() -> dict[str, str]:
    """The environment with this machine's podman settings, as Molecule gets them: runs outside make need them too."""
    check = subprocess.run([ROOT / "molecule/shared/podman-env.sh", "--check"], capture_output=True, text=True)
    if check.returncode:
        pytest.fail(check.stderr)
    return {**os.environ, "CONTAINERS_CONF": check.stdout.strip()}


def podman(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["podman", *args], input=stdin, env=podman_settings(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """The container, reachable over SSH as root with a throwaway key; removed after the module."""
    keys = tmp_path_factory.mktemp("ssh")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "id")], check=True)
    subprocess.run(["podman", "rm", "-f", NAME], capture_output=True, check=False)
    started = subprocess.run(
        [ROOT / "molecule/shared/run-container.sh", NAME, IMAGE, "-v", f"{ROOT / '.cache/pip'}:/root/.cache/pip"],
        env=podman_settings(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert started.returncode == 0, started.stderr
    try:
        podman("exec", NAME, "sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
               "apt-get install -y -qq --no-install-recommends openssh-server >/dev/null")  # fmt: skip
        authorize = "install -d -m 700 /root/.ssh && cat > /root/.ssh/authorized_keys"
        podman("exec", "-i", NAME, "sh", "-c", authorize, stdin=(keys / "id.pub").read_text())
        address = podman("inspect", "-f", "{{.NetworkSettings.IPAddress}}", NAME)
        yield {"address": address, "key": keys / "id", "deployed": False}
    finally:
        subprocess.run(["podman", "rm", "-f", NAME], capture_output=True, check=False)


@pytest.fixture(scope="module")
def inventory(host: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's single-host layout over SSH, one for every minor: the bundle's wiring (inventory/group_vars,
    copied as the docs say; the Redis password it generates lands beside it) and the host's own values, TLS with a
    pair made for its address."""
    where = tmp_path_factory.mktemp("inventory")
    shutil.copytree(ROOT / "inventory/group_vars", where / "group_vars")
    self_signed(where / "site.crt", where / "site.key", names=(NAME,), ips=(str(host["address"]),))
    hosts = {"hosts": {NAME: None}}
    groups = {"websocket": hosts, "loadbalancer": hosts, "redis": hosts}
    (where / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": groups}}))
    (where / "host_vars").mkdir()
    (where / "host_vars" / f"{NAME}.yml").write_text(
        yaml.safe_dump(
            {
                "ansible_host": host["address"],
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(host["key"]),
                "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null",
                "ansible_python_interpreter": "/usr/bin/python3",
                # pip inside the host trusts the controller's CAs (TLS-inspecting proxies).
                "websocket_app_pip_ca_bundle": "/etc/ssl/certs/ca-certificates.crt",
                "websocket_nginx_tls_enabled": True,
                "websocket_nginx_tls_certificate_src": str(where / "site.crt"),
                "websocket_nginx_tls_certificate_key_src": str(where / "site.key"),
            }
        )
    )
    return where


def recap(output: str) -> dict[str, int]:
    line = next(line for line in output.splitlines() if line.startswith(NAME) and "ok=" in line)
    return {key: int(value) for key, value in (field.split("=") for field in line.split(":", 1)[1].split())}


@pytest.mark.parametrize("minor", MINORS)
def test_the_collection_deploys_with_ansible_core_alone(
    minor: str, projects: Callable[[str], Project], host: dict[str, object], inventory: Path
) -> None:
    project = projects(minor)
    assert not list(project.venv.glob("lib/python*/site-packages/ansible_collections/*"))  # ansible-core alone
    deploy = project.run("ansible-playbook", f"{FQCN}.site", "-i", str(inventory), timeout=1800)
    assert deploy.returncode == 0, deploy.stdout[-6000:] + deploy.stderr
    counts = recap(deploy.stdout)
    assert counts["failed"] == 0
    if host["deployed"]:
        assert counts["changed"] == 0, deploy.stdout[-6000:]
    host["deployed"] = True

    site = f"https://{host['address']}"
    health = requests.get(f"{site}/healthz", verify=str(inventory / "site.crt"), timeout=10)
    assert health.status_code == 200, health.text
    with clients(site) as (client,):
        assert client.echo(f"ansible-core {minor}") == f"ansible-core {minor}"
