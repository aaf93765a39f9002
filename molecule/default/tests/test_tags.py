"""Tags per phase: `--tags config` re-renders configuration without the install phase."""

from __future__ import annotations

from containers import playbook, sh
from testlib import clients

MARK = "; edited by hand, the play must put it back"


def test_tags_config_rerenders_configs_without_reinstalling(url, container):
    sh(container, "sh", "-c", f"echo '{MARK}' >> /etc/websocket/uwsgi.ini")
    done = playbook("site.yml", "--tags", "config")
    assert done.rc == 0, done.output[-5000:]
    assert MARK not in sh(container, "cat", "/etc/websocket/uwsgi.ini").stdout
    assert "Render uwsgi.ini" in done.output
    for install_task in ("Install the pinned requirements", "Install the build dependencies", "Build the release"):
        assert install_task not in done.output
    with clients(url) as (client,):
        assert client.echo("after --tags config") == "after --tags config"
