"""Fixtures: every test that takes `settings` (or anything built on it) runs on SQLite and on a real
PostgreSQL server, through the real ASGI app, on a schema built by the migrations."""

from __future__ import annotations

import asyncio
import inspect
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from registrar.app import create_app
from registrar.config import Settings
from registrar.migrations import runner
from registrar.services import keys
from tests import pgcluster

TABLES = (
    "oneroster_enrollments",
    "oneroster_users",
    "oneroster_classes",
    "enrollment_events",
    "waitlist_entries",
    "student_courses",
    "students",
    "courses",
    "idempotency_keys",
    "api_keys",
    "auth_failures",
)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    """Every `async def` test runs on anyio's asyncio backend, without a marker in each module."""
    if collector.funcnamefilter(name) and inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres() -> Iterator[pgcluster.ThrowawayPostgres | None]:
    if not pgcluster.available():
        yield None
        return
    cluster = pgcluster.ThrowawayPostgres()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, postgres: pgcluster.ThrowawayPostgres | None) -> str:
    if request.param == "postgresql" and postgres is None:
        pytest.skip(f"PostgreSQL half skipped: no server binaries in {pgcluster.PG_BIN}")
    return str(request.param)


@pytest.fixture(scope="session")
def migrated(
    engine: str, postgres: pgcluster.ThrowawayPostgres | None, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A database at head, built once per engine: a template file (SQLite) or a database (PostgreSQL)."""
    if engine == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'registrar.db'}"
    else:
        assert postgres is not None
        url = postgres.create_database("registrar_test")
    runner.upgrade(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    return url


def empty_tables(url: str) -> None:
    async def truncate() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

    asyncio.run(truncate())


def make_settings(url: str, **overrides: Any) -> Settings:
    return Settings(database_url=url, access_log=False, _env_file=None, **overrides)  # type: ignore[call-arg]


@pytest.fixture
def settings(engine: str, migrated: str, tmp_path: Path) -> Settings:
    """Settings of a clean database at head: a copy of the template file, or emptied tables."""
    if engine == "sqlite":
        path = tmp_path / "registrar.db"
        shutil.copyfile(migrated.split(":///", 1)[1], path)
        return make_settings(f"sqlite:///{path}")
    empty_tables(migrated)
    return make_settings(migrated)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def client_for(app: FastAPI, token: str | None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://registrar.test", headers=headers
    )


@pytest.fixture
async def admin_token(app: FastAPI) -> str:
    return await keys.create_key(app.state.runtime.db, "admin", "test admin")


@pytest.fixture
async def reader_token(app: FastAPI) -> str:
    return await keys.create_key(app.state.runtime.db, "reader", "test reader")


@pytest.fixture
async def admin(app: FastAPI, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, admin_token) as client:
        yield client


@pytest.fixture
async def reader(app: FastAPI, reader_token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, reader_token) as client:
        yield client


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, None) as client:
        yield client
