"""The migrations on both engines: pytest-alembic's standard checks, data surviving an upgrade and a
downgrade, each downgrade undoing exactly its upgrade, and `registrar migrate --to`.

Each test builds its own empty database (a file, or a new PostgreSQL database) with the migrations."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_alembic
import sqlalchemy as sa
from pytest_alembic import tests as alembic_checks
from pytest_alembic.config import Config
from sqlalchemy import Connection
from typer.testing import CliRunner

from registrar import cli
from registrar.config import Settings
from registrar.migrations import runner
from registrar.migrations.types import ID, TIMESTAMP
from tests import pgcluster

STUDENTS = sa.table(
    "students",
    sa.column("id", ID),
    sa.column("name", sa.String),
    sa.column("email", sa.String),
    sa.column("created_at", TIMESTAMP),
    sa.column("updated_at", TIMESTAMP),
)
COURSES_0001 = sa.table(
    "courses",
    sa.column("id", ID),
    sa.column("code", sa.String),
    sa.column("title", sa.String),
    sa.column("capacity", sa.Integer),
    sa.column("created_at", TIMESTAMP),
    sa.column("updated_at", TIMESTAMP),
)
REVISIONS = runner.revision_ids(Settings(database_url="sqlite:///unused.db", _env_file=None))  # type: ignore[call-arg]
HEAD = REVISIONS[-1]
ENROLLMENTS = sa.table(
    "student_courses",
    sa.column("student_id", ID),
    sa.column("course_id", ID),
    sa.column("enrolled_at", TIMESTAMP),
)


@pytest.fixture
def fresh_url(engine: str, postgres: pgcluster.ThrowawayPostgres | None, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database of this engine (no tables at all)."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    assert postgres is not None
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    yield postgres.create_database(name)
    postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def fresh(fresh_url: str) -> Settings:
    return Settings(database_url=fresh_url, _env_file=None)  # type: ignore[call-arg]


# --- pytest-alembic's standard checks ------------------------------------------------------------
# Our env.py migrates on the open Connection it finds in `config.attributes["connection"]`.
# pytest-alembic's `alembic_engine` fixture would put an Engine (or AsyncEngine) there, and only
# asyncpg is installed for PostgreSQL, so there is no sync engine to give it. Instead each check runs
# inside runner.on_connection (the path `registrar migrate` takes): a real sync Connection on
# SQLite, and asyncpg driven through run_sync on PostgreSQL, handed to pytest_alembic.runner.


def run_alembic_check(settings: Settings, check: Callable[[pytest_alembic.MigrationContext], None]) -> None:
    def on(connection: Connection) -> None:
        config = Config.from_raw_config(runner.alembic_config(settings))
        with pytest_alembic.runner(config=config, engine=connection) as alembic_runner:
            check(alembic_runner)

    runner.on_connection(settings, on)


def test_history_has_a_single_head(fresh: Settings) -> None:
    run_alembic_check(fresh, alembic_checks.test_single_head_revision)


def test_history_upgrades_from_empty_to_head(fresh: Settings) -> None:
    run_alembic_check(fresh, alembic_checks.test_upgrade)
    assert runner.current_revision(fresh) == HEAD


def test_models_match_the_schema_the_migrations_build(fresh: Settings) -> None:
    run_alembic_check(fresh, alembic_checks.test_model_definitions_match_ddl)


def test_every_revision_downgrades_and_upgrades_again(fresh: Settings) -> None:
    run_alembic_check(fresh, alembic_checks.test_up_down_consistency)


# --- data survives -------------------------------------------------------------------------------

T0 = datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=UTC)


def student_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "name": f"Étudiante №{i} 学生",
            "email": f"s{i}@example.edu",
            "created_at": T0 + timedelta(seconds=i, microseconds=i),
            "updated_at": T0 + timedelta(days=1, microseconds=i),
        }
        for i in range(1, count + 1)
    ]


def course_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "code": f"C{i}.X-{i}",
            "title": f"Course “{i}”",
            "capacity": None if i % 3 == 0 else (i * 97) % 100_001,
            "created_at": T0 - timedelta(minutes=i),
            "updated_at": T0 + timedelta(microseconds=7 * i),
        }
        for i in range(1, count + 1)
    ]


def insert(settings: Settings, table: sa.TableClause, rows: list[dict[str, Any]]) -> None:
    runner.on_connection(settings, lambda c: c.execute(sa.insert(table), rows))


def rows_of(settings: Settings, table: sa.TableClause) -> list[tuple[Any, ...]]:
    order = list(table.primary_key) or [table.c[n] for n in table.c.keys()[:2]]
    return runner.on_connection(
        settings, lambda c: [tuple(r) for r in c.execute(sa.select(table).order_by(*order))]
    )


def scalar(settings: Settings, sql: str) -> Any:
    return runner.on_connection(settings, lambda c: c.execute(sa.text(sql)).scalar())


def table_names(settings: Settings) -> set[str]:
    return runner.on_connection(settings, lambda c: set(sa.inspect(c).get_table_names()))


def column_names(settings: Settings, table: str) -> list[str]:
    return runner.on_connection(settings, lambda c: [col["name"] for col in sa.inspect(c).get_columns(table)])


def test_rows_survive_upgrade_to_head_and_downgrade_to_0001(fresh: Settings) -> None:
    runner.upgrade(fresh, "0001")
    insert(fresh, STUDENTS, student_rows(10_000))
    insert(fresh, COURSES_0001, course_rows(1_000))
    students, courses = rows_of(fresh, STUDENTS), rows_of(fresh, COURSES_0001)
    assert (len(students), len(courses)) == (10_000, 1_000)

    runner.upgrade(fresh)
    assert runner.current_revision(fresh) == HEAD
    assert rows_of(fresh, STUDENTS) == students
    assert rows_of(fresh, COURSES_0001) == courses
    assert scalar(fresh, "SELECT count(*) FROM courses WHERE enrolled <> 0") == 0

    enrolled_at = T0 + timedelta(days=2)
    insert(
        fresh,
        ENROLLMENTS,
        [{"student_id": s, "course_id": 1 + s % 500, "enrolled_at": enrolled_at} for s in range(1, 2001)],
    )
    runner.on_connection(
        fresh,
        lambda c: c.execute(
            sa.text(
                "UPDATE courses SET enrolled = (SELECT count(*) FROM student_courses WHERE course_id = courses.id)"
            )
        ),
    )
    assert scalar(fresh, "SELECT sum(enrolled) FROM courses") == 2000

    runner.migrate_to(fresh, "0001")
    assert runner.current_revision(fresh) == "0001"
    assert "student_courses" not in table_names(fresh)
    assert column_names(fresh, "courses") == ["id", "code", "title", "capacity", "created_at", "updated_at"]
    assert rows_of(fresh, STUDENTS) == students
    assert rows_of(fresh, COURSES_0001) == courses

    runner.upgrade(fresh)
    assert runner.current_revision(fresh) == HEAD
    assert scalar(fresh, "SELECT count(*) FROM student_courses") == 0
    assert scalar(fresh, "SELECT sum(enrolled) FROM courses") == 0
    assert rows_of(fresh, STUDENTS) == students


# --- each downgrade undoes exactly its upgrade ---------------------------------------------------


def inventory(connection: Connection) -> set[tuple[Any, ...]]:
    """Every table, column, index and constraint, as comparable tuples."""
    inspector = sa.inspect(connection)
    found: set[tuple[Any, ...]] = set()
    for table in inspector.get_table_names():
        found.add(("table", table))
        for col in inspector.get_columns(table):
            default = col.get("default")
            found.add(("column", table, col["name"], str(col["type"]), col["nullable"], str(default)))
        pk = inspector.get_pk_constraint(table)
        found.add(("primary key", table, pk.get("name"), tuple(pk["constrained_columns"])))
        for ix in inspector.get_indexes(table):
            found.add(("index", table, ix["name"], tuple(ix["column_names"]), bool(ix["unique"])))
            order = tuple(sorted(ix.get("column_sorting", {}).items()))
            options = tuple(sorted((k, str(v)) for k, v in ix.get("dialect_options", {}).items()))
            found.add(("index order", table, ix["name"], order, options))
        for uq in inspector.get_unique_constraints(table):
            found.add(("unique", table, uq["name"], tuple(uq["column_names"])))
        for ck in inspector.get_check_constraints(table):
            found.add(("check", table, ck["name"], " ".join(ck["sqltext"].split())))
        for fk in inspector.get_foreign_keys(table):
            found.add(
                (
                    "foreign key",
                    table,
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete"),
                )
            )
    if connection.dialect.name == "sqlite":  # whose reflection leaves out an index's sort order
        rows = connection.exec_driver_sql(
            "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index'"
        )
        found.update(("index sql", table, name, " ".join((sql or "").split())) for table, name, sql in rows)
    return found


def inventory_at(settings: Settings) -> set[tuple[Any, ...]]:
    return runner.on_connection(settings, inventory)


def test_downgrade_of_0002_removes_only_what_0002_added(fresh: Settings) -> None:
    runner.upgrade(fresh, "0001")
    before = inventory_at(fresh)
    runner.upgrade(fresh, "0002")
    added = inventory_at(fresh) - before
    assert ("table", "student_courses") in added
    assert any(item[:3] == ("column", "courses", "enrolled") for item in added)
    assert any(item[:3] == ("check", "courses", "ck_courses_seats_within_capacity") for item in added)
    assert any(
        item[:3] == ("index", "student_courses", "ix_student_courses_course_id_student_id") for item in added
    )
    assert {item[1] for item in added} == {"student_courses", "courses"}

    runner.migrate_to(fresh, "0001")
    assert runner.current_revision(fresh) == "0001"
    assert inventory_at(fresh) == before


# Revisions that change one engine's schema only: on the other they only move the version.
ONE_ENGINE_ONLY = {"0010": "sqlite"}


@pytest.mark.parametrize(("previous", "revision"), list(itertools.pairwise(REVISIONS)))
def test_each_downgrade_restores_the_previous_schema(fresh: Settings, previous: str, revision: str) -> None:
    runner.upgrade(fresh, previous)
    before = inventory_at(fresh)
    runner.upgrade(fresh, revision)
    changes_schema = ONE_ENGINE_ONLY.get(revision, fresh.engine) == fresh.engine
    assert (inventory_at(fresh) != before) == changes_schema
    runner.migrate_to(fresh, previous)
    assert inventory_at(fresh) == before


def test_downgrade_to_base_leaves_only_the_version_table(fresh: Settings) -> None:
    runner.upgrade(fresh)
    runner.migrate_to(fresh, "base")
    assert table_names(fresh) == {"alembic_version"}
    assert runner.current_revision(fresh) is None


# --- registrar migrate --to ----------------------------------------------------------------------


def migrate(settings: Settings, *args: str) -> None:
    result = CliRunner().invoke(
        cli.app, ["migrate", *args], env={"REGISTRAR_DATABASE_URL": settings.database_url}
    )
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)


def test_migrate_to_base_then_head(fresh: Settings) -> None:
    migrate(fresh)
    assert runner.current_revision(fresh) == HEAD
    migrate(fresh, "--to", "base")
    assert runner.current_revision(fresh) is None
    assert table_names(fresh) == {"alembic_version"}
    migrate(fresh, "--to", "head")
    assert runner.current_revision(fresh) == HEAD
    assert {"students", "courses", "student_courses", "api_keys"} <= table_names(fresh)


def test_migrate_to_an_older_revision_goes_down_and_a_newer_one_up(fresh: Settings) -> None:
    migrate(fresh)
    migrate(fresh, "--to", "0002")
    assert runner.current_revision(fresh) == "0002"
    assert "api_keys" not in table_names(fresh)
    migrate(fresh, "--to", "0003")
    assert runner.current_revision(fresh) == "0003"
    assert "api_keys" in table_names(fresh)


def test_migrate_to_a_revision_on_an_empty_database_goes_up(fresh: Settings) -> None:
    migrate(fresh, "--to", "0002")
    assert runner.current_revision(fresh) == "0002"
    assert "student_courses" in table_names(fresh)


def test_migrate_to_an_unknown_revision_fails_with_one_line_and_changes_nothing(
    fresh: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(fresh, "--to", "0002")
    monkeypatch.setenv("REGISTRAR_DATABASE_URL", fresh.database_url)
    monkeypatch.setattr("sys.argv", ["registrar", "migrate", "--to", "9999"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    out, err = capsys.readouterr()
    assert exit_info.value.code not in (0, None)
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "9999" in err
    assert "Traceback" not in err
    assert runner.current_revision(fresh) == "0002"
