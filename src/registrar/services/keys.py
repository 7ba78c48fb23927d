"""API keys: minting, listing, revoking, and recognising a bearer token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from registrar.db import Database, Row
from registrar.db.queries import keys as q
from registrar.problems import NotFound
from registrar.services.common import utc_now

ROLES = ("admin", "reader")


def new_token() -> str:
    """256 random bits in the URL-safe alphabet (letters, digits, - and _)."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Key:
    id: int
    role: str


async def create_key(db: Database, role: str, name: str | None) -> str:
    """Mint a key and return its token: the only time the token exists outside the caller."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: use admin or reader")
    token = new_token()
    async with db.transaction() as tx:
        await q.insert_api_key(tx, digest(token), role, name, utc_now())
    return token


async def list_keys(db: Database) -> list[dict[str, Any]]:
    """Every key, oldest first, without any secret."""
    async with db.connection() as conn:
        return [dict(r) for r in await q.all_keys(conn)]


async def revoke_key(db: Database, key_id: int) -> None:
    """Revoke a key; revoking it again changes nothing."""
    async with db.transaction() as tx:
        if not await q.revoke_key(tx, key_id, utc_now()):
            raise NotFound(f"no API key with id {key_id}")


async def create_first_admin_key(db: Database) -> str | None:
    """On an empty key table, mint one admin key and return its token; otherwise None."""
    token = new_token()
    async with db.transaction() as tx:
        await q.serialize_first_key(tx)
        if await q.any_key_exists(tx):
            return None
        await q.insert_api_key(tx, digest(token), "admin", "first admin key", utc_now())
    return token


class KeyCache:
    """Recognised tokens, each remembered for at most `seconds` (the contract lets a revoked key
    live for up to 1 s), so most requests pay no database round trip for authentication. Unknown
    tokens are not remembered: a key minted a moment ago works at once."""

    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._known: dict[str, tuple[float, Key]] = {}

    def cached(self, token_digest: str) -> Key | None:
        entry = self._known.get(token_digest)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def remember(self, token_digest: str, row: Row) -> Key | None:
        """The key of a row looked up by this digest (None if it does not really match)."""
        if not hmac.compare_digest(row["token_digest"], token_digest):
            return None
        if len(self._known) >= self._max_entries:
            self._known.clear()
        key = Key(id=row["id"], role=row["role"])
        self._known[token_digest] = (time.monotonic() + self._seconds, key)
        return key
