"""SQLite through the stdlib sqlite3 module, called inline on the event loop.

A statement on a local WAL file takes microseconds, far less than a hop to a thread pool would,
so each worker keeps one connection and runs statements directly. An asyncio lock keeps one
transaction at a time on that connection; writers in other processes are serialised by SQLite
itself (BEGIN IMMEDIATE, waiting up to the busy timeout, after which the request gets a 503).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from registrar.config import Settings
from registrar.db.core import Dialect, OnConnect, OnMessage, Row, Sql, UniqueViolation
from registrar.problems import ServiceUnavailable

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_sqlite(value: Any) -> Any:
    """Parameters as SQLite stores them: id lists as JSON (read back with json_each), times as
    RFC 3339 text in UTC, which sorts as it reads."""
    if isinstance(value, list | tuple):
        return orjson.dumps(value).decode()
    if isinstance(value, datetime):
        return value.strftime(TIMESTAMP_FORMAT)
    return value


def connect(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=timeout, isolation_level=None, check_same_thread=False, cached_statements=256
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextmanager
def translated_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" in str(exc):
            raise UniqueViolation(str(exc).rsplit(":", 1)[-1].strip()) from None
        raise
    except sqlite3.OperationalError as exc:
        # "database is locked" after the busy timeout, or the file gone: not the caller's fault.
        raise ServiceUnavailable() from exc


class SqliteTransaction:
    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def as_read_back(self, moment: datetime) -> Any:
        return to_sqlite(moment)

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]:
        with translated_errors():
            return self._conn.execute(sql.sqlite, [to_sqlite(a) for a in args]).fetchall()

    async def fetchrow(self, sql: Sql, *args: Any) -> Row | None:
        with translated_errors():
            row: Row | None = self._conn.execute(sql.sqlite, [to_sqlite(a) for a in args]).fetchone()
            return row

    async def fetchval(self, sql: Sql, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: Sql, *args: Any) -> None:
        with translated_errors():
            self._conn.execute(sql.sqlite, [to_sqlite(a) for a in args])

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(columns))
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        with translated_errors():
            self._conn.executemany(statement, ([to_sqlite(v) for v in row] for row in rows))


class SqliteDatabase:
    dialect: Dialect = "sqlite"
    pushes_notifications = False

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._current: ContextVar[SqliteTransaction | None] = ContextVar("sqlite_transaction", default=None)

    @classmethod
    async def open(cls, settings: Settings) -> SqliteDatabase:
        try:
            return cls(connect(settings.sqlite_path, settings.db_timeout))
        except sqlite3.OperationalError as exc:
            raise ServiceUnavailable() from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[SqliteTransaction]:
        if (outer := self._current.get()) is not None:
            yield outer
            return
        async with self._lock:
            yield SqliteTransaction(self._conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTransaction]:
        if (outer := self._current.get()) is not None:
            # Inside an idempotent request's transaction: a savepoint (see PostgresDatabase).
            async with self._savepoint():
                yield outer
            return
        async with self._lock:
            with translated_errors():
                self._conn.execute("BEGIN IMMEDIATE")
            tx = SqliteTransaction(self._conn)
            token = self._current.set(tx)
            try:
                yield tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._current.reset(token)
            try:
                with translated_errors():
                    self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        self._conn.execute("SAVEPOINT nested")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO nested")
            self._conn.execute("RELEASE nested")
            raise
        self._conn.execute("RELEASE nested")

    async def listen(
        self,
        channel: str,
        on_message: OnMessage,
        on_connect: OnConnect,
        stop: asyncio.Event,
    ) -> None:
        """SQLite has no notifications: callers read what they need instead."""

    async def close(self) -> None:
        self._conn.close()
