"""Least privilege: systemd's exposure score of the app's and Redis's units, and what their sandboxes enforce."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import uuid

import pytest

from containers import main_pid, sh, status

# systemd-analyze scores 0 (locked down) to 10 (exposed); the scenario may set the limit (provisioner.env).
EXPOSURE_MAX = float(os.environ.get("WEBSOCKET_EXPOSURE_MAX", "2.5"))
APP_USER = "websocket"
# The code and virtualenv the running master uses, whatever the release layout: see app_dirs().
CODE_DIRS = ["{code}", "{venv}/bin", "{venv}/lib"]
PRIVILEGES = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def exposure(container: str, unit: str) -> float:
    report = sh(container, "systemd-analyze", "security", "--no-pager", unit).stdout
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", report)
    assert match, report[-2000:]
    return float(match.group(1))


def app_dirs(container: str) -> dict[str, str]:
    """The code directory uWSGI runs in (the resolved cwd websocket-status reports) and the virtualenv of the unit's
    uwsgi binary (symlinks resolved)."""
    exec_start = sh(container, "systemctl", "show", "--property=ExecStart", "--value", "websocket").stdout
    binary = sh(container, "readlink", "-f", re.search(r"path=(\S+)", exec_start).group(1)).stdout.strip()
    return {"code": status(container, health=False)["cwd"], "venv": binary.rsplit("/", 2)[0]}


def proc_status(container: str, pid: int) -> dict[str, str]:
    lines = sh(container, "cat", f"/proc/{pid}/status").stdout.splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def ids(container: str, user: str) -> tuple[str, str]:
    return sh(container, "id", "-u", user).stdout.strip(), sh(container, "id", "-g", user).stdout.strip()


def in_sandbox(container: str, pid: int, *command: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command in the user and mount namespaces of a service's process: the file system as the service
    sees it, as its user (or as root, who is mapped into the namespace too)."""
    as_user = []
    if user:
        uid, gid = ids(container, user)
        as_user = [f"--setuid={uid}", f"--setgid={gid}"]
    return sh(container, "nsenter", f"--target={pid}", "--user", "--mount", *as_user, "--", *command, check=False)


def mount_options(container: str, pid: int, path: str) -> set[str]:
    """Per-mount options of the mount that holds `path` in a process's mount namespace (the last one mounted
    on the longest matching mount point)."""
    best, options = "", ""
    for line in sh(container, "cat", f"/proc/{pid}/mountinfo").stdout.splitlines():
        fields = line.split()
        point = fields[4]
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, options = point, fields[5]
    return set(options.split(","))


@functools.cache
def mount_namespaces_refused(container: str) -> str:
    """Why systemd builds no mount namespace for services in this container, or "" when it does. systemd 257
    without CAP_SYS_ADMIN (Debian 13 under podman) skips ProtectSystem= and the other mount settings of every unit
    (systemd/systemd#34565); a transient unit as the app user with the same settings tells, whatever our units say.
    """
    settings = [
        f"--property={setting}" for setting in (f"User={APP_USER}", "PrivateUsers=true", "ProtectSystem=strict")
    ]
    probe = sh(container, "systemd-run", "--wait", "--pipe", "--quiet", *settings, "touch", "/etc/.probe", check=False)
    if "Read-only file system" in probe.stderr:
        return ""
    version = sh(container, "systemctl", "--version").stdout.split("\n", 1)[0]
    return f"{version} builds no mount namespace for services here ({probe.stderr.strip()})"


@pytest.fixture
def mount_sandbox(container: str) -> None:
    if reason := mount_namespaces_refused(container):
        pytest.skip(reason)


@pytest.mark.parametrize("unit", ["websocket.service", "redis-server.service"])
def test_exposure_is_within_the_limit(container, unit):
    assert exposure(container, unit) <= EXPOSURE_MAX


def test_every_uwsgi_process_runs_unprivileged_under_seccomp(container):
    uid, _ = ids(container, APP_USER)
    pids = [main_pid(container, "websocket"), *(row["pid"] for row in status(container)["workers"])]
    assert len(pids) >= 2
    for pid in pids:
        process = proc_status(container, pid)
        assert process["Uid"].split() == [uid] * 4, pid
        assert {name: int(process[name], 16) for name in PRIVILEGES} == dict.fromkeys(PRIVILEGES, 0), pid
        assert (process["NoNewPrivs"], process["Seccomp"]) == ("1", "2"), pid


def test_redis_runs_unprivileged_under_seccomp(container):
    uid, _ = ids(container, "redis")
    process = proc_status(container, main_pid(container, "redis-server"))
    assert process["Uid"].split() == [uid] * 4
    assert {name: int(process[name], 16) for name in PRIVILEGES} == dict.fromkeys(PRIVILEGES, 0)
    assert (process["NoNewPrivs"], process["Seccomp"]) == ("1", "2")


@pytest.mark.parametrize("directory", [*CODE_DIRS, "/etc/websocket", "/etc", "/usr/lib", "/var/lib", "/dev/shm"])
@pytest.mark.usefixtures("mount_sandbox")
def test_the_app_cannot_write_outside_its_runtime_directory(container, directory):
    pid = main_pid(container, "websocket")
    probe = f"{directory.format(**app_dirs(container))}/.hardening-probe-{uuid.uuid4().hex}"
    written = in_sandbox(container, pid, "touch", probe, user=APP_USER)
    assert written.returncode != 0
    assert "Read-only file system" in written.stderr  # the sandbox refuses, not only the file modes


@pytest.mark.usefixtures("mount_sandbox")
def test_the_app_writes_its_sockets_directory_and_a_private_tmp(container):
    pid = main_pid(container, "websocket")
    name = f".hardening-probe-{uuid.uuid4().hex}"
    for directory in ("/run/websocket", "/run/websocket-sockets", "/tmp"):
        written = in_sandbox(container, pid, "touch", f"{directory}/{name}", user=APP_USER)
        assert written.returncode == 0, written.stderr
    try:
        assert sh(container, "test", "-e", f"/run/websocket/{name}", check=False).returncode == 0
        # Created in the sandbox, yet in the sockets' group: the directory's setgid bit gives it.
        assert sh(container, "stat", "-c", "%G", f"/run/websocket-sockets/{name}").stdout.strip() == "websocket-socket"
        assert sh(container, "test", "-e", f"/tmp/{name}", check=False).returncode != 0  # private /tmp
    finally:
        probes = [f"{directory}/{name}" for directory in ("/run/websocket", "/run/websocket-sockets", "/tmp")]
        in_sandbox(container, pid, "rm", "-f", *probes, user=APP_USER)


@pytest.mark.usefixtures("mount_sandbox")
def test_the_app_sees_no_home_directories(container):
    assert sh(container, "ls", "-A", "/root").stdout.strip()  # the container's /root is not empty
    listing = in_sandbox(container, main_pid(container, "websocket"), "ls", "-A", "/root")
    assert (listing.returncode, listing.stdout.strip()) == (0, ""), listing.stderr


def test_the_app_user_owns_nothing_it_runs(container):
    dirs = [directory.format(**app_dirs(container)) for directory in CODE_DIRS]
    # Root-owned and writable by root only: code, virtualenv and configuration.
    writable = ["(", "!", "-user", "root", "-o", "-perm", "/022", ")"]
    assert sh(container, "find", *dirs, "/etc/websocket", "!", "-type", "l", *writable).stdout == ""
    for directory in dirs:
        touched = sh(container, "runuser", "-u", APP_USER, "--", "touch", f"{directory}/.probe", check=False)
        assert "Permission denied" in touched.stderr
    assert sh(container, "runuser", "-u", APP_USER, "--", "ls", "/root", check=False).returncode != 0
    # The same user reads its configuration: the refusals above are about permissions, not a broken runuser.
    read = sh(container, "runuser", "-u", APP_USER, "--", "cat", "/etc/websocket/uwsgi.ini", check=False)
    assert read.returncode == 0, read.stderr


def test_the_web_server_reaches_the_worker_sockets_and_nothing_else(container):
    """nginx's user is in the sockets' group only: it connects to the worker sockets, but cannot read the app's
    config or secrets, nor connect to the stats socket. The environment file (Redis password) is root's alone."""
    assert sh(container, "stat", "-c", "%U:%G %a", "/etc/websocket/websocket.env").stdout.split() == [
        "root:root",
        "600",
    ]
    as_nginx = ["runuser", "-u", "www-data", "--", "python3", "-c"]
    connect = "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"
    assert sh(container, *as_nginx, connect, "/run/websocket-sockets/worker-1.sock", check=False).returncode == 0
    assert "Permission denied" in sh(container, *as_nginx, connect, "/run/websocket/stats.sock", check=False).stderr
    for secret in ("/etc/websocket/websocket.env", "/etc/websocket/uwsgi.ini"):
        read = sh(container, "runuser", "-u", "www-data", "--", "cat", secret, check=False)
        assert "Permission denied" in read.stderr, secret
    assert "websocket-socket" in sh(container, "id", "-nG", "www-data").stdout.split()
    assert "websocket" not in sh(container, "id", "-nG", "www-data").stdout.split()


def test_the_app_user_has_no_shell_and_no_home(container):
    entry = sh(container, "getent", "passwd", APP_USER).stdout.strip().split(":")
    assert entry[6] in {"/usr/sbin/nologin", "/bin/false"}
    assert sh(container, "test", "-e", entry[5], check=False).returncode != 0


@pytest.mark.parametrize(
    ("path", "mode"),
    [("/etc/redis", "ro"), ("/var/log/redis", "ro"), ("/usr/bin", "ro"), ("/dev/shm", "ro"), ("/run/redis", "rw")],
)
@pytest.mark.usefixtures("mount_sandbox")
def test_redis_writes_only_its_runtime_directory(container, path, mode):
    assert mode in mount_options(container, main_pid(container, "redis-server"), path)
