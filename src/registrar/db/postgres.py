"""PostgreSQL through an asyncpg pool: prepared statements, no ORM on the serving path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

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

    def __init__(self, conn: PoolConnectionProxy[Any], xact: Transaction | None = None) -> None:
        super().__init__()
        self._conn = conn
        self.xact = xact

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

    def __init__(self, pool: asyncpg.Pool, timeout: float, dsn: str = "") -> None:
        super().__init__()
        self._pool = pool
        self._timeout = timeout
        self._dsn = dsn

    @classmethod
    async def open(cls, settings: Settings) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            settings.postgres_dsn,
            min_size=0,
            max_size=settings.db_pool_size,
            timeout=settings.db_timeout,
            # A server that stops answering (frozen, or the network gone quiet) cannot enforce its
            # own statement_timeout: bound every statement on this side too, so the request gets a 503.
            command_timeout=settings.db_statement_timeout,
            reset=_no_reset,
            server_settings={
                "lock_timeout": str(int(settings.db_timeout * 1000)),
                "statement_timeout": str(int(settings.db_statement_timeout * 1000)),
                "idle_in_transaction_session_timeout": str(int(settings.db_statement_timeout * 1000)),
                "application_name": "registrar",
            },
        )
        return cls(pool, settings.db_timeout, settings.postgres_dsn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[PostgresTransaction]:
        if (outer := self._current.get()) is not None:
            yield outer
            return
        conn = await self._acquire()
        try:
            yield PostgresTransaction(conn)
        finally:
            await self._give_back(conn)

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
        conn = await self._acquire()
        xact = conn.transaction()
        try:
            with translated_errors():
                await xact.start()
        except BaseException:
            await self._give_back(conn)
            raise
        return PostgresTransaction(conn, xact)

    async def _commit(self, tx: PostgresTransaction) -> None:
        assert tx.xact is not None
        with translated_errors():
            await tx.xact.commit()

    async def _rollback(self, tx: PostgresTransaction) -> None:
        assert tx.xact is not None
        # The error that brought us here is the one to report; a rollback on a lost connection
        # has nothing to undo.
        with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
            await tx.xact.rollback()

    async def _end(self, tx: PostgresTransaction) -> None:
        await self._give_back(tx.conn)

    @asynccontextmanager
    async def _savepoint(self, tx: PostgresTransaction) -> AsyncIterator[None]:
        savepoint = tx.conn.transaction()
        with translated_errors():
            await savepoint.start()
        try:
            yield
        except BaseException:
            with contextlib.suppress(*UNAVAILABLE, asyncpg.PostgresError):
                await savepoint.rollback()
            raise
        with translated_errors():
            await savepoint.commit()

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
        conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
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


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
