"""Is the database there?"""

from __future__ import annotations

import asyncio

from registrar.db import Database
from registrar.db.queries import health as q
from registrar.problems import ServiceUnavailable

HEALTH_TIMEOUT_SECONDS = 1.5


async def check(db: Database) -> None:
    """Raise ServiceUnavailable unless the database answers within the health timeout."""

    async def ping() -> None:
        async with db.connection() as conn:
            await q.ping(conn)

    task = asyncio.ensure_future(ping())
    done, _ = await asyncio.wait({task}, timeout=HEALTH_TIMEOUT_SECONDS)
    if not done:
        # Not waited for: on a frozen server, asyncpg's cancellation itself can take seconds.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        task.cancel()
        raise ServiceUnavailable("The database did not answer in time.")
    task.result()
