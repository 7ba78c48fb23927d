"""Failed authentications per client address, and the blocks they start."""

from __future__ import annotations

from registrar.db.core import Row, Sql, Transaction

_BLOCKED_UNTIL = Sql("SELECT blocked_until FROM auth_failures WHERE address = $1")


async def blocked_until(tx: Transaction, address: str) -> float | None:
    value = await tx.fetchval(_BLOCKED_UNTIL, address)
    return None if value is None else float(value)


_ENSURE_FAILURE_ROW = Sql(
    "INSERT INTO auth_failures (address, recent_failures, blocked_until, updated_at) "
    "VALUES ($1, '[]', NULL, $2) ON CONFLICT (address) DO NOTHING"
)
_LOCK_FAILURES = Sql(
    "SELECT recent_failures, blocked_until FROM auth_failures WHERE address = $1 FOR UPDATE",
    "SELECT recent_failures, blocked_until FROM auth_failures WHERE address = ?1",
)


async def lock_auth_failures(tx: Transaction, address: str, now: float) -> Row:
    """The address's failure record, created if need be and locked until the transaction ends."""
    await tx.execute(_ENSURE_FAILURE_ROW, address, now)
    row = await tx.fetchrow(_LOCK_FAILURES, address)
    assert row is not None
    return row


_SAVE_FAILURES = Sql(
    "UPDATE auth_failures SET recent_failures = $2, blocked_until = $3, updated_at = $4 WHERE address = $1"
)


async def save_auth_failures(
    tx: Transaction, address: str, recent_failures: str, blocked: float | None, now: float
) -> None:
    await tx.execute(_SAVE_FAILURES, address, recent_failures, blocked, now)


_FORGET_OLD_FAILURES = Sql(
    "DELETE FROM auth_failures WHERE updated_at <= $1 AND (blocked_until IS NULL OR blocked_until <= $1)"
)


async def forget_auth_failures(tx: Transaction, older_than: float) -> None:
    await tx.execute(_FORGET_OLD_FAILURES, older_than)


_CURRENT_BLOCKS = Sql("SELECT address, blocked_until FROM auth_failures WHERE blocked_until > $1")


async def current_blocks(tx: Transaction, now: float) -> list[Row]:
    return await tx.fetch(_CURRENT_BLOCKS, now)


_ANNOUNCE = Sql("SELECT pg_notify($1, $2)", "SELECT ?1, ?2")


async def announce(tx: Transaction, channel: str, payload: str) -> None:
    """Tell every listening worker, when the transaction commits (PostgreSQL NOTIFY)."""
    await tx.execute(_ANNOUNCE, channel, payload)
