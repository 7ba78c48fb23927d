"""Idempotency keys: the same key, from the same API key, within the retention period, replays the
first response and writes nothing again (contract section 6).

The record of a key is written in the transaction of the write it answers for: the request runs
inside that transaction, and its services' own transactions become savepoints of it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from registrar.db import Transaction
from registrar.db.queries import idempotency as q
from registrar.problems import IdempotencyKeyInUse, IdempotencyKeyReused
from registrar.services.common import utc_now


def valid_key(value: str) -> bool:
    return 1 <= len(value) <= 255 and all(33 <= ord(ch) <= 126 for ch in value)


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    api_key_id: int
    key: str
    method: str
    path: str
    body_digest: str

    @classmethod
    def of(cls, api_key_id: int, key: str, method: str, path: str, body: bytes) -> IdempotentRequest:
        return cls(api_key_id, key, method, path, hashlib.sha256(body).hexdigest())

    @property
    def lock_id(self) -> int:
        """A 64-bit advisory lock id for this (API key, idempotency key) pair."""
        digest = hashlib.sha256(f"{self.api_key_id}\0{self.key}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    content_type: str
    location: str | None
    body: bytes


async def begin(tx: Transaction, request: IdempotentRequest, retention: timedelta) -> StoredResponse | None:
    """Claim the key in `tx`: the stored response to replay, or None when the request should run.
    Raises when the key's first request is still running, or came with another request."""
    if not await q.claim_idempotency_key(tx, request.lock_id):
        raise IdempotencyKeyInUse("The first request with this Idempotency-Key is still running.")
    row = await q.idempotency_record(tx, request.api_key_id, request.key, utc_now() - retention)
    if row is None:
        return None
    if (row["request_method"], row["request_path"], row["request_digest"]) != (
        request.method,
        request.path,
        request.body_digest,
    ):
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
    return StoredResponse(
        row["response_status"],
        row["response_content_type"],
        row["response_location"],
        row["response_body"].encode(),
    )


async def remember(tx: Transaction, request: IdempotentRequest, response: StoredResponse) -> None:
    """Store the response in `tx`, the transaction of the write it answers for."""
    await q.save_idempotency_record(
        tx,
        (
            request.api_key_id,
            request.key,
            request.method,
            request.path,
            request.body_digest,
            response.status,
            response.content_type,
            response.location,
            response.body.decode(),
            utc_now(),
        ),
    )


async def forget_expired(tx: Transaction, retention: timedelta) -> None:
    await q.forget_idempotency_keys(tx, utc_now() - retention)
