"""Logging: one JSON object per line on standard error, for the service and uvicorn alike."""

from __future__ import annotations

import logging
import logging.config
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

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


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for the service and uvicorn; uvicorn's own access log stays off (registrar
    writes its own, without query strings)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
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
