"""Who may in: the brute-force block first, then the bearer token, in as few statements as the
caches allow (a known key from an address believed unblocked costs none on PostgreSQL)."""

from __future__ import annotations

import math
import time

from registrar import metrics
from registrar.db import Database
from registrar.db.queries import keys as q
from registrar.problems import RateLimited, Unauthorized
from registrar.services.keys import Key, KeyCache, digest
from registrar.services.throttle import Blocklist, RedisBlocklist


class Admission:
    def __init__(self, db: Database, keys: KeyCache, blocks: Blocklist | RedisBlocklist) -> None:
        self.db = db
        self.keys = keys
        self.blocks = blocks

    async def admit(self, address: str, token: str | None) -> Key:
        """The caller's key; raises RateLimited for a blocked address (whatever the token), and
        Unauthorized, counting a failure, for a missing, unknown or revoked token."""
        token_digest = digest(token) if token else ""
        key = self.keys.cached(token_digest)
        if key is not None:
            until = await self.blocks.until(address)
        else:
            async with self.db.connection() as conn:
                until, row = await q.block_and_key(conn, address, token_digest)
            key = self.keys.remember(token_digest, row) if row is not None else None
            if isinstance(self.blocks, Blocklist):
                # A block read here holds for its whole length, whether or not this worker heard
                # it announced: the next request may come with the key cached and ask `blocks`.
                self.blocks.believe(address, until)
            else:
                until = await self.blocks.until(address)
        if until is not None and (left := until - time.time()) > 0:
            raise RateLimited(math.ceil(left))
        if key is None:
            metrics.auth_failed()
            await self.blocks.record_failure(address)
            raise Unauthorized()
        return key
