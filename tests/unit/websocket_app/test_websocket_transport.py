"""Unit tests of the transport's pure parts; its behaviour over real WebSockets is tested by the Molecule scenarios
(molecule/apps/tests/test_conformance.py and every scenario's clients)."""

from __future__ import annotations

import struct

import pytest
import websocket_transport as transport


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_frames_are_unmasked_single_frames_with_the_shortest_length_field(size):
    payload = b"x" * size
    data = transport.frame(payload)
    assert data[0] == 0x82  # FIN + binary
    if size < 126:
        assert data[1] == size
        header = 2
    elif size < 65536:
        assert data[1] == 126
        assert struct.unpack("!H", data[2:4])[0] == size
        header = 4
    else:
        assert data[1] == 127
        assert struct.unpack("!Q", data[2:10])[0] == size
        header = 10
    assert data[header:] == payload


def test_text_frames_carry_utf8():
    assert transport.frame("4é") == bytes((0x81, 3)) + "4é".encode()


@pytest.mark.parametrize(
    ("message", "decoded"),
    [(b"4hello", "4hello"), (b"2", "2"), (b"9hello", "9hello"), (b"\x01\x02\x03", b"\x01\x02\x03")],
)
def test_decode_tells_engineio_text_from_binary_by_the_first_byte(message, decoded):
    assert transport.decode(message) == decoded


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        ('2["message",1]', True),
        ('2/custom,["message"]', True),
        ('2456["message-with-ack",1]', True),
        ('2/custom,12["a"]', True),
        ('52-["message",{"_placeholder":true,"num":0}]', True),
        ('52-789["message-with-ack"]', True),
        ("2{}", False),
        ("2[]", False),
        ("2", False),
        ("2/custom", False),
        ('2abc["message-with-ack",1]', False),
    ],
)
def test_event_payload_must_be_a_non_empty_array(data, ok):
    assert transport.event_payload_ok(data) is ok


def test_outside_uwsgi_nothing_is_replaced():
    assert transport.INSTALLED is False
    assert transport.install() is False
