"""The SQL files for DBAs (src/registrar/migrations/sql/): one per revision, each exactly what the
migrations generate now, and together they build the same schema as `registrar migrate`.
Regenerate them with `.venv/bin/python scripts/write_sql_files.py`."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from scripts.write_sql_files import SQL_DIR, expected_files

from registrar.config import Settings
from registrar.migrations import runner
from tests import pgcluster
from tests.test_migrations import inventory

EXPECTED = expected_files()
REGENERATE = "stale SQL files: run .venv/bin/python scripts/write_sql_files.py"


def test_every_revision_has_a_sql_file_and_no_file_is_left_over() -> None:
    assert sorted(p.name for p in SQL_DIR.glob("*.sql")) == sorted(EXPECTED), REGENERATE


def test_one_file_per_revision_in_order() -> None:
    revisions = runner.revision_ids(Settings(_env_file=None))  # type: ignore[call-arg]
    assert [name.split("_", 1)[0] for name in EXPECTED] == revisions


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sql_file_is_what_its_revision_generates(name: str) -> None:
    path = SQL_DIR / name
    assert path.exists(), REGENERATE
    assert path.read_text(encoding="utf-8") == EXPECTED[name], REGENERATE


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sql_file_holds_only_its_own_revision(name: str) -> None:
    revision = name.split("_", 1)[0]
    text = EXPECTED[name]
    assert text.startswith("BEGIN;")
    assert text.rstrip().endswith("COMMIT;")
    assert text.count("-- Running upgrade") == 1
    assert f"-> {revision}\n" in text


def test_sql_files_build_the_schema_the_migrations_build(
    postgres: pgcluster.ThrowawayPostgres | None,
) -> None:
    if postgres is None:
        pytest.skip("needs PostgreSQL")
    by_files, by_migrations = (f"sqlfiles_{uuid.uuid4().hex[:10]}" for _ in range(2))
    files_url = postgres.create_database(by_files)
    migrations_url = postgres.create_database(by_migrations)
    try:

        async def apply_files() -> None:
            conn = await asyncpg.connect(files_url)
            try:
                for name in sorted(EXPECTED):
                    await conn.execute((SQL_DIR / name).read_text(encoding="utf-8"))
            finally:
                await conn.close()

        asyncio.run(apply_files())
        from_files = Settings(database_url=files_url, _env_file=None)  # type: ignore[call-arg]
        from_migrations = Settings(database_url=migrations_url, _env_file=None)  # type: ignore[call-arg]
        runner.upgrade(from_migrations)
        assert runner.current_revision(from_files) == runner.current_revision(from_migrations)
        assert runner.on_connection(from_files, inventory) == runner.on_connection(from_migrations, inventory)
    finally:
        for name in (by_files, by_migrations):
            postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
