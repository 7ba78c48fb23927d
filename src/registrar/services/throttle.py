"""The brute-force limit: 20 failed authentications within 60 s block an address for 60 s.

The count lives in the database, so it holds across every worker and host of a deployment. On
PostgreSQL each worker also learns of every new block at once (NOTIFY), so a request from an
address that is not blocked pays nothing for the check; only an address believed blocked is
looked up, in case its block has ended. SQLite has no notifications: there the check is a local
read on every authenticated request.
"""

from __future__ import annotations

import time

import orjson

from registrar.db import Database, Transaction
from registrar.db import queries as q

MAX_FAILURES = 20
WINDOW_SECONDS = 60.0
BLOCK_SECONDS = 60.0
BLOCKS_CHANNEL = "registrar_blocks"


class Blocklist:
    """Which client addresses are blocked, and until when (epoch seconds)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._believed: dict[str, float] = {}

    async def until(self, address: str) -> float | None:
        """The end of the address's block, when it is blocked now; else None."""
        if self._db.pushes_notifications and address not in self._believed:
            return None
        async with self._db.connection() as conn:
            until = await q.blocked_until(conn, address)
        if until is None or until <= time.time():
            self._believed.pop(address, None)
            return None
        return until

    async def record_failure(self, address: str) -> None:
        """Count one failed authentication; the 20th within the window starts the block."""
        now = time.time()
        async with self._db.transaction() as tx:
            row = await q.lock_auth_failures(tx, address, now)
            recent = [t for t in orjson.loads(row["recent_failures"]) if t > now - WINDOW_SECONDS]
            recent.append(now)
            blocked = row["blocked_until"]
            if len(recent) >= MAX_FAILURES:
                blocked, recent = now + BLOCK_SECONDS, []
                await self._announce(tx, address, blocked)
            await q.save_auth_failures(tx, address, orjson.dumps(recent).decode(), blocked, now)

    async def _announce(self, tx: Transaction, address: str, until: float) -> None:
        self._believed[address] = until
        if self._db.pushes_notifications:
            await q.announce(tx, BLOCKS_CHANNEL, f"{until} {address}")

    async def follow(self) -> None:
        """Learn of the blocks other workers and hosts start, until cancelled (PostgreSQL)."""
        await self._db.listen(BLOCKS_CHANNEL, self._heard, self._catch_up)

    def _heard(self, payload: str) -> None:
        until, _, address = payload.partition(" ")
        self._believed[address] = float(until)

    async def _catch_up(self) -> None:
        """After (re)connecting: the blocks started while nobody listened."""
        async with self._db.connection() as conn:
            rows = await q.current_blocks(conn, time.time())
        self._believed = {row["address"]: row["blocked_until"] for row in rows}


async def forget_old_failures(db: Database) -> None:
    """Remove records of addresses that neither failed nor were blocked recently."""
    async with db.transaction() as tx:
        await q.forget_auth_failures(tx, time.time() - WINDOW_SECONDS - BLOCK_SECONDS)
