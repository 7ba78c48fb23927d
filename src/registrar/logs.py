"""Logging: one JSON object per line on standard error, for the service and uvicorn alike,
formatted and written by a thread of their own, off the request path."""

from __future__ import annotations

import logging
import logging.config
import logging.handlers
import queue
import select
import sys
import threading
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

import orjson

# Attributes every LogRecord has; anything else was passed with `extra=` and belongs in the line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[1] is not None:
            line["traceback"] = where(record.exc_info[1])
        return orjson.dumps(line, default=str).decode()


def where(exc: BaseException) -> str:
    """An exception's traceback, and those of its causes, with each exception's type but not its
    message: a database error's message can quote row values (an e-mail, a name), and no log line
    may hold those. The frames and types say where it failed, which is what an operator needs."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(
            _frames(current.__traceback__) + f"{type(current).__module__}.{type(current).__qualname__}"
        )
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\nwhich came from:\n".join(parts)


def _frames(tb: TracebackType | None) -> str:
    return "Traceback (most recent call last):\n" + "".join(traceback.format_tb(tb))


class BackgroundLines(logging.handlers.QueueHandler):
    """Hands each record to a writer thread, which formats what has queued up and writes it in
    as few writes as it can: a request pays for its record and a put, not for the JSON and a
    write to standard error (the access line was several % of a cheap read's CPU).

    Each write is at most PIPE_BUF bytes of whole lines, so lines from several workers sharing
    one pipe never interleave. `close` (logging.shutdown runs it at exit) writes what is queued
    before it returns; a record that comes later is written at once."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        super().__init__(self.records)
        self.stream = stream or sys.stderr
        self.writer: threading.Thread | None = threading.Thread(
            target=self._write_queued, name="registrar-log-writer", daemon=True
        )
        self.writer.start()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record  # formatted by the writer thread

    def emit(self, record: logging.LogRecord) -> None:
        # Handler.handle holds self.lock here, as close does when it stops the writer.
        if self.writer is None:
            self._write(self._lines([record]))
        else:
            self.enqueue(record)

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            writer, self.writer = self.writer, None
            if writer is not None:
                self.records.put(None)
        if writer is not None:
            writer.join()
        super().close()

    def _write_queued(self) -> None:
        while True:
            records = [self.records.get()]
            while not self.records.empty():
                records.append(self.records.get_nowait())
            self._write(self._lines(r for r in records if r is not None))
            if records[-1] is None:
                return

    def _lines(self, records: Iterable[logging.LogRecord]) -> list[bytes]:
        lines = []
        for record in records:
            try:
                lines.append(self.format(record).encode() + b"\n")
            except Exception:
                self.handleError(record)
        return lines

    def _write(self, lines: list[bytes]) -> None:
        chunk = b""
        for line in lines:
            if chunk and len(chunk) + len(line) > select.PIPE_BUF:
                self._write_chunk(chunk)
                chunk = b""
            chunk += line
        if chunk:
            self._write_chunk(chunk)

    def _write_chunk(self, chunk: bytes) -> None:
        try:
            self.stream.write(chunk.decode())
            self.stream.flush()
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": "log write failed"}))


def background_lines(stream: TextIO | None = None) -> BackgroundLines:
    """The handler of `logging_config`. Its lines hold none of what a record otherwise looks up
    each time it is made (the caller's file and line, the thread's and process's names), so the
    records of this process skip those look-ups (the logging HOWTO's "Optimization")."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    return BackgroundLines(stream)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for the service and uvicorn; uvicorn's own access log stays off (registrar
    writes its own, without query strings)."""
    handler = {"()": background_lines, "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLines}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            # Statements and their parameters may carry names and e-mail addresses.
            "sqlalchemy.engine": {"level": "WARNING"},
        },
    }


def configure(level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(level))
