"""The worker's session id prefix: the Nth of the role's list for worker N, or none (and no change) without one."""

from __future__ import annotations

import pytest
import websocket_sid as sid


@pytest.mark.parametrize(
    ("prefixes", "worker", "expected"),
    [
        ("0c93feb9,db9005af", 1, "0c93feb9."),
        ("0c93feb9,db9005af", 2, "db9005af."),
        ("0c93feb9,db9005af", 3, None),  # more workers than prefixes: none rather than a wrong one
        ("0c93feb9", 0, None),  # the master, or uWSGI without workers
        ("", 1, None),
    ],
)
def test_each_worker_takes_its_own_prefix(prefixes, worker, expected):
    assert sid.worker_prefix(prefixes, worker) == expected


def test_outside_uwsgi_nothing_is_patched():
    from engineio import base_server

    assert sid.PREFIX is None
    assert base_server.BaseServer.generate_id.__name__ == "generate_id"
