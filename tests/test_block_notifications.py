"""A blocked address stays blocked on every worker, whether or not the worker heard the block
announced (PostgreSQL NOTIFY): valid tokens included, for the block's whole length.

Two workers here are two instances of the app in one process, each with its own database pool,
key cache and listener, on one real database; on PostgreSQL reached directly and through PgBouncer
(the announcement is written through the pooler and heard on the listener's direct connection)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from registrar.app import create_app
from registrar.config import Settings
from registrar.db import Database, Sql
from tests.helpers import assert_problem
from tests.test_brute_force import ATTACKER, assert_rate_limited, client_at, fail

pytestmark = pytest.mark.pgbouncer
ON_POSTGRESQL = pytest.mark.parametrize("engine", ["postgresql", "pgbouncer"], indirect=True)


async def block_without_announcing(db: Database, address: str, seconds: float) -> None:
    """What another host's block looks like to a worker whose listener missed its NOTIFY."""
    async with db.transaction() as tx:
        await tx.execute(
            Sql(
                "INSERT INTO auth_failures (address, recent_failures, blocked_until, updated_at) "
                "VALUES ($1, '[]', $2, $3)"
            ),
            address,
            time.time() + seconds,
            time.time(),
        )


@pytest.fixture
async def second_worker(settings: Settings) -> AsyncIterator[FastAPI]:
    worker = create_app(settings)
    async with worker.router.lifespan_context(worker):
        yield worker


async def test_a_block_read_from_the_database_is_honoured_for_a_valid_token_every_time(
    app: FastAPI, admin_token: str
) -> None:
    await block_without_announcing(app.state.runtime.db, ATTACKER, 60)
    async with client_at(app, ATTACKER, admin_token) as victim:
        for _ in range(5):  # the first reads the block with the key; the rest find the key cached
            assert_rate_limited(await victim.get("/students"))


@ON_POSTGRESQL
async def test_a_block_started_on_one_worker_reaches_another_with_the_key_cached(
    app: FastAPI, second_worker: FastAPI, admin_token: str
) -> None:
    async with (
        client_at(app, ATTACKER, "not-a-real-token") as attacker,
        client_at(second_worker, ATTACKER, admin_token) as victim,
    ):
        await fail(attacker, 19)
        assert (await victim.get("/students")).status_code == 200  # the key is now cached there
        assert_problem(await attacker.get("/students"), 401, "unauthorized")  # the 20th
        await asyncio.sleep(0.05)  # the notification crosses the database
        for _ in range(5):
            assert_rate_limited(await victim.get("/students"))


@ON_POSTGRESQL
async def test_a_missed_announcement_admits_a_cached_key_no_longer_than_the_cache_lasts(
    app: FastAPI, second_worker: FastAPI, admin_token: str
) -> None:
    async with client_at(second_worker, ATTACKER, admin_token) as victim:
        assert (await victim.get("/students")).status_code == 200  # the key is now cached
        await block_without_announcing(app.state.runtime.db, ATTACKER, 60)
        blocked_at = time.monotonic()
        statuses: list[int] = []
        while time.monotonic() - blocked_at < 3.0:
            statuses.append((await victim.get("/students")).status_code)
            await asyncio.sleep(0.02)
    first_refusal = statuses.index(429)
    assert set(statuses[first_refusal:]) == {429}, statuses  # once seen, the block holds
    assert first_refusal * 0.02 <= 1.5, statuses  # within the key cache's second


async def test_an_idle_worker_learns_of_a_block_before_the_blocked_address_calls(
    app: FastAPI, second_worker: FastAPI, admin_token: str
) -> None:
    """The other worker never saw the address at all; its first request there is refused."""
    async with client_at(app, ATTACKER, "not-a-real-token") as attacker:
        await fail(attacker, 20)
    async with client_at(second_worker, ATTACKER, admin_token) as victim:
        assert_rate_limited(await victim.get("/students"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=second_worker, client=("10.0.0.99", 40000)),
        base_url="http://registrar.test",
        headers={"authorization": f"Bearer {admin_token}"},
    ) as bystander:
        assert (await bystander.get("/students")).status_code == 200
