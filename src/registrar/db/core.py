"""What the services see of a database, whichever engine is behind it.

A `Transaction` runs statements written once per engine (`Sql`); a `Database` hands out
transactions (one per write use case) and plain connections (single-statement reads). Driver
faults never leave this package as driver exceptions: a lost or busy database becomes
`ServiceUnavailable`, a unique violation becomes `UniqueViolation`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias

Dialect = Literal["postgresql", "sqlite"]
OnMessage: TypeAlias = Callable[[str], None]  # a NOTIFY payload heard by `Database.listen`
OnConnect: TypeAlias = Callable[[], Awaitable[None]]  # runs after each (re)connection of a listener

# asyncpg.Record and sqlite3.Row both answer row["column"] and row[index].
Row: TypeAlias = Any

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


class Transaction(Protocol):
    dialect: Dialect

    async def fetch(self, sql: Sql, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: Sql, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: Sql, *args: Any) -> Any: ...

    async def execute(self, sql: Sql, *args: Any) -> None: ...

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
        """A read-write transaction, committed when the block ends without an exception."""
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

    async def close(self) -> None: ...
