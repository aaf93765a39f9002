"""Tags per phase: `--tags config` re-renders configuration without the install phase."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from testlib import clients, sh

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
INVENTORY = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "inventory"
MARK = "; edited by hand, the play must put it back"


def test_tags_config_rerenders_configs_without_reinstalling(url, container):
    sh(container, "sh", "-c", f"echo '{MARK}' >> /etc/websocket/uwsgi.ini")
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    done = subprocess.run(
        ["ansible-playbook", "site.yml", "-i", str(INVENTORY), "--tags", "config"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert MARK not in sh(container, "cat", "/etc/websocket/uwsgi.ini").stdout
    assert "Render uwsgi.ini" in done.stdout
    for install_task in ("Install the pinned requirements", "Install the build dependencies", "Build the release"):
        assert install_task not in done.stdout
    with clients(url) as (client,):
        assert client.echo("after --tags config") == "after --tags config"
