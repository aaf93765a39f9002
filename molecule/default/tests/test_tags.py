"""Tags per phase: `--tags config` re-renders configuration without the install phase."""

from __future__ import annotations

from testlib import INVENTORY, clients, playbook, sh

MARK = "; edited by hand, the play must put it back"


def test_tags_config_rerenders_configs_without_reinstalling(url, container):
    sh(container, "sh", "-c", f"echo '{MARK}' >> /etc/websocket/uwsgi.ini")
    done = playbook("site.yml", "-i", str(INVENTORY), "--tags", "config")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert MARK not in sh(container, "cat", "/etc/websocket/uwsgi.ini").stdout
    assert "Render uwsgi.ini" in done.stdout
    for install_task in ("Install the pinned requirements", "Install the build dependencies", "Build the release"):
        assert install_task not in done.stdout
    with clients(url) as (client,):
        assert client.echo("after --tags config") == "after --tags config"
