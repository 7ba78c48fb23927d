"""The brute-force limit kept in Redis (REGISTRAR_REDIS_URL), against a real redis-server."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from registrar.app import create_app
from registrar.config import Settings
from registrar.db import Sql
from registrar.services import keys
from tests.conftest import make_settings
from tests.helpers import assert_problem
from tests.pgcluster import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="no redis-server on this machine"
)

ATTACKER, BYSTANDER = "10.1.0.1", "10.1.0.2"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while (
        subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip()
        != "PONG"
    ):
        assert time.time() < deadline, "redis-server did not start"
        time.sleep(0.1)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
async def redis_app(settings: Settings, redis_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(settings.database_url, redis_url=redis_url))
    async with application.router.lifespan_context(application):
        yield application


def client_at(app: FastAPI, address: str, token: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 4000))
    return httpx.AsyncClient(
        transport=transport, base_url="http://registrar.test", headers={"authorization": f"Bearer {token}"}
    )


async def failures_table_rows(app: FastAPI) -> int:
    async with app.state.runtime.db.connection() as conn:
        rows = await conn.fetch(Sql("SELECT address FROM auth_failures"))
    return len(rows)


async def test_twenty_failures_counted_in_redis_block_the_address(redis_app: FastAPI) -> None:
    token = await keys.create_key(redis_app.state.runtime.db, "admin", "redis test")
    async with (
        client_at(redis_app, ATTACKER, "not-a-key") as attacker,
        client_at(redis_app, ATTACKER, token) as victim,
        client_at(redis_app, BYSTANDER, token) as bystander,
    ):
        for _ in range(19):
            assert_problem(await attacker.get("/students"), 401, "unauthorized")
        assert (await victim.get("/students")).status_code == 200
        assert_problem(await attacker.get("/students"), 401, "unauthorized")  # the 20th
        blocked = assert_problem(await victim.get("/students"), 429, "rate-limited")
        assert blocked["status"] == 429
        response = await victim.get("/courses")
        assert 55 <= int(response.headers["retry-after"]) <= 60
        assert (await bystander.get("/students")).status_code == 200
    assert await failures_table_rows(redis_app) == 0  # the count lived in Redis, not the database


async def test_redis_gone_is_a_503_not_a_500(settings: Settings) -> None:
    gone = f"redis://127.0.0.1:{free_port()}/0"
    application = create_app(make_settings(settings.database_url, redis_url=gone))
    async with (
        application.router.lifespan_context(application),
        client_at(application, ATTACKER, "not-a-key") as attacker,
    ):
        response = await attacker.get("/students")
    assert_problem(response, 503, "service-unavailable")
    assert response.headers["retry-after"]
