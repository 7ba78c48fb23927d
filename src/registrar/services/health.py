"""Is the database there?"""

from __future__ import annotations

import asyncio

from registrar.db import Database
from registrar.db import queries as q
from registrar.problems import ServiceUnavailable

HEALTH_TIMEOUT_SECONDS = 1.5


async def check(db: Database) -> None:
    """Raise ServiceUnavailable unless the database answers within the health timeout."""

    async def ping() -> None:
        async with db.connection() as conn:
            await q.ping(conn)

    try:
        await asyncio.wait_for(ping(), HEALTH_TIMEOUT_SECONDS)
    except TimeoutError:
        raise ServiceUnavailable("The database did not answer in time.") from None
