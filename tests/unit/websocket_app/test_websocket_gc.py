"""websocket_gc: imported by every uWSGI worker before the app; sets the collector's thresholds at once and freezes
what the app's import built on the gevent hub's first callbacks."""

from __future__ import annotations

import gc
import hashlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest

MODULE = Path(__file__).resolve().parents[3] / "roles/websocket_app/files/opt/websocket/lib/websocket_gc.py"
# sha256 of the file the role deployed before it moved from templates/ to files/ (the template rendered with
# ansible-core's default ansible_managed). Any other content restarts every worker of every host on the next
# deploy: change it on purpose only, and this value with it.
DEPLOYED = "120f642e0c071ef5ea729403daff66105eaeb22739b669a5143f25a9f6efd263"


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_file_is_byte_for_byte_the_one_hosts_run() -> None:
    content = MODULE.read_bytes()
    assert content.startswith(b"#\n# Ansible managed\n#\n")
    assert hashlib.sha256(content).hexdigest() == DEPLOYED


@pytest.mark.usefixtures("collector")
def test_thresholds_at_import_and_the_freeze_after_the_hubs_first_callbacks() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    sys.modules.pop("websocket_gc", None)
    importlib.import_module("websocket_gc")
    assert gc.get_threshold() == (10_000, 10, 10)
    assert gc.get_freeze_count() == 0  # the app has not loaded yet
    gevent.sleep(0)  # the hub runs its callbacks
    assert gc.get_freeze_count() > 0
