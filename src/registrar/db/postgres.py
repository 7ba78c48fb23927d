"""PostgreSQL through an asyncpg pool: prepared statements, no ORM on the serving path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from registrar.config import Settings
from registrar.db.core import Dialect, OnConnect, OnMessage, Row, Sql, UniqueViolation
from registrar.problems import ServiceUnavailable

LISTEN_CHECK_SECONDS = 2.0

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


class PostgresTransaction:
    dialect: Dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection[Any] | PoolConnectionProxy[Any]) -> None:
        self._conn = conn

    def as_read_back(self, moment: datetime) -> Any:
        return moment

    def savepoint(self) -> Transaction:
        return self._conn.transaction()

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]:
        try:
            return await self._conn.fetch(sql.postgresql, *args)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(exc.constraint_name or "") from None

    async def fetchrow(self, sql: Sql, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: Sql, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: Sql, *args: Any) -> None:
        try:
            await self._conn.execute(sql.postgresql, *args)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(exc.constraint_name or "") from None

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.copy_records_to_table(table, records=rows, columns=list(columns))


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset round trip on release: the service never leaves session state behind
    (advisory locks are transaction-scoped, no LISTEN, no cursors outside a transaction)."""


class PostgresDatabase:
    dialect: Dialect = "postgresql"
    pushes_notifications = True

    def __init__(self, pool: asyncpg.Pool, timeout: float, dsn: str = "") -> None:
        self._pool = pool
        self._timeout = timeout
        self._dsn = dsn
        self._current: ContextVar[PostgresTransaction | None] = ContextVar(
            "postgres_transaction", default=None
        )

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
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                yield PostgresTransaction(conn)
        except UNAVAILABLE:
            raise ServiceUnavailable() from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        if (outer := self._current.get()) is not None:
            # Inside a transaction already (an idempotent request's): a savepoint, so that a
            # rule that fails undoes only this part and the outer one can still record the answer.
            async with outer.savepoint():
                yield outer
            return
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn, conn.transaction():
                tx = PostgresTransaction(conn)
                token = self._current.set(tx)
                try:
                    yield tx
                finally:
                    self._current.reset(token)
        except UNAVAILABLE:
            raise ServiceUnavailable() from None

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

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), timeout=self._timeout)
        except UNAVAILABLE:
            self._pool.terminate()


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
