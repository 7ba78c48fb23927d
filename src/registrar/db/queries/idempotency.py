"""Idempotency keys and the responses they replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from registrar.db.core import Row, Sql, Transaction

_CLAIM_IDEMPOTENCY_KEY = Sql(
    "SELECT pg_try_advisory_xact_lock($1)",
    "SELECT 1 + 0 * ?1",  # BEGIN IMMEDIATE already makes a second request wait, then replay
)


async def claim_idempotency_key(tx: Transaction, lock_id: int) -> bool:
    """False when another transaction holds the key: its first request is still running."""
    return bool(await tx.fetchval(_CLAIM_IDEMPOTENCY_KEY, lock_id))


_IDEMPOTENCY_RECORD = Sql(
    "SELECT request_method, request_path, request_digest, response_status, response_content_type, "
    "response_location, response_body FROM idempotency_keys "
    "WHERE api_key_id = $1 AND idempotency_key = $2 AND created_at > $3"
)


async def idempotency_record(tx: Transaction, api_key_id: int, key: str, newer_than: datetime) -> Row | None:
    return await tx.fetchrow(_IDEMPOTENCY_RECORD, api_key_id, key, newer_than)


_SAVE_IDEMPOTENCY_RECORD = Sql(
    "INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_method, request_path, request_digest, "
    "response_status, response_content_type, response_location, response_body, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT (api_key_id, idempotency_key) DO UPDATE SET request_method = excluded.request_method, "
    "request_path = excluded.request_path, request_digest = excluded.request_digest, "
    "response_status = excluded.response_status, response_content_type = excluded.response_content_type, "
    "response_location = excluded.response_location, response_body = excluded.response_body, "
    "created_at = excluded.created_at"
)


async def save_idempotency_record(tx: Transaction, values: Sequence[object]) -> None:
    """Insert, or overwrite an expired record of the same key (the caller checked freshness)."""
    await tx.execute(_SAVE_IDEMPOTENCY_RECORD, *values)


_FORGET_OLD_IDEMPOTENCY_KEYS = Sql("DELETE FROM idempotency_keys WHERE created_at <= $1")


async def forget_idempotency_keys(tx: Transaction, older_than: datetime) -> None:
    await tx.execute(_FORGET_OLD_IDEMPOTENCY_KEYS, older_than)
