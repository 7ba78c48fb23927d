"""PostgreSQL through an asyncpg pool: prepared statements, no ORM on the serving path.

Two ways to reach the server. Directly (the default): each connection is a session of its own, so
the timeouts are set once when it opens and asyncpg keeps its statements prepared on it. Through a
pooler in transaction mode (PgBouncer; REGISTRAR_DATABASE_DIRECT_URL set): consecutive transactions
of one connection may run on different server sessions, used by other clients in between, so the
pooled connections carry no session state at all: no statement cache, no settings given at connect
(PgBouncer refuses them), the timeouts given to each transaction with SET LOCAL instead. What needs
a session of its own (LISTEN) opens one on the server directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

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

LISTEN_CHECK_SECONDS = 2.0
STATEMENT_CACHE_SIZE = 100  # asyncpg's default: every statement the service sends stays prepared
log = logging.getLogger("registrar.db")

# Errors that mean "the database is away or refused to wait", not "the request is wrong".
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, statement timeout, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.LockNotAvailableError,  # lock_timeout
    asyncpg.exceptions.TransactionRollbackError,  # deadlock or serialization failure
)

LISTEN_ERRORS: tuple[type[BaseException], ...] = (*UNAVAILABLE, ServiceUnavailable)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Driver errors as the services know them: a unique violation by its constraint's name, and
    a database that is away or would not wait as a 503."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise UniqueViolation(exc.constraint_name or "") from None
    except UNAVAILABLE:
        raise ServiceUnavailable() from None


class PostgresTransaction(EngineTransaction):
    dialect: Dialect = "postgresql"

    def __init__(self, conn: PoolConnectionProxy[Any]) -> None:
        super().__init__()
        self._conn = conn
        self.savepoints = 0  # how many this transaction has opened: each gets a name of its own

    @property
    def conn(self) -> PoolConnectionProxy[Any]:
        return self._conn

    def as_read_back(self, moment: datetime) -> Any:
        return moment

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]:
        with translated_errors():
            return await self._conn.fetch(sql.postgresql, *args)

    async def fetchrow(self, sql: Sql, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: Sql, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: Sql, *args: Any) -> None:
        with translated_errors():
            await self._conn.execute(sql.postgresql, *args)

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        with translated_errors():
            await self._conn.copy_records_to_table(table, records=rows, columns=list(columns))


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset round trip on release: the service never leaves session state behind
    (advisory locks are transaction-scoped, no LISTEN, no cursors outside a transaction)."""


class PostgresDatabase(TransactionScopes[PostgresTransaction]):
    dialect: Dialect = "postgresql"
    pushes_notifications = True

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        super().__init__()
        self._pool = pool
        self._timeout = settings.db_timeout
        self._direct_dsn = settings.direct().postgres_dsn
        self._pooled = settings.pooled
        self._begin_sql = "BEGIN"
        if self._pooled:
            # One simple-protocol message, one round trip like BEGIN alone; SET LOCAL ends with
            # the transaction, so nothing is left behind for the next client of that server session.
            self._begin_sql += "".join(f"; SET LOCAL {name} = {value}" for name, value in _timeouts(settings))

    @classmethod
    async def open(cls, settings: Settings) -> PostgresDatabase:
        pooled = settings.pooled
        session = {} if pooled else {name: str(value) for name, value in _timeouts(settings)}
        pool = await asyncpg.create_pool(
            settings.postgres_dsn,
            min_size=0,
            max_size=settings.db_pool_size,
            timeout=settings.db_timeout,
            # A server that stops answering (frozen, or the network gone quiet) cannot enforce its
            # own statement_timeout: bound every statement on this side too, so the request gets a 503.
            command_timeout=settings.db_statement_timeout,
            reset=_no_reset,
            # Behind a pooler a named statement prepared in one transaction may be missing (or be
            # another client's) in the next. With the cache off asyncpg uses the unnamed statement
            # and sends its Parse again with the Bind and Execute, so each statement is whole within
            # one protocol sync, whichever server session runs it (two round trips instead of one).
            statement_cache_size=0 if pooled else STATEMENT_CACHE_SIZE,
            server_settings={**session, "application_name": "registrar"},  # PgBouncer passes this one on
        )
        return cls(pool, settings)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[PostgresTransaction]:
        if (outer := self._current.get()) is not None:
            yield outer
            return
        if self._pooled:
            async with self._read_transaction() as tx:
                yield tx
            return
        conn = await self._acquire()
        try:
            yield PostgresTransaction(conn)
        finally:
            await self._give_back(conn)

    @asynccontextmanager
    async def _read_transaction(self) -> AsyncIterator[PostgresTransaction]:
        """A read behind a pooler runs in a transaction of its own: only a transaction carries the
        timeouts there (a lock wait longer than REGISTRAR_DB_TIMEOUT is a 503 for reads too), and its
        BEGIN is where the wait for a server session is bounded (see `_begin`)."""
        tx = await self._begin()
        try:
            yield tx
        except BaseException:
            await self._rollback(tx)
            raise
        else:
            await self._commit(tx)
        finally:
            await self._end(tx)

    async def _acquire(self) -> PoolConnectionProxy[Any]:
        try:
            return await self._pool.acquire(timeout=self._timeout)
        except UNAVAILABLE:
            raise ServiceUnavailable() from None

    async def _give_back(self, conn: PoolConnectionProxy[Any]) -> None:
        """Return a connection to the pool. Whatever the request did is settled by now (committed,
        rolled back, or only read), so a connection that cannot be reset is the pool's problem
        (it closes it), not the request's."""
        try:
            await self._pool.release(conn)
        except Exception:
            log.warning("a connection could not be reset and was closed", exc_info=True)

    async def _begin(self) -> PostgresTransaction:
        """A connection from the pool, in a transaction, within REGISTRAR_DB_TIMEOUT in all. Behind a
        pooler BEGIN is what waits for a server session, so it gets what is left of that time."""
        started = time.monotonic()
        conn = await self._acquire()
        left = max(self._timeout - (time.monotonic() - started), 0.05)
        try:
            with translated_errors():
                await conn.execute(self._begin_sql, timeout=left)
        except BaseException:
            # BEGIN itself cannot be refused: it timed out, was cancelled or lost its connection.
            # A query cancelled while PgBouncer still queues it may yet run later, so the connection
            # is closed rather than reused (PgBouncer then drops the queued query too).
            await self._discard(conn)
            raise
        return PostgresTransaction(conn)

    async def _discard(self, conn: PoolConnectionProxy[Any]) -> None:
        """Close a connection and give it back. A connection the server closed has been taken back
        by the pool already, and the proxy refuses every call then."""
        with contextlib.suppress(asyncpg.InterfaceError):
            conn.terminate()
        await self._give_back(conn)

    async def _commit(self, tx: PostgresTransaction) -> None:
        with translated_errors():
            await tx.conn.execute("COMMIT")

    async def _rollback(self, tx: PostgresTransaction) -> None:
        # The error that brought us here is the one to report; a rollback on a lost connection
        # has nothing to undo.
        with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
            await tx.conn.execute("ROLLBACK")

    async def _end(self, tx: PostgresTransaction) -> None:
        await self._give_back(tx.conn)

    @asynccontextmanager
    async def _savepoint(self, tx: PostgresTransaction) -> AsyncIterator[None]:
        tx.savepoints += 1
        name = f"registrar_{tx.savepoints}"
        with translated_errors():
            await tx.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
                await tx.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            raise
        with translated_errors():
            await tx.conn.execute(f"RELEASE SAVEPOINT {name}")

    async def listen(
        self,
        channel: str,
        on_message: OnMessage,
        on_connect: OnConnect,
        stop: asyncio.Event,
    ) -> None:
        """LISTEN on a connection of its own (outside the pool), checked every few seconds, and
        opened again after an outage; `on_connect` catches up on what was missed meanwhile.
        Ends when `stop` is set: cooperatively, since cancelling asyncpg in the middle of a
        connect leaves an error behind that nobody collects."""
        while not stop.is_set():
            with contextlib.suppress(*LISTEN_ERRORS):  # the database is away: try again shortly
                await self._listen_once(channel, on_message, on_connect, stop)
            await _stopped_within(stop, LISTEN_CHECK_SECONDS)

    async def _listen_once(
        self,
        channel: str,
        on_message: OnMessage,
        on_connect: OnConnect,
        stop: asyncio.Event,
    ) -> None:
        # On the server itself even behind a pooler: LISTEN belongs to a session, and a pooler in
        # transaction mode would hand that session to other clients after the statement.
        conn = await asyncpg.connect(self._direct_dsn, timeout=self._timeout)
        try:
            await conn.add_listener(channel, lambda *notice: on_message(str(notice[-1])))
            await on_connect()
            while not await _stopped_within(stop, LISTEN_CHECK_SECONDS):
                await conn.execute("SELECT 1", timeout=self._timeout)  # a dead connection shows only in use
        finally:
            conn.terminate()

    def usage(self) -> PoolUsage:
        """The pool's connections (not the listener's own, outside it)."""
        held = self._pool.get_size()
        return PoolUsage(held, held - self._pool.get_idle_size(), self._pool.get_max_size())

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), timeout=self._timeout)
        except UNAVAILABLE:
            self._pool.terminate()


def _timeouts(settings: Settings) -> list[tuple[str, int]]:
    """The server's timeouts, in milliseconds: set for each session directly, for each transaction
    behind a pooler."""
    return [
        ("lock_timeout", int(settings.db_timeout * 1000)),
        ("statement_timeout", int(settings.db_statement_timeout * 1000)),
        ("idle_in_transaction_session_timeout", int(settings.db_statement_timeout * 1000)),
    ]


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
