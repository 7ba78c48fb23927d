"""API keys, and the brute-force block looked up with them."""

from __future__ import annotations

from datetime import datetime

from registrar.db.core import Row, Sql, Transaction

_INSERT_API_KEY = Sql(
    "INSERT INTO api_keys (token_digest, role, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id"
)


async def insert_api_key(tx: Transaction, digest: str, role: str, name: str | None, now: datetime) -> int:
    key_id: int = await tx.fetchval(_INSERT_API_KEY, digest, role, name, now)
    return key_id


_BLOCK_AND_KEY = Sql(
    "SELECT (SELECT blocked_until FROM auth_failures WHERE address = $1) AS blocked_until, "
    "k.id, k.role, k.token_digest FROM (SELECT 1) AS one "
    "LEFT JOIN api_keys k ON k.token_digest = $2 AND k.revoked_at IS NULL"
)


async def block_and_key(tx: Transaction, address: str, digest: str) -> tuple[float | None, Row | None]:
    """In one statement: when the address's block ends (None: never blocked), and the active key
    with this token digest (None: unknown or revoked)."""
    row = await tx.fetchrow(_BLOCK_AND_KEY, address, digest)
    assert row is not None
    until = None if row["blocked_until"] is None else float(row["blocked_until"])
    return until, (row if row["id"] is not None else None)


_ALL_KEYS = Sql("SELECT id, role, name, created_at, revoked_at FROM api_keys ORDER BY id")


async def all_keys(tx: Transaction) -> list[Row]:
    return await tx.fetch(_ALL_KEYS)


_REVOKE_KEY = Sql("UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING id")


async def revoke_key(tx: Transaction, key_id: int, now: datetime) -> bool:
    """False when no key has that id; a key already revoked keeps its first revocation time."""
    return await tx.fetchval(_REVOKE_KEY, key_id, now) is not None


_ANY_KEY = Sql("SELECT 1 FROM api_keys LIMIT 1")


async def any_key_exists(tx: Transaction) -> bool:
    return await tx.fetchval(_ANY_KEY) is not None


_FIRST_KEY_LOCK = Sql("SELECT pg_advisory_xact_lock(7420002)", "SELECT 1")


async def serialize_first_key(tx: Transaction) -> None:
    """Hosts starting at once on one PostgreSQL take turns deciding whether a first key is needed
    (SQLite's write lock already does that)."""
    await tx.execute(_FIRST_KEY_LOCK)
