"""Fixtures: every test that takes `settings` (or anything built on it) runs on SQLite and on a real
PostgreSQL server, through the real ASGI app, on a schema built by the migrations. The HTTP contract
tests (tests/api/) and those marked `pgbouncer` run a third time, through PgBouncer in transaction
mode in front of that server."""

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
from tests import pgbouncer as bouncer
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
API_TESTS = Path(__file__).resolve().parent / "api"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pgbouncer: also runs through PgBouncer in transaction mode")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PgBouncer engine only where the contract's guarantees are checked over HTTP: through the
    pooler the other tests would add minutes and exercise no code path the HTTP tests miss."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        pooled = callspec is not None and callspec.params.get("engine") == "pgbouncer"
        wanted = API_TESTS in item.path.parents or item.get_closest_marker("pgbouncer") is not None
        (dropped if pooled and not wanted else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


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


@pytest.fixture(scope="session")
def pgbouncer(postgres: pgcluster.ThrowawayPostgres | None) -> Iterator[bouncer.ThrowawayPgBouncer | None]:
    if postgres is None or not bouncer.available():
        yield None
        return
    pooler = bouncer.ThrowawayPgBouncer(postgres)
    try:
        yield pooler
    finally:
        pooler.destroy()


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "pgbouncer"])
def engine(request: pytest.FixtureRequest, postgres: pgcluster.ThrowawayPostgres | None) -> str:
    if request.param != "sqlite" and postgres is None:
        pytest.skip(f"PostgreSQL half skipped: no server binaries in {pgcluster.PG_BIN}")
    if request.param == "pgbouncer" and request.getfixturevalue("pgbouncer") is None:
        pytest.skip(f"PgBouncer runs skipped: no {bouncer.PGBOUNCER}")
    return str(request.param)


@pytest.fixture(scope="session")
def migrated(
    request: pytest.FixtureRequest,
    engine: str,
    postgres: pgcluster.ThrowawayPostgres | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    """A database at head, built once per engine: a template file (SQLite) or a database (PostgreSQL,
    reached directly or through PgBouncer)."""
    if engine == "sqlite":
        settings = make_settings(f"sqlite:///{tmp_path_factory.mktemp('template') / 'registrar.db'}")
    elif engine == "postgresql":
        assert postgres is not None
        settings = make_settings(postgres.create_database("registrar_test"))
    else:
        assert postgres is not None
        pooler: bouncer.ThrowawayPgBouncer = request.getfixturevalue("pgbouncer")
        direct = postgres.create_database("registrar_pooled")
        settings = make_settings(pooler.url("registrar_pooled"), database_direct_url=direct)
    runner.upgrade(settings)  # behind the pooler, on the server itself
    return settings


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
def settings(engine: str, migrated: Settings, tmp_path: Path) -> Settings:
    """Settings of a clean database at head: a copy of the template file, or emptied tables."""
    if engine == "sqlite":
        path = tmp_path / "registrar.db"
        shutil.copyfile(migrated.sqlite_path, path)
        return make_settings(f"sqlite:///{path}")
    empty_tables(migrated.direct().database_url)
    return migrated.model_copy()


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
