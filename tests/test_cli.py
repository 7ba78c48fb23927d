"""The operator's command line (contract section 1): in-process through Typer's CliRunner or
`cli.main()` where that is enough, and through the installed console script where exit codes,
stderr and the server process are what is under test."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from registrar import cli
from registrar.app import create_app
from registrar.config import Settings
from registrar.migrations import runner
from tests import pgcluster
from tests.helpers import refused_within_a_second
from tests.serving import environment, run, serving

ROOT = Path(__file__).resolve().parent.parent
HEAD = runner.revision_ids(Settings(_env_file=None))[-1]  # type: ignore[call-arg]
TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,}$")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
SETTING_VARIABLES = [f"REGISTRAR_{name.upper()}" for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every command from an empty directory (no stray .env), with no REGISTRAR_* inherited."""
    monkeypatch.chdir(tmp_path)
    for variable in SETTING_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def invoke(url: str | None, *args: str) -> Result:
    """The command in-process; `url` None leaves the database to .env or the default."""
    env: dict[str, str | None] = dict.fromkeys(SETTING_VARIABLES)
    env["REGISTRAR_DATABASE_URL"] = url
    return CliRunner().invoke(cli.app, list(args), env=env)


def ok(url: str | None, *args: str) -> str:
    result = invoke(url, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


def main_exit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[Any, str, str]:
    """`cli.main()` in-process (the console script's entry point): exit code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["registrar", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def assert_one_line_failure(code: Any, out: str, err: str) -> None:
    assert code not in (0, None), (out, err)
    assert len(err.splitlines()) == 1, err
    assert err.strip()
    assert "Traceback" not in err + out
    assert out == ""


def query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    return runner.on_connection(settings, lambda c: [tuple(r) for r in c.execute(sa.text(sql))])


def key_lines(url: str) -> list[list[str]]:
    return [line.split("\t") for line in ok(url, "keys", "list").splitlines()]


@pytest.fixture(scope="module")
def sqlite_head(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database at head, for commands expected to fail without writing."""
    url = f"sqlite:///{tmp_path_factory.mktemp('head') / 'registrar.db'}"
    runner.upgrade(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    return url


@pytest.fixture
def empty_url(engine: str, postgres: pgcluster.ThrowawayPostgres | None, tmp_path: Path) -> Iterator[str]:
    """A new database without any table."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    assert postgres is not None
    name = f"cli_{uuid.uuid4().hex[:12]}"
    yield postgres.create_database(name)
    postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- help ----------------------------------------------------------------------------------------


def test_help_names_every_command() -> None:
    top, keys = ok(None, "--help"), ok(None, "keys", "--help")
    for command in ("serve", "migrate", "keys", "seed"):
        assert command in top
    for command in ("create", "list", "revoke"):
        assert command in keys


def test_console_script_help_names_every_command(tmp_path: Path) -> None:
    done = run(environment(), tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    for command in ("serve", "migrate", "keys", "seed"):
        assert command in done.stdout


def test_python_dash_m_registrar_works(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "registrar", "--help"],
        cwd=tmp_path,
        env=environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "migrate" in done.stdout


# --- migrate -------------------------------------------------------------------------------------


def test_migrate_builds_an_empty_database_to_head(empty_url: str) -> None:
    ok(empty_url, "migrate")
    assert runner.current_revision(Settings(database_url=empty_url, _env_file=None)) == HEAD  # type: ignore[call-arg]


def test_migrate_again_at_head_is_harmless(settings: Settings) -> None:
    token = ok(settings.database_url, "keys", "create", "--role", "admin").strip()
    ok(settings.database_url, "migrate")
    assert runner.current_revision(settings) == HEAD
    assert len(key_lines(settings.database_url)) == 1
    with TestClient(create_app(settings)) as client:
        assert client.get("/students", headers={"authorization": f"Bearer {token}"}).status_code == 200


def test_migrate_sql_prints_sqlite_ddl_without_touching_the_database(tmp_path: Path) -> None:
    out = ok(f"sqlite:///{tmp_path / 'never.db'}", "migrate", "--sql")
    assert "CREATE TABLE student_courses" in out
    assert "ALTER TABLE courses ADD COLUMN enrolled INTEGER NOT NULL DEFAULT 0 CONSTRAINT" in out
    assert "BIGSERIAL" not in out
    assert not (tmp_path / "never.db").exists()


def test_migrate_sql_prints_postgresql_ddl_without_a_server() -> None:
    out = ok("postgresql://nobody:secret@127.0.0.1:1/nowhere", "migrate", "--sql")
    assert "CREATE TABLE student_courses" in out
    assert "student_id BIGINT NOT NULL" in out
    assert "ALTER TABLE courses ADD CONSTRAINT ck_courses_seats_within_capacity" in out
    assert "id BIGSERIAL" in out


# --- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "name"), [("admin", None), ("admin", "ops"), ("reader", "dashboard")])
def test_keys_create_prints_the_token_alone(settings: Settings, role: str, name: str | None) -> None:
    out = ok(settings.database_url, "keys", "create", "--role", role, *(["--name", name] if name else []))
    assert out.endswith("\n")
    assert len(out.splitlines()) == 1
    token = out.strip()
    assert TOKEN.match(token), out
    [[_, listed_role, listed_name, _, _]] = key_lines(settings.database_url)
    assert (listed_role, listed_name) == (role, name or "-")


def test_keys_created_tokens_work_with_their_role(settings: Settings) -> None:
    admin = ok(settings.database_url, "keys", "create", "--role", "admin").strip()
    reader = ok(settings.database_url, "keys", "create", "--role", "reader").strip()
    assert admin != reader
    body = {"name": "Ada", "email": "ada@example.edu"}
    with TestClient(create_app(settings)) as client:
        assert (
            client.post("/students", json=body, headers={"authorization": f"Bearer {reader}"}).status_code
            == 403
        )
        assert (
            client.post("/students", json=body, headers={"authorization": f"Bearer {admin}"}).status_code
            == 201
        )
        assert client.get("/students", headers={"authorization": f"Bearer {reader}"}).status_code == 200


def test_keys_create_with_an_unknown_role_fails_with_one_line(
    sqlite_head: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGISTRAR_DATABASE_URL", sqlite_head)
    assert_one_line_failure(*main_exit(monkeypatch, capsys, "keys", "create", "--role", "root"))
    assert ok(sqlite_head, "keys", "list") == ""


def test_keys_list_prints_five_tab_separated_fields_and_never_a_token(settings: Settings) -> None:
    assert ok(settings.database_url, "keys", "list") == ""
    first = ok(settings.database_url, "keys", "create", "--role", "admin", "--name", "ops\tteam").strip()
    second = ok(settings.database_url, "keys", "create", "--role", "reader").strip()
    out = ok(settings.database_url, "keys", "list")
    assert first not in out
    assert second not in out
    rows = [line.split("\t") for line in out.splitlines()]
    assert [len(row) for row in rows] == [5, 5]
    assert [row[1:3] for row in rows] == [["admin", "ops team"], ["reader", "-"]]
    assert int(rows[0][0]) < int(rows[1][0])
    for _, _, _, created, revoked in rows:
        assert RFC3339_UTC.match(created), created
        assert revoked == "-"


def test_keys_revoke_fills_revoked_and_the_app_refuses_the_token_within_a_second(settings: Settings) -> None:
    token = ok(settings.database_url, "keys", "create", "--role", "admin").strip()
    [[key_id, *_]] = key_lines(settings.database_url)
    with TestClient(create_app(settings)) as client:
        refused_within_a_second(client, token, lambda: ok(settings.database_url, "keys", "revoke", key_id))
    [[_, _, _, _, revoked]] = key_lines(settings.database_url)
    assert RFC3339_UTC.match(revoked), revoked


def test_keys_revoke_twice_keeps_the_first_revocation_time(settings: Settings) -> None:
    ok(settings.database_url, "keys", "create", "--role", "reader")
    [[key_id, *_]] = key_lines(settings.database_url)
    ok(settings.database_url, "keys", "revoke", key_id)
    first = key_lines(settings.database_url)
    time.sleep(0.01)
    ok(settings.database_url, "keys", "revoke", key_id)
    assert key_lines(settings.database_url) == first
    assert first[0][4] != "-"


def test_keys_revoke_of_an_unknown_id_fails_with_one_line(
    sqlite_head: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGISTRAR_DATABASE_URL", sqlite_head)
    code, out, err = main_exit(monkeypatch, capsys, "keys", "revoke", "424242")
    assert_one_line_failure(code, out, err)
    assert "424242" in err


# --- seed ----------------------------------------------------------------------------------------


def seeded_counts(settings: Settings) -> tuple[int, int, int]:
    [row] = query(
        settings,
        "SELECT (SELECT count(*) FROM students), (SELECT count(*) FROM courses),"
        " (SELECT count(*) FROM student_courses)",
    )
    return row[0], row[1], row[2]


def test_seed_adds_students_and_courses_each_student_in_k_distinct_new_courses(settings: Settings) -> None:
    url = settings.database_url
    ok(url, "seed", "--students", "50", "--courses", "8", "--per-student", "3")
    assert seeded_counts(settings) == (50, 8, 150)
    [(last_student, last_course)] = query(
        settings, "SELECT max(id), (SELECT max(id) FROM courses) FROM students"
    )

    ok(url, "seed", "--students", "40", "--courses", "5", "--per-student", "5")
    assert seeded_counts(settings) == (90, 13, 150 + 200)
    per_student = query(
        settings, "SELECT student_id, count(DISTINCT course_id) FROM student_courses GROUP BY student_id"
    )
    assert len(per_student) == 90
    assert {n for s, n in per_student if s <= last_student} == {3}
    assert {n for s, n in per_student if s > last_student} == {5}
    # A new student is enrolled in new courses only, and the old ones did not move.
    mixed = query(
        settings,
        f"SELECT count(*) FROM student_courses WHERE (student_id > {last_student}) <> (course_id > {last_course})",
    )
    assert mixed == [(0,)]
    assert query(settings, "SELECT count(*) FROM courses WHERE capacity IS NOT NULL") == [(0,)]
    stale = query(
        settings,
        "SELECT count(*) FROM courses c WHERE c.enrolled <>"
        " (SELECT count(*) FROM student_courses sc WHERE sc.course_id = c.id)",
    )
    assert stale == [(0,)]
    assert query(settings, "SELECT count(DISTINCT email), count(*) FROM students") == [(90, 90)]


def test_seed_adds_to_rows_made_through_the_api(settings: Settings) -> None:
    token = ok(settings.database_url, "keys", "create", "--role", "admin").strip()
    headers = {"authorization": f"Bearer {token}"}
    with TestClient(create_app(settings)) as client:
        student = client.post("/students", json={"name": "Ada", "email": "ada@example.edu"}, headers=headers)
        course = client.post(
            "/courses", json={"code": "CS101", "title": "Computing", "capacity": 2}, headers=headers
        )
        assert (student.status_code, course.status_code) == (201, 201)
        ok(settings.database_url, "seed", "--students", "10", "--courses", "3", "--per-student", "2")
        students = client.get("/students", headers=headers).json()["items"]
        courses = client.get("/courses", params={"limit": 1000}, headers=headers).json()["items"]
    assert len(students) == 11
    assert students[0] == student.json()
    assert len(courses) == 4
    assert courses[0] == course.json()
    assert sum(c["enrolled"] for c in courses) == 20
    assert [c["capacity"] for c in courses[1:]] == [None, None, None]


def test_seed_more_per_student_than_courses_fails_and_writes_nothing(
    sqlite_head: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGISTRAR_DATABASE_URL", sqlite_head)
    args = ("seed", "--students", "5", "--courses", "2", "--per-student", "3")
    assert_one_line_failure(*main_exit(monkeypatch, capsys, *args))
    head = Settings(database_url=sqlite_head, _env_file=None)  # type: ignore[call-arg]
    assert seeded_counts(head) == (0, 0, 0)


def test_seed_of_ten_thousand_students_is_fast(settings: Settings) -> None:
    started = time.monotonic()
    ok(settings.database_url, "seed", "--students", "10000", "--courses", "200", "--per-student", "5")
    elapsed = time.monotonic() - started
    assert seeded_counts(settings) == (10_000, 200, 50_000)
    assert query(settings, "SELECT sum(enrolled) FROM courses") == [(50_000,)]
    assert elapsed < 30, f"seeding took {elapsed:.1f} s"


# --- settings ------------------------------------------------------------------------------------


def test_settings_are_read_from_a_dotenv_file_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REGISTRAR_DATABASE_URL=sqlite:///./from-dotenv.db\n")
    ok(None, "migrate")
    assert (tmp_path / "from-dotenv.db").exists()
    assert not (tmp_path / "registrar.db").exists()
    assert (
        runner.current_revision(Settings(database_url="sqlite:///./from-dotenv.db", _env_file=None)) == HEAD
    )  # type: ignore[call-arg]


def test_the_environment_wins_over_the_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REGISTRAR_DATABASE_URL=sqlite:///./from-dotenv.db\n")
    done = run(environment("sqlite:///./from-env.db"), tmp_path, "migrate")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-env.db").exists()
    assert not (tmp_path / "from-dotenv.db").exists()


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    listed = re.findall(r"^#?\s*(REGISTRAR_[A-Z0-9_]+)=", example, flags=re.MULTILINE)
    assert sorted(listed) == sorted(SETTING_VARIABLES)


# --- every failure: non-zero, one line on stderr, no traceback ------------------------------------

FAILURES = {
    "unknown role": ("keys", "create", "--role", "root"),
    "missing role": ("keys", "create"),
    "unknown key id": ("keys", "revoke", "424242"),
    "key id not a number": ("keys", "revoke", "seven"),
    "more per student than courses": ("seed", "--students", "5", "--courses", "2", "--per-student", "3"),
    "negative count": ("seed", "--students", "-1"),
    "unknown revision": ("migrate", "--to", "9999"),
    "unknown option": ("migrate", "--frobnicate"),
}


@pytest.mark.parametrize("args", list(FAILURES.values()), ids=list(FAILURES))
def test_failure_is_one_line_on_stderr(
    sqlite_head: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
) -> None:
    monkeypatch.setenv("REGISTRAR_DATABASE_URL", sqlite_head)
    assert_one_line_failure(*main_exit(monkeypatch, capsys, *args))


@pytest.mark.parametrize(
    "url",
    ["mysql://root:secret@localhost/registrar", "postgresql://nobody:secret@127.0.0.1:1/nowhere"],
    ids=["unsupported engine", "unreachable server"],
)
def test_database_trouble_is_one_line_on_stderr(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REGISTRAR_DATABASE_URL", url)
    code, out, err = main_exit(monkeypatch, capsys, "keys", "list")
    assert_one_line_failure(code, out, err)
    assert "secret" not in err


@pytest.mark.parametrize(
    "args",
    [FAILURES["unknown role"], FAILURES["unknown key id"], FAILURES["unknown revision"]],
    ids=["unknown role", "unknown key id", "unknown revision"],
)
def test_console_script_failure_is_one_line_on_stderr(
    tmp_path: Path, sqlite_head: str, args: tuple[str, ...]
) -> None:
    done = run(environment(sqlite_head), tmp_path, *args)
    assert_one_line_failure(done.returncode, done.stdout, done.stderr)


def test_console_script_with_an_unreachable_database_fails_with_one_line(tmp_path: Path) -> None:
    done = run(environment("postgresql://nobody:secret@127.0.0.1:1/nowhere"), tmp_path, "keys", "list")
    assert_one_line_failure(done.returncode, done.stdout, done.stderr)
    assert "secret" not in done.stderr


# --- serve ---------------------------------------------------------------------------------------


def serve_once(tmp_path: Path, url: str) -> tuple[str, int]:
    """Start `registrar serve`, wait until it answers, stop it with SIGTERM; its stdout and port."""
    with serving(environment(url), tmp_path) as server:
        pass
    return server.stdout(), server.port


@pytest.mark.slow
def test_serve_on_an_empty_database_migrates_and_prints_one_admin_token_once(
    tmp_path: Path, empty_url: str
) -> None:
    with serving(environment(empty_url), tmp_path) as server:
        first_lines = server.stdout().splitlines()[:2]
        token = first_lines[0].rsplit(" ", 1)[-1].strip()
        assert TOKEN.match(token), first_lines
        headers = {"authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{server.url}/students", json={"name": "Ada", "email": "ada@example.edu"}, headers=headers
        )
        assert created.status_code == 201, created.text
        assert httpx.get(f"{server.url}/docs", timeout=5).status_code == 200
    out = server.stdout()
    assert out.count(token) == 1, out
    assert [line for line in out.splitlines() if "/docs" in line] == [f"API docs: {server.url}/docs"]
    settings = Settings(database_url=empty_url, _env_file=None)  # type: ignore[call-arg]
    assert runner.current_revision(settings) == HEAD
    assert [row[1:3] for row in key_lines(empty_url)] == [["admin", "first admin key"]]


@pytest.mark.slow
def test_serve_prints_no_token_on_a_second_start(tmp_path: Path, empty_url: str) -> None:
    first, _ = serve_once(tmp_path, empty_url)
    assert "First admin key" in first
    second, port = serve_once(tmp_path, empty_url)
    assert second.splitlines() == [f"API docs: http://127.0.0.1:{port}/docs"]
    assert len(key_lines(empty_url)) == 1
