"""What the services see of a database, whichever engine is behind it.

A `Transaction` runs statements written once per engine (`Sql`); a `Database` hands out
transactions (one per write use case) and plain connections (single-statement reads). Driver
faults never leave this package as driver exceptions: a lost or busy database becomes
`ServiceUnavailable`, a unique violation becomes `UniqueViolation`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeAlias, TypeVar

Dialect = Literal["postgresql", "sqlite"]
OnMessage: TypeAlias = Callable[[str], None]  # a NOTIFY payload heard by `Database.listen`
OnConnect: TypeAlias = Callable[[], Awaitable[None]]  # runs after each (re)connection of a listener

# asyncpg.Record and sqlite3.Row both answer row["column"] and row[index].
Row: TypeAlias = Any

log = logging.getLogger("registrar.db")

_POSITIONAL = re.compile(r"\$(\d+)")


@dataclass(frozen=True, slots=True)
class Sql:
    """One statement in both dialects. Written with $1-style parameters; the SQLite text defaults
    to the same statement with ?1-style parameters, so only real differences are spelled twice."""

    postgresql: str
    sqlite: str = field(default="")

    def __post_init__(self) -> None:
        if not self.sqlite:
            object.__setattr__(self, "sqlite", _POSITIONAL.sub(r"?\1", self.postgresql))

    def text(self, dialect: Dialect) -> str:
        return self.postgresql if dialect == "postgresql" else self.sqlite


class UniqueViolation(Exception):
    """A unique constraint refused a write (its name says which)."""

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint


class PoolUsage(NamedTuple):
    """A worker's database connections, for /metrics: held open, taken now, and the most it may hold."""

    held: int
    in_use: int
    limit: int


class AfterCommit:
    """What must happen only if a change lands (a log line, a metric): run once the outermost
    transaction has committed, never earlier. A savepoint that rolls back forgets what was added
    inside it, so a rule that failed leaves no trace either."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []

    def add(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def mark(self) -> int:
        return len(self._callbacks)

    def forget_since(self, mark: int) -> None:
        del self._callbacks[mark:]

    def run(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the change has landed: one failed callback must not hide it
                log.exception("an after-commit callback failed")


class Transaction(Protocol):
    dialect: Dialect

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: Sql, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: Sql, *args: Any) -> Any: ...

    async def execute(self, sql: Sql, *args: Any) -> None: ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the outermost transaction has committed; never if it does not."""
        ...

    def as_read_back(self, moment: datetime) -> Any:
        """A time as this engine returns it once stored (a datetime, or SQLite's text), so that an
        answer built before the commit reads exactly like one read from the database later."""
        ...

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Bulk-load rows (COPY on PostgreSQL); for `registrar seed` and imports, not for serving."""
        ...


class Database(Protocol):
    dialect: Dialect
    pushes_notifications: bool  # whether `listen` hears anything (PostgreSQL NOTIFY)

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A read-write transaction, committed when the block ends without an exception; inside
        another transaction of the same task, a savepoint of it."""
        ...

    def connection(self) -> AbstractAsyncContextManager[Transaction]:
        """A connection in autocommit mode, for reads that are one statement each."""
        ...

    async def listen(
        self,
        channel: str,
        on_message: OnMessage,
        on_connect: OnConnect,
        stop: asyncio.Event,
    ) -> None:
        """Hear the messages announced on `channel` until `stop` is set, reconnecting after outages;
        `on_connect` runs after each (re)connection, to catch up on what was missed."""
        ...

    def usage(self) -> PoolUsage:
        """The connections this worker holds, as the metrics report them."""
        ...

    async def close(self) -> None: ...


class EngineTransaction:
    """What the transactions of both engines share: the callbacks that wait for the commit."""

    def __init__(self) -> None:
        self.on_commit = AfterCommit()

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.on_commit.add(callback)


T = TypeVar("T", bound=EngineTransaction)


class TransactionScopes(Generic[T]):
    """`transaction()` for both engines, written once. The outermost block of a task is a database
    transaction; blocks inside it (a service called within an idempotent request) are savepoints.

    The order at the end is the point: COMMIT, then the after-commit callbacks, then the connection
    goes back. A change is reported only once COMMIT succeeded, and whatever fails or is cancelled
    after that (giving the connection back) cannot turn a landed change into an error.
    Engines supply `_begin` (503 when the database is away or busy), `_commit`, `_rollback` (never
    raises), `_end` (gives the connection back; never raises but for cancellation) and `_savepoint`.
    """

    def __init__(self) -> None:
        self._current: ContextVar[T | None] = ContextVar(f"{type(self).__name__}.current", default=None)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[T]:
        if (outer := self._current.get()) is not None:
            async with self._nested(outer):
                yield outer
            return
        tx = await self._begin()
        try:
            token = self._current.set(tx)
            try:
                yield tx
            except BaseException:
                await self._rollback(tx)
                raise
            finally:
                self._current.reset(token)
            await self._commit(tx)
            tx.on_commit.run()
        finally:
            await self._end(tx)

    @asynccontextmanager
    async def _nested(self, outer: T) -> AsyncIterator[None]:
        mark = outer.on_commit.mark()
        try:
            async with self._savepoint(outer):
                yield
        except BaseException:
            outer.on_commit.forget_since(mark)
            raise

    async def _begin(self) -> T:
        raise NotImplementedError

    async def _commit(self, tx: T) -> None:
        raise NotImplementedError

    async def _rollback(self, tx: T) -> None:
        raise NotImplementedError

    async def _end(self, tx: T) -> None:
        raise NotImplementedError

    def _savepoint(self, tx: T) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError
