"""Whether the database answers."""

from __future__ import annotations

from registrar.db.core import Sql, Transaction

_PING = Sql("SELECT 1")


async def ping(tx: Transaction) -> None:
    await tx.fetchval(_PING)
