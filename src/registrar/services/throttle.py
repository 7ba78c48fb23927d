"""The brute-force limit: 20 failed authentications within 60 s block an address for 60 s.

The count lives in the database, so it holds across every worker and host of a deployment. On
PostgreSQL each worker also learns of every new block at once (NOTIFY), so a request from an
address that is not blocked pays nothing for the check; only an address believed blocked is
looked up, in case its block has ended. SQLite has no notifications: there the check is a local
read on every authenticated request. With REGISTRAR_REDIS_URL set, the count lives in Redis instead
(`RedisBlocklist`), for deployments that already run one; that needs the optional extra
`registrar[redis]`, which is imported only then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from registrar.db import Database, Transaction
from registrar.db.queries import auth_failures as q
from registrar.problems import ServiceUnavailable

MAX_FAILURES = 20
WINDOW_SECONDS = 60.0
BLOCK_SECONDS = 60.0
BLOCKS_CHANNEL = "registrar_blocks"
REDIS_EXTRA_MISSING = (
    "REGISTRAR_REDIS_URL is set, but Redis support is not installed: pip install 'registrar[redis]'"
)


class Blocklist:
    """Which client addresses are blocked, and until when (epoch seconds), kept in the database."""

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

    def believe(self, address: str, until: float | None) -> None:
        """Remember a block read from the database (an announcement may have been missed)."""
        if until is not None and until > time.time():
            self._believed[address] = until

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

    async def follow(self, stop: asyncio.Event) -> None:
        """Learn of the blocks other workers and hosts start, until `stop` is set (PostgreSQL)."""
        await self._db.listen(BLOCKS_CHANNEL, self._heard, self._catch_up, stop)

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


class RedisBlocklist:
    """The same limit kept in Redis (REGISTRAR_REDIS_URL), through the `limits` library: a moving
    window of failures per address, and a block key that expires 60 s after the 20th failure."""

    def __init__(self, url: str) -> None:
        require_redis_support()
        from limits import RateLimitItemPerMinute
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        self._failures = RateLimitItemPerMinute(MAX_FAILURES - 1)  # the 20th failure is the first one refused
        self._storage = RedisStorage(f"async+{url}", wrap_exceptions=True, key_prefix="registrar")
        self._window = MovingWindowRateLimiter(self._storage)

    async def until(self, address: str) -> float | None:
        with _redis_errors():
            if not await self._storage.get(_block_key(address)):
                return None
            return await self._storage.get_expiry(_block_key(address))

    async def record_failure(self, address: str) -> None:
        with _redis_errors():
            if not await self._window.hit(self._failures, "auth-failures", address):
                await self._storage.incr(_block_key(address), int(BLOCK_SECONDS))
                await self._window.clear(self._failures, "auth-failures", address)

    async def follow(self, stop: asyncio.Event) -> None:
        """Nothing to follow: every check asks Redis."""


def require_redis_support() -> None:
    """Redis support is the optional extra registrar[redis] (limits with coredis): say so in one
    line when REGISTRAR_REDIS_URL is set without it, instead of a traceback from a worker."""
    try:
        import coredis  # noqa: F401
        import limits.aio.storage  # noqa: F401
    except ImportError:
        raise ValueError(REDIS_EXTRA_MISSING) from None


def _block_key(address: str) -> str:
    return f"blocked/{address}"


@contextmanager
def _redis_errors() -> Iterator[None]:
    from limits.errors import StorageError

    try:
        yield
    except StorageError:
        raise ServiceUnavailable("The rate-limit store is unavailable; retry shortly.") from None
