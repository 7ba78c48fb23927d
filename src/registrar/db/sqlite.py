"""SQLite through the stdlib sqlite3 module, called inline on the event loop.

A statement on a local WAL file takes microseconds, far less than a hop to a thread pool would,
so each worker keeps two connections and runs statements on them directly: one for transactions
(one at a time, under an asyncio lock) and one for single-statement reads, which WAL lets go on
while any process writes. Writers in other processes are serialised by SQLite's write lock; a
worker waits for it by polling between event-loop turns, never inside SQLite's busy handler,
which would stall every other request of the worker (reads and /healthz included) until it gave
up. Past REGISTRAR_DB_TIMEOUT the request gets a 503.

Copying the write-ahead log back into the database file (a checkpoint) is not left to the commit
that happens to fill the log, as SQLite does by default: that commit would hold up the whole
event loop for the copy and its fsyncs, which cost more than the writes themselves (a W2
transaction's statements alone: 625 us of wall time, 275 without checkpoints; bench/README.md).
A thread of each worker does it (`Checkpointer`), off the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
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
# Seconds between tries for the write lock. Another worker holds it for a transaction's few hundred
# microseconds and then takes it again for its next request: a waiter that slept for milliseconds
# lost most rounds, and its requests waited while its core idled (W2 on SQLite served 17 % more
# with these pauses than with 1-10 ms, at the same CPU per request; bench/README.md). A failed try
# costs some microseconds, so even a wait of seconds behind a large import costs little.
FIRST_PAUSE, LONGEST_PAUSE = 0.0002, 0.002
# Seconds between the checkpointer's rounds: each costs two fsyncs, so fewer and larger rounds
# cost less CPU than SQLite's default of one per 1,000 pages written.
CHECKPOINT_EVERY = 0.5
RESTART_AT = 16384  # log frames (of a page each) from which a round also starts the log over
# Past this many frames a commit checkpoints inline after all, as SQLite does by default at 1,000:
# a safety net, should the checkpointer fall behind, for a log that would otherwise grow unbounded.
INLINE_CHECKPOINT_AT = 65536
RESTART_TRIES, RESTART_PAUSE = 100, 0.002


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
    `SqliteDatabase` does its waiting for the write lock on the event loop, and leaves
    checkpoints to the `Checkpointer`."""
    conn = connect(path, timeout=0)
    conn.execute(f"PRAGMA wal_autocheckpoint={INLINE_CHECKPOINT_AT}")
    return conn


def connect_reader(path: Path, timeout: float) -> sqlite3.Connection:
    """The connection for single-statement reads. Under WAL a reader does not wait for writers;
    the busy timeout only covers the rare moment another process recovers the WAL index."""
    conn = connect(path, timeout)
    conn.execute("PRAGMA query_only=ON")
    return conn


class Checkpointer:
    """Checkpoints the write-ahead log from a thread with a connection of its own; sqlite3 lets go
    of the GIL while SQLite copies pages and syncs, so the event loop goes on serving meanwhile.

    A passive checkpoint every CHECKPOINT_EVERY seconds copies what it can without holding up
    anyone. But SQLite starts the log over only when a checkpoint has copied all of it, and under a
    steady stream of commits a passive one never catches up with the last; so past RESTART_AT
    frames a RESTART checkpoint takes the write lock between two transactions, copies the few
    frames left and lets the next writer start the log from its beginning (tried RESTART_TRIES
    times, RESTART_PAUSE apart, while writers or readers are in the way). Writers that come
    meanwhile poll for the write lock as they do for any other writer's. Each worker has one: when
    two run at once, one finds the other busy and tries again next time.
    """

    def __init__(self, path: Path) -> None:
        # Busy timeout 0: SQLite's busy handler would sleep in steps of up to 100 ms while holding
        # the write lock and waiting for readers; `checkpoint` retries in short steps of its own.
        self._conn = connect(path, timeout=0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(CHECKPOINT_EVERY):
            self.checkpoint()

    def checkpoint(self) -> None:
        try:
            busy, frames, _copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if busy or frames < RESTART_AT:
                return
            for _ in range(RESTART_TRIES):
                busy, _frames, _copied = self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                if not busy:
                    return
                time.sleep(RESTART_PAUSE)
        except sqlite3.OperationalError:
            pass  # the file gone, say: the next round tries again, and commits have the safety net

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()


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

    def __init__(
        self,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        checkpointer: Checkpointer,
        timeout: float,
    ) -> None:
        super().__init__()
        self._writer = writer
        self._reader = reader
        self._checkpointer = checkpointer
        self._timeout = timeout
        self._one_transaction_at_a_time = asyncio.Lock()

    @classmethod
    async def open(cls, settings: Settings) -> SqliteDatabase:
        path, timeout = settings.sqlite_path, settings.db_timeout
        try:
            writer, reader = connect_writer(path), connect_reader(path, timeout)
            return cls(writer, reader, Checkpointer(path), timeout)
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
        await asyncio.to_thread(self._checkpointer.stop)  # it may be waiting out a writer
        self._writer.close()
        self._reader.close()
