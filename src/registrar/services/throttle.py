"""The brute-force limit: 20 failed authentications within 60 s block an address for 60 s.

The count lives in the database, so it holds across every worker and host of a deployment. A
successful request from an unblocked address pays one read for it and no write.
"""

from __future__ import annotations

import math
import time

import orjson

from registrar.db import Database
from registrar.db import queries as q

MAX_FAILURES = 20
WINDOW_SECONDS = 60.0
BLOCK_SECONDS = 60.0


async def seconds_blocked(db: Database, address: str) -> int:
    """Whole seconds until the address may try again; 0 when it is not blocked."""
    async with db.connection() as conn:
        until = await q.blocked_until(conn, address)
    left = (until or 0.0) - time.time()
    return math.ceil(left) if left > 0 else 0


async def record_failure(db: Database, address: str) -> None:
    """Count one failed authentication; the 20th within the window starts the block."""
    now = time.time()
    async with db.transaction() as tx:
        row = await q.lock_auth_failures(tx, address, now)
        recent = [t for t in orjson.loads(row["recent_failures"]) if t > now - WINDOW_SECONDS]
        recent.append(now)
        blocked = row["blocked_until"]
        if len(recent) >= MAX_FAILURES:
            blocked, recent = now + BLOCK_SECONDS, []
        await q.save_auth_failures(tx, address, orjson.dumps(recent).decode(), blocked, now)


async def forget_old_failures(db: Database) -> None:
    """Remove records of addresses that neither failed nor were blocked recently."""
    async with db.transaction() as tx:
        await q.forget_auth_failures(tx, time.time() - WINDOW_SECONDS - BLOCK_SECONDS)
