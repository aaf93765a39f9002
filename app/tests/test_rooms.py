"""The room index must give the same answers as python-socketio's own manager, minus the full scans."""

from __future__ import annotations

import socketio

from socketapp.rooms import IndexedManager

NS = "/"


def connected(manager: socketio.Manager, count: int) -> list[str]:
    return [manager.connect(f"eio-{n}", NS) for n in range(count)]


def shape(manager: socketio.Manager) -> dict[str, list[str]]:
    """Room table and each client's rooms with the random sids replaced by their Engine.IO sids."""
    eio = dict(manager.rooms[NS][None])
    table = {f"room {eio.get(room, room)}": sorted(members.values()) for room, members in manager.rooms[NS].items()}
    rooms = {f"rooms of {eio[sid]}": sorted(eio.get(r, r) for r in manager.get_rooms(sid, NS)) for sid in eio}
    return table | rooms


def test_rooms_match_the_upstream_manager():
    ours, theirs = IndexedManager(), socketio.Manager()
    for manager in (ours, theirs):
        manager.set_server(socketio.Server())
        a, b, c = connected(manager, 3)
        manager.enter_room(a, NS, "lobby")
        manager.enter_room(b, NS, "lobby")
        manager.enter_room(b, NS, "game")
        manager.leave_room(b, NS, "lobby")
        manager.disconnect(c, NS)
    assert ours.get_rooms("unknown", NS) == []
    assert shape(ours) == shape(theirs)
    assert shape(ours)["rooms of eio-1"] == ["eio-1", "game"]


def test_disconnect_leaves_every_room_and_forgets_the_client():
    manager = IndexedManager()
    manager.set_server(socketio.Server())
    a, b = connected(manager, 2)
    manager.enter_room(a, NS, "lobby")
    manager.enter_room(b, NS, "lobby")
    manager.disconnect(a, NS)
    assert [sid for sid, _ in manager.get_participants(NS, "lobby")] == [b]
    assert (NS, a) not in manager.sid_rooms
    assert a not in manager.rooms[NS][None]
    manager.disconnect(b, NS)
    assert NS not in manager.rooms
    assert manager.sid_rooms == {}
