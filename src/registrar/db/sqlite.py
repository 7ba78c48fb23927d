"""SQLite through the stdlib sqlite3 module, called inline on the event loop.

A statement on a local WAL file takes microseconds, far less than a hop to a thread pool would,
so each worker keeps two connections and runs statements on them directly: one for transactions
(one at a time, under an asyncio lock) and one for single-statement reads, which WAL lets go on
while any process writes. Writers in other processes are serialised by SQLite's write lock; a
worker waits for it by polling between event-loop turns, never inside SQLite's busy handler,
which would stall every other request of the worker (reads and /healthz included) until it gave
up. Past REGISTRAR_DB_TIMEOUT the request gets a 503.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from registrar.config import Settings
from registrar.db.core import (
    Dialect,
    EngineTransaction,
    OnConnect,
    OnMessage,
    PoolUsage,
    Row,
    Sql,
    TransactionScopes,
    UniqueViolation,
)
from registrar.problems import ServiceUnavailable

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
FIRST_PAUSE, LONGEST_PAUSE = 0.001, 0.05  # seconds between tries for the write lock


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


def connect_writer(path: Path) -> sqlite3.Connection:
    """The connection for transactions: it never waits inside SQLite (busy timeout 0), since
    `SqliteDatabase` does its waiting for the write lock on the event loop."""
    return connect(path, timeout=0)


def connect_reader(path: Path, timeout: float) -> sqlite3.Connection:
    """The connection for single-statement reads. Under WAL a reader does not wait for writers;
    the busy timeout only covers the rare moment another process recovers the WAL index."""
    conn = connect(path, timeout)
    conn.execute("PRAGMA query_only=ON")
    return conn


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY


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


class SqliteTransaction(EngineTransaction):
    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
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


class SqliteDatabase(TransactionScopes[SqliteTransaction]):
    dialect: Dialect = "sqlite"
    pushes_notifications = False

    def __init__(self, writer: sqlite3.Connection, reader: sqlite3.Connection, timeout: float) -> None:
        super().__init__()
        self._writer = writer
        self._reader = reader
        self._timeout = timeout
        self._one_transaction_at_a_time = asyncio.Lock()

    @classmethod
    async def open(cls, settings: Settings) -> SqliteDatabase:
        path = settings.sqlite_path
        try:
            return cls(connect_writer(path), connect_reader(path, settings.db_timeout), settings.db_timeout)
        except sqlite3.OperationalError as exc:
            raise ServiceUnavailable() from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[SqliteTransaction]:
        if (outer := self._current.get()) is not None:
            yield outer
            return
        yield SqliteTransaction(self._reader)

    async def _begin(self) -> SqliteTransaction:
        await self._one_transaction_at_a_time.acquire()
        try:
            await self._take_write_lock()
        except BaseException:
            self._one_transaction_at_a_time.release()
            raise
        return SqliteTransaction(self._writer)

    async def _take_write_lock(self) -> None:
        """BEGIN IMMEDIATE, tried again with growing pauses while another process writes, so the
        event loop keeps serving meanwhile; a 503 once REGISTRAR_DB_TIMEOUT has passed."""
        deadline = time.monotonic() + self._timeout
        pause = FIRST_PAUSE
        while True:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                left = deadline - time.monotonic()
                if not _is_busy(exc) or left <= 0:
                    raise ServiceUnavailable() from exc
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, LONGEST_PAUSE)

    async def _commit(self, tx: SqliteTransaction) -> None:
        try:
            with translated_errors():
                self._writer.execute("COMMIT")
        except BaseException:
            await self._rollback(tx)
            raise

    async def _rollback(self, tx: SqliteTransaction) -> None:
        if self._writer.in_transaction:
            self._writer.execute("ROLLBACK")

    async def _end(self, tx: SqliteTransaction) -> None:
        self._one_transaction_at_a_time.release()

    @asynccontextmanager
    async def _savepoint(self, tx: SqliteTransaction) -> AsyncIterator[None]:
        self._writer.execute("SAVEPOINT nested")
        try:
            yield
        except BaseException:
            self._writer.execute("ROLLBACK TO nested")
            self._writer.execute("RELEASE nested")
            raise
        self._writer.execute("RELEASE nested")

    async def listen(
        self,
        channel: str,
        on_message: OnMessage,
        on_connect: OnConnect,
        stop: asyncio.Event,
    ) -> None:
        """SQLite has no notifications: callers read what they need instead."""

    def usage(self) -> PoolUsage:
        """No pool: the worker holds its two connections for its whole life. The writer counts as
        in use while a transaction has it (or waits for the write lock); reads run inline and
        hold the reader only within one event-loop step, so it never shows as in use."""
        return PoolUsage(held=2, in_use=int(self._one_transaction_at_a_time.locked()), limit=2)

    async def close(self) -> None:
        self._writer.close()
        self._reader.close()
