"""The log's writer thread: every record becomes exactly one whole line, none is lost at shutdown,
and no write is longer than a pipe writes at once (so workers sharing stderr never mix lines)."""

from __future__ import annotations

import io
import logging
import select

import orjson

from registrar.logs import BackgroundLines, JsonLines


class Writes(io.StringIO):
    """A stream that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


def handler_on(stream: Writes) -> BackgroundLines:
    handler = BackgroundLines(stream)
    handler.setFormatter(JsonLines())
    return handler


def record(n: int) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "registrar.access", "msg": "request", "request_id": f"r{n}"})


def test_close_writes_every_queued_record_as_one_line_in_order() -> None:
    stream = Writes()
    handler = handler_on(stream)
    for n in range(2000):
        handler.handle(record(n))
    handler.close()
    lines = "".join(stream.writes).splitlines()
    assert [orjson.loads(line)["request_id"] for line in lines] == [f"r{n}" for n in range(2000)]


def test_each_write_is_whole_lines_within_pipe_buf() -> None:
    stream = Writes()
    handler = handler_on(stream)
    for n in range(2000):
        handler.handle(record(n))
    handler.close()
    assert all(w.endswith("\n") and len(w.encode()) <= select.PIPE_BUF for w in stream.writes)


def test_a_record_after_close_is_written_at_once() -> None:
    stream = Writes()
    handler = handler_on(stream)
    handler.close()
    handler.handle(record(1))
    assert orjson.loads(stream.writes[-1])["request_id"] == "r1"
