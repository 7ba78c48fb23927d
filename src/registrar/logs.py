"""Logging: one JSON object per line on standard error, for the service and uvicorn alike,
the access lines formatted and written by a thread of their own, off the request path."""

from __future__ import annotations

import logging
import logging.config
import logging.handlers
import os
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
    """Queues each record for a writer thread, which every `interval` seconds formats what has
    queued up and writes it in as few writes as it can: a request pays for its record and a put,
    not for the JSON and a write to standard error (the access line was several % of a cheap
    read's CPU), and the thread wakes on a timer, not once a record.

    Each write is at most PIPE_BUF bytes of whole lines, so lines from several workers sharing
    one pipe never interleave. `close` (logging.shutdown runs it at exit) writes what is queued
    before it returns; a record that comes later is written at once."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.05) -> None:
        self.records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        super().__init__(self.records)
        self.stream = stream or sys.stderr
        self.fd = _fileno(self.stream)
        self.interval = interval
        self.stopping = threading.Event()
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
            self.stopping.set()
            writer.join()
        super().close()

    def _write_queued(self) -> None:
        while not self.stopping.wait(self.interval):
            self._write(self._lines(self._queued()))
        self._write(self._lines(self._queued()))

    def _queued(self) -> list[logging.LogRecord]:
        records = []
        while not self.records.empty():
            records.append(self.records.get_nowait())
        return records

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
            if self.fd is None:
                self.stream.write(chunk.decode())
                self.stream.flush()
                return
            # Straight to the descriptor: the stream's buffers belong to the threads that write
            # the other lines, a line at a time.
            while chunk:
                chunk = chunk[os.write(self.fd, chunk) :]
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": "log write failed"}))


def _fileno(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (OSError, AttributeError):
        return None


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
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    # Access lines only: other lines (an enrollment's, an error's) are on stderr when the response
    # that caused them goes out, and tests and operators read them at once.
    access = {"()": background_lines, "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLines}},
        "handlers": {"stderr": handler, "access": access},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            "registrar.access": {"handlers": ["access"], "propagate": False},
            # Statements and their parameters may carry names and e-mail addresses.
            "sqlalchemy.engine": {"level": "WARNING"},
        },
    }


def configure(level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(level))
