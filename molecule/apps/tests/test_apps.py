"""Bring your own app: the fixture app tally (not the bundled example) deployed by variables, as releases.

The tests run in file order and build on each other, like an operator's day: the converged directory release, an
unchanged redeploy, a deploy from git, a broken release, a release that fails at run time, two rollbacks, a package
deploy that prunes old releases.
"""

from __future__ import annotations

import hashlib
import json
import queue
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest
from appslib import FIXTURES, ROOT, about, history, live_release

from containers import playbook, sh
from faultlib import worker_pids
from testlib import WAIT, Client, clients, http_get, http_request

# The directory release molecule converged; later tests roll back to it.
state: dict[str, str] = {}
CSS = FIXTURES / "tally" / "tally" / "static" / "tally.css"


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=tests", "-c", "user.email=tests@example.invalid", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_fixture_events_work_over_websocket_through_nginx(url):
    with clients(url, 2) as (first, second):
        assert first.sio.transport() == "websocket"
        assert first.sio.call("add", 1234567, timeout=WAIT) == {"total": 1234567, "pretty": "1,234,567"}
        assert first.sio.call("add", 1, timeout=WAIT)["pretty"] == "1,234,568"  # humanize: the extra requirement
        shouted: queue.Queue[dict[str, str]] = queue.Queue()
        second.sio.on("shouted", shouted.put)
        room = str(uuid.uuid4())
        assert first.sio.call("join", room, timeout=WAIT) is True
        assert second.sio.call("join", room, timeout=WAIT) is True
        first.sio.emit("shout", {"room": room, "text": "hi there"})
        assert shouted.get(timeout=WAIT) == {"room": room, "text": "HI THERE"}
    assert about(url)["async_mode"] == "gevent_uwsgi"


def test_settings_secret_and_config_file_reach_the_app(url):
    info = about(url)
    assert info["release"] == "1"
    assert info["greeting"] == "hello from the config file"
    # The secret has spaces, quotes, $ and backticks: it must reach the app byte for byte.
    secret = 's3cret with spaces, "quotes", $dollar and `ticks`'
    assert info["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()


def test_socketio_options_from_variables_reach_the_app(url):
    status, body = http_get(f"{url}/socket.io/?EIO=4&transport=polling")
    assert status == 200
    handshake = json.loads(body[1:])
    assert (handshake["pingInterval"], handshake["maxPayload"]) == (7000, 50000)


def test_the_apps_own_page_and_rest_routes_reach_it_through_nginx(url):
    page = http_request(f"{url}/")
    assert page.status == 200
    assert "<h1>tally 1</h1>" in page.body, page.body[:300]  # the app's page, not the bundled client page
    # The app's own header wins; nginx adds its defaults for the ones the app does not set.
    assert page.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"]
    assert page.headers.get_all("X-Content-Type-Options") == ["nosniff"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    # `sid` is the app's own parameter on its routes: nginx's Socket.IO routing by session id (which answers an
    # unknown session prefix with 400) does not apply.
    api = http_request(f"{url}/api/totals?sid=not-a-session")
    assert api.status == 200, api.body[:300]
    body = json.loads(api.body)
    assert (body["release"], body["sid"]) == ("1", "not-a-session")
    assert api.headers.get_all("X-Frame-Options") == ["DENY"]


def test_app_routes_take_their_own_body_size_not_the_socketio_message_size(url):
    # Socket.IO bodies are capped at 50,000 bytes here (websocket_app_max_message_size); the app's routes take
    # websocket_nginx_app_client_max_body_size (1 MiB by default).
    headers = {"Content-Type": "application/octet-stream"}
    upload = http_request(f"{url}/api/upload", method="POST", data=b"x" * 200_000, headers=headers)
    assert upload.status == 200, upload.body[:300]
    assert json.loads(upload.body) == {"received": 200_000}
    too_big = http_request(f"{url}/api/upload", method="POST", data=b"x" * 2_000_000, headers=headers)
    assert too_big.status == 413


def test_static_files_come_from_nginx_out_of_the_live_release(url):
    # /assets/ is no route of the app (Flask's own static route is /static/): a 200 there is nginx's.
    css = http_request(f"{url}/assets/tally.css")
    assert (css.status, css.body) == (200, CSS.read_text())
    assert css.headers["Content-Type"].startswith("text/css")
    assert css.headers.get_all("X-Content-Type-Options") == ["nosniff"]
    missing = http_request(f"{url}/assets/missing.css")
    assert missing.status == 404
    assert "<center>nginx</center>" in missing.body  # nginx's own answer: the request never reached the app


def test_release_holds_only_the_named_code_and_its_own_settings(container):
    release = live_release(container)
    state["directory"] = release
    assert history(container) == [release]
    files = sh(container, "find", f"{ROOT}/releases/{release}/app", "-type", "f", "-printf", "%P\n").stdout.split()
    assert sorted(files) == [
        "pyproject.toml",
        "requirements.txt",
        "tally/__init__.py",
        "tally/options.py",
        "tally/server.py",
        "tally/static/tally.css",
    ]
    ini = sh(container, "cat", f"{ROOT}/releases/{release}/uwsgi.ini").stdout
    assert "module = tally.server:application" in ini
    meta = sh(container, "cat", f"{ROOT}/releases/{release}/RELEASE").stdout
    # The app's pins plus the server requirements the role adds (the fixture pins neither uWSGI nor gevent).
    assert "  - humanize==4.17.0" in meta
    assert "  - uWSGI==2.0.31" in meta
    assert sh(container, "readlink", f"{ROOT}/app").stdout.strip() == f"{ROOT}/current/app"
    assert "/etc/websocket/uwsgi.ini" in sh(container, "systemctl", "show", "-p", "ExecStart", "websocket").stdout


def test_unchanged_deploy_from_a_tree_with_git_caches_and_secrets_changes_nothing(container, tmp_path):
    tree = tmp_path / "tally"
    shutil.copytree(FIXTURES / "tally", tree)
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "work in progress")
    (tree / ".env").write_text("TALLY_SECRET=do-not-ship\n")
    (tree / "instance").mkdir()
    (tree / "instance" / "local.cfg").write_text("SECRET_KEY = 'do-not-ship'\n")
    (tree / "tally" / "__pycache__").mkdir()
    (tree / "tally" / "__pycache__" / "server.cpython-311.pyc").write_bytes(b"\0cache")
    (tree / "tests").mkdir()
    (tree / "tests" / "test_tally.py").write_text("def test_nothing():\n    pass\n")
    pids = worker_pids(container)
    run = playbook("playbooks/websocket.yml", "-e", f"websocket_app_source_dir={tree}")
    assert run.rc == 0, run.output[-3000:]
    assert run.recap(container)["changed"] == 0
    assert live_release(container) == state["directory"]
    assert worker_pids(container) == pids  # no restart
    listing = sh(
        container, "find", f"{ROOT}/releases", "-name", ".env", "-o", "-name", "instance", "-o", "-name", ".git"
    )
    assert listing.stdout == ""


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (["websocket_app_source=git"], "git needs websocket_app_git_repo"),
        (['{"websocket_app_extra_requirements": ["humanize>=4"]}'], "not pinned: ['humanize>=4']"),
        (["websocket_app_keep_releases=1"], "websocket_app_keep_releases must be at least 2"),
        (['{"websocket_app_environment": {"BAD-NAME": "x"}}'], "offending names: ['BAD-NAME']"),
    ],
)
def test_bad_input_fails_before_any_change_naming_the_variable(container, variables, message):
    live = live_release(container)
    pids = worker_pids(container)
    run = playbook("playbooks/websocket.yml", *[arg for variable in variables for arg in ("-e", variable)])
    assert run.rc != 0
    assert message in run.output
    assert run.recap(container)["changed"] == 0
    assert live_release(container) == live
    assert worker_pids(container) == pids


def test_check_mode_reports_a_new_release_and_changes_nothing(container, tmp_path):
    tree = tmp_path / "tally"
    shutil.copytree(FIXTURES / "tally", tree)
    init = tree / "tally" / "__init__.py"
    init.write_text(init.read_text().replace('RELEASE = "1"', 'RELEASE = "1-checked"'))
    releases = sh(container, "ls", f"{ROOT}/releases").stdout
    pids = worker_pids(container)
    run = playbook("playbooks/websocket.yml", "--check", "-e", f"websocket_app_source_dir={tree}")
    assert run.rc == 0, run.output[-3000:]
    assert run.recap(container)["changed"] > 0
    assert sh(container, "ls", f"{ROOT}/releases").stdout == releases
    assert live_release(container) == state["directory"]
    assert worker_pids(container) == pids


def test_secrets_never_show_in_the_play_output(url, container):
    secret = f"rotated-{uuid.uuid4()}"
    run = playbook("playbooks/websocket.yml", "--diff", "-v", "-e", f"tally_secret={secret}")
    assert run.rc == 0, run.output[-3000:]
    assert run.recap(container)["changed"] > 0  # the environment file changed and the service restarted
    assert secret not in run.output
    assert about(url)["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert live_release(container) == state["directory"]  # settings are not code: same release


def test_deploy_from_a_git_repository(url, container, tmp_path):
    # A repository with the app in service/, version 2 tagged v2 and one more pinned requirement (a new virtualenv).
    work = tmp_path / "work"
    shutil.copytree(FIXTURES / "tally", work / "service")
    (work / "README.md").write_text("tally service\n")
    init = work / "service" / "tally" / "__init__.py"
    init.write_text(init.read_text().replace('RELEASE = "1"', 'RELEASE = "2-git"'))
    requirements = work / "service" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "text-unidecode==1.3\n")
    (work / "service" / "tally" / "static" / "tally.css").write_text("/* tally 2-git */\n")
    git(work, "init", "-q")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "tally 2")
    git(work, "tag", "v2")
    commit = git(work, "rev-parse", "HEAD")
    git(tmp_path, "clone", "-q", "--bare", str(work), "tally.git")
    sh(container, "rm", "-rf", "/srv/git")
    sh(container, "mkdir", "-p", "/srv/git")
    subprocess.run(["podman", "cp", str(tmp_path / "tally.git"), f"{container}:/srv/git/tally.git"], check=True)
    sh(container, "chown", "-R", "root:root", "/srv/git")
    source = [
        "-e",
        "websocket_app_source=git",
        "-e",
        "websocket_app_git_repo=file:///srv/git/tally.git",
        "-e",
        "websocket_app_git_version=v2",
        "-e",
        "websocket_app_git_subdir=service",
    ]

    run = playbook("playbooks/websocket.yml", *source)
    assert run.rc == 0, run.output[-3000:]
    release = live_release(container)
    state["git"] = release
    assert release.startswith(commit[:12])
    assert about(url)["release"] == "2-git"
    assert http_request(f"{url}/assets/tally.css").body == "/* tally 2-git */\n"  # static files switch with it
    assert history(container) == [release, state["directory"]]
    files = sh(container, "find", f"{ROOT}/releases/{release}/app", "-printf", "%P\n").stdout.split()
    assert "tally/server.py" in files
    assert not [name for name in files if name.startswith(".git") or name == "README.md"]
    assert "  - text-unidecode==1.3" in sh(container, "cat", f"{ROOT}/releases/{release}/RELEASE").stdout

    pids = worker_pids(container)
    again = playbook("playbooks/websocket.yml", *source)
    assert again.rc == 0, again.output[-3000:]
    assert again.recap(container)["changed"] == 0
    checked = playbook("playbooks/websocket.yml", "--check", *source)
    assert checked.rc == 0, checked.output[-3000:]
    assert checked.recap(container)["changed"] == 0
    assert worker_pids(container) == pids


def test_broken_release_fails_the_play_and_the_live_release_keeps_serving(url, container):
    live = live_release(container)
    pids = worker_pids(container)
    client = Client(url).connect()
    try:
        assert client.sio.call("add", 2, timeout=WAIT)["total"] == 2
        run = playbook("playbooks/websocket.yml", "-e", f"websocket_app_source_dir={FIXTURES / 'tally-broken'}")
        assert run.rc != 0
        assert "ModuleNotFoundError: No module named 'tally.scoring'" in run.output
        assert "Nothing went live and nothing was restarted" in run.folded
        assert live_release(container) == live
        assert worker_pids(container) == pids
        # The same connection, never dropped, still gets answers from the live release.
        assert client.sio.call("add", 3, timeout=WAIT)["total"] == 5
        assert len(client.connected_at) == 1
    finally:
        client.close()
    assert about(url)["release"] == "2-git"


def test_python_socketio_before_5_14_is_refused_and_nothing_goes_live(url, container):
    live, pids = live_release(container), worker_pids(container)
    extra = json.dumps({"websocket_app_extra_requirements": ["python-socketio==5.13.0"]})
    run = playbook("playbooks/websocket.yml", "-e", extra)
    output = run.folded
    assert run.rc != 0
    assert "python-socketio 5.13.0" in output, output[-3000:]
    assert "CVE-2025-61765" in output
    assert (live_release(container), worker_pids(container)) == (live, pids)


def test_a_release_that_fails_at_run_time_is_rolled_back_by_the_deploy(url, container):
    live, before = live_release(container), history(container)
    run = playbook("playbooks/websocket.yml", "-e", f"websocket_app_source_dir={FIXTURES / 'tally-faulty'}")
    output = run.folded
    assert run.rc != 0
    # It loaded (the config check passed) and went live, then failed its health check: the play put the release it
    # replaced back, restarted on it, and says which release failed, what the workers answered, and what is live.
    assert "is not healthy on websocket-apps" in output, output[-3000:]
    assert "answered /socket.io/?EIO=4&transport=polling with 500" in output
    assert f"it was rolled back to release {live}, which answers again" in output
    assert live_release(container) == live
    assert history(container) == before, "the failed release stayed in the history"
    assert about(url)["release"] == "2-git"


def test_rollback_serves_the_previous_release(url, container):
    client = Client(url).connect()
    try:
        run = playbook("playbooks/rollback.yml")
        assert run.rc == 0, run.output[-3000:]
        assert live_release(container) == state["directory"]
        # The release rolled back from leaves the history: a second rollback would go further back.
        assert history(container) == [state["directory"]]
        assert client.connects.get(timeout=30) == "websocket"  # reconnected after the restart
    finally:
        client.close()
    info = about(url)
    assert info["release"] == "1"
    assert info["greeting"] == "hello from the config file"
    assert http_request(f"{url}/assets/tally.css").body == CSS.read_text()  # the static files rolled back too


def test_rollback_without_an_earlier_release_fails_and_changes_nothing(url, container):
    pids = worker_pids(container)
    run = playbook("playbooks/rollback.yml")
    assert run.rc != 0
    assert "No release to roll back to" in run.output
    assert live_release(container) == state["directory"]
    assert worker_pids(container) == pids


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        # The config file no longer parses: the app raises while it loads.
        ({"tally_greeting": 'unterminated "quote'}, "TOMLDecodeError"),
        # A readable file, but under /home, which the unit's sandbox hides (ProtectHome): only a start under the
        # unit's own sandbox shows that the app cannot read it.
        (
            {"websocket_app_environment": {"TALLY_SECRET": "s", "TALLY_CONFIG": "/home/tally.toml"}},
            "Permission denied: '/home/tally.toml'",
        ),
    ],
    ids=["config-file-does-not-parse", "env-points-where-the-sandbox-hides"],
)
def test_settings_the_service_cannot_start_from_never_go_live_and_every_run_checks_again(
    url, container, settings, error
):
    sh(container, "cp", "/etc/websocket/tally.toml", "/home/tally.toml")
    sh(container, "chmod", "0644", "/home/tally.toml")
    live = {name: sh(container, "cat", f"/etc/websocket/{name}").stdout for name in ("tally.toml", "websocket.env")}
    greeting, pids = about(url)["greeting"], worker_pids(container)
    # Twice with the same inputs: the second run finds the staged files unchanged and checks them again.
    for _ in range(2):
        run = playbook("playbooks/websocket.yml", "-e", json.dumps(settings))
        assert run.rc != 0
        assert "The service does not start from the staged files" in run.folded, run.output[-3000:]
        assert error in run.output
        assert "Nothing went live and nothing was restarted" in run.folded
        assert {name: sh(container, "cat", f"/etc/websocket/{name}").stdout for name in live} == live
        assert worker_pids(container) == pids
    assert about(url)["greeting"] == greeting


def test_live_files_newer_than_the_running_service_get_a_restart(url, container):
    # As a run leaves them that ended between making files live and its restart (e.g. the connection dropped).
    pids = worker_pids(container)
    sh(container, "touch", "/etc/websocket/tally.toml")
    run = playbook("playbooks/websocket.yml")
    assert run.rc == 0, run.output[-3000:]
    assert "started before its files last changed" in run.folded
    assert set(worker_pids(container).values()).isdisjoint(pids.values())
    assert about(url)["release"] == "1"


@pytest.fixture
def sdist(tmp_path: Path) -> Path:
    """An sdist of tally 3.0, as `python -m build --sdist` would make it."""
    archive = tmp_path / "tally-3.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted((FIXTURES / "tally").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                relative = path.relative_to(FIXTURES / "tally")
                data = path.read_text()
                if relative.as_posix() == "tally/__init__.py":
                    data = data.replace('RELEASE = "1"', 'RELEASE = "3-sdist"')
                if relative.name == "pyproject.toml":
                    data = data.replace('version = "1.0"', 'version = "3.0"')
                staged = tmp_path / "staged" / relative
                staged.parent.mkdir(parents=True, exist_ok=True)
                staged.write_text(data)
                tar.add(staged, arcname=f"tally-3.0/{relative.as_posix()}")
        info = tmp_path / "PKG-INFO"
        info.write_text("Metadata-Version: 2.1\nName: tally\nVersion: 3.0\n")
        tar.add(info, arcname="tally-3.0/PKG-INFO")
    return archive


def test_deploy_from_a_package_and_prune_old_releases(url, container, sdist):
    run = playbook(
        "playbooks/websocket.yml",
        "-e",
        "websocket_app_source=package",
        "-e",
        f"websocket_app_package={sdist}",
        "-e",
        f"websocket_app_requirements_file={FIXTURES / 'tally' / 'requirements.txt'}",
        "-e",
        "websocket_app_keep_releases=2",
    )
    assert run.rc == 0, run.output[-3000:]
    assert about(url)["release"] == "3-sdist"
    release = live_release(container)
    assert history(container) == [release, state["directory"]]
    # Kept: the live release and the one before it. Gone: the git release (left by the rollback), the broken one
    # (never live) and the git release's virtualenv (no kept release uses it).
    kept = sh(container, "ls", f"{ROOT}/releases").stdout.split()
    assert sorted(kept) == sorted([release, state["directory"]])
    venvs = sh(container, "ls", f"{ROOT}/venvs").stdout.split()
    used = {
        sh(container, "readlink", f"{ROOT}/releases/{name}/venv").stdout.strip().rsplit("/", 1)[-1] for name in kept
    }
    assert sorted(venvs) == sorted(used)
    assert "source: package tally-3.0.tar.gz" in sh(container, "cat", f"{ROOT}/current/RELEASE").stdout
