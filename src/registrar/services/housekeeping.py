"""Periodic clean-up: expired idempotency keys and stale failed-login records."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from registrar.db import Database
from registrar.problems import ServiceUnavailable
from registrar.services import idempotency, throttle

log = logging.getLogger("registrar.housekeeping")
SWEEP_SECONDS = 300.0


async def sweep(db: Database, retention: timedelta) -> None:
    """Delete what no rule needs any more."""
    async with db.transaction() as tx:
        await idempotency.forget_expired(tx, retention)
    await throttle.forget_old_failures(db)


async def sweep_forever(db: Database, retention: timedelta, every: float = SWEEP_SECONDS) -> None:
    """Sweep every few minutes while the worker runs; a database outage only skips a round."""
    while True:
        await asyncio.sleep(every)
        try:
            await sweep(db, retention)
        except ServiceUnavailable:
            log.warning("housekeeping skipped: database unavailable")
