"""websocket_logging (websocket_app_log_format: json): JSON lines from Python's logging, written into the journal's
stream socket as systemd's own stdout stream does (here a real Unix socket in tmp_path reads what a journal would),
or to stderr without a journal."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from websocket_logging import JournalHandler, JsonFormatter, install


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, given back as it was."""
    logger = logging.getLogger()
    handlers, level = list(logger.handlers), logger.level
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)
    logging.captureWarnings(False)


class Journal:
    """A stream socket that keeps everything written to it, like journald's /run/systemd/journal/stdout."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen()
        self.streams: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            data = b""
            while chunk := connection.recv(65536):
                data += chunk
            self.streams.append(data)
            connection.close()

    def close(self) -> None:
        self.server.close()


def record(message: str, level: int = logging.INFO, args: tuple = (), exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("socketapp", level, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


def test_a_record_is_one_json_object_on_one_line() -> None:
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        failed = record("client %s: %s", logging.ERROR, args=("a1", "x\ny"), exc_info=sys.exc_info())
    line = JsonFormatter().format(failed)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "socketapp"
    assert entry["event"] == "client a1: x\ny"
    assert entry["pid"] == os.getpid()
    assert entry["worker"] is None  # outside uWSGI
    assert "RuntimeError: boom" in entry["exc"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", entry["time"])


def test_records_reach_the_journal_with_their_identifier_and_priority(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "stdout")
    try:
        handler = JournalHandler("websocket", journal.path)
        handler.setFormatter(JsonFormatter())
        handler.emit(record("worker ready"))
        handler.emit(record("queue lost", logging.WARNING))
        handler.close()
        for _ in range(100):
            if journal.streams:
                break
            threading.Event().wait(0.05)
    finally:
        journal.close()
    (stream,) = journal.streams
    lines = stream.decode().split("\n")
    # sd-journal's stream header: identifier, unit id, priority, level prefix on, no syslog, kmsg or console.
    assert lines[:7] == ["websocket", "", "6", "1", "0", "0", "0"]
    # Each line starts with its priority (<6> info, <4> warning), which the journal keeps apart from the message.
    assert [line[:4] for line in lines[7:9]] == ["<6>{", "<4>{"]
    assert [json.loads(line[3:])["event"] for line in lines[7:9]] == ["worker ready", "queue lost"]
    assert lines[9:] == [""]


def test_without_a_journal_the_root_logger_writes_json_to_stderr_at_the_role_level(
    root: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = install({"WEBSOCKET_LOG_LEVEL": "WARNING"})
    assert root.handlers == [handler]
    assert root.level == logging.WARNING
    # An app's own basicConfig() (the bundled app calls it) adds nothing: the root logger has its handler.
    logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    assert root.handlers == [handler]
    logging.getLogger("socketapp").info("not at WARNING")
    logging.getLogger("socketapp").warning("client %s gone", "a1")
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["client a1 gone"]


def test_under_systemd_the_records_go_to_the_journal_else_to_stderr(root: logging.Logger, tmp_path: Path) -> None:
    journal = Journal(tmp_path / "stdout")
    try:
        chosen = install({"JOURNAL_STREAM": "8:1234", "WEBSOCKET_LOG_IDENTIFIER": "chat"}, journal.path)
        assert isinstance(chosen, JournalHandler)
        assert chosen.identifier == "chat"
    finally:
        journal.close()
    # A journal socket that is not there: stderr still reaches whoever reads the service's output.
    assert type(install({"JOURNAL_STREAM": "8:1234"}, str(tmp_path / "missing"))) is logging.StreamHandler
    # Not started by systemd with its output in the journal.
    assert type(install({}, journal.path)) is logging.StreamHandler
