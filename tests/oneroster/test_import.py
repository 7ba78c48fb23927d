"""`registrar import oneroster` (contract §9) on both engines: the plan, the outcome in the database
and the report, through the service and through the command line."""

from __future__ import annotations

import gc
import json
import logging
import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from registrar import cli
from registrar.config import Settings
from registrar.db import Database, Sql, open_database
from registrar.db.queries import oneroster as oneroster_queries
from registrar.services.oneroster import STEPS, ImportOptions, Outcome, import_package
from tests.oneroster.packages import CLASSES, ENROLLMENTS, USERS, manifest, small_package, write
from tests.oneroster.test_reader import SAMPLES


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await open_database(settings)
    try:
        yield database
    finally:
        await database.close()


async def run(db: Database, path: Path, **options: Any) -> Outcome:
    return await import_package(db, path, ImportOptions(**options))


async def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.connection() as conn:
        return [tuple(r) for r in await conn.fetch(Sql(sql))]


async def enrollments(db: Database) -> list[tuple[str, str]]:
    return await rows(  # type: ignore[return-value]
        db,
        "SELECT s.email, c.code FROM student_courses sc JOIN students s ON s.id = sc.student_id "
        "JOIN courses c ON c.id = sc.course_id ORDER BY 1, 2",
    )


async def events(db: Database) -> list[tuple[Any, ...]]:
    return await rows(db, "SELECT student_id, course_id, change, cause FROM enrollment_events ORDER BY id")


def package(tmp_path: Path, name: str = "p", **files: str | bytes) -> Path:
    return write(tmp_path / name, small_package(**files), "folder")


def delta(tmp_path: Path, name: str, users: str = "", classes: str = "", enrolls: str = "") -> Path:
    files = {"manifest.csv": manifest("delta"), "users.csv": USERS + users, "classes.csv": CLASSES + classes}
    files["enrollments.csv"] = ENROLLMENTS + enrolls
    return write(tmp_path / name, files, "folder")


TWO = {
    "users.csv": USERS + "u1,,,Ada,Lovelace,ada@example.edu\nu2,,,Alan,Turing,alan@example.edu\n",
    "classes.csv": CLASSES + "c1,,,Analytical Engines,AE 101\n",
    "enrollments.csv": ENROLLMENTS + "e1,,,c1,u1,student\ne2,,,c1,u2,student\n",
}


@pytest.mark.parametrize("layout", ["folder", "zip"])
async def test_catalyst_bulk_makes_the_two_students_of_its_one_class(db: Database, layout: str) -> None:
    path = SAMPLES / "catalyst-v1p2-bulk" / ("v1p2_full_dataset.zip" if layout == "zip" else "")
    outcome = await run(db, path)

    assert outcome.applied and outcome.errors == []
    assert outcome.plan.counts["students"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert outcome.plan.counts["skipped"] == {
        "not-a-student": 4,
        "reference-tobedeleted": 2,
        "role:teacher": 2,
    }
    assert await enrollments(db) == [
        ("jim.smith@myschool.com", "PHYS-100-1"),
        ("mmichel.jones2@myschool.com", "PHYS-100-1"),
    ]
    assert [e[2:] for e in await events(db)] == [("enrolled", "import")] * 2


async def test_catalyst_delta_user_without_email_writes_nothing(db: Database) -> None:
    outcome = await run(db, SAMPLES / "catalyst-v1p2-delta")

    assert not outcome.applied and outcome.failure == "1 errors: nothing written"
    assert [(d.file, d.line, d.code) for d in outcome.errors] == [("users.csv", 2, "missing-email")]
    assert await rows(db, "SELECT id FROM courses") == []


async def test_catalyst_delta_with_skip_invalid_makes_only_the_class(db: Database) -> None:
    outcome = await run(db, SAMPLES / "catalyst-v1p2-delta", skip_invalid=True)

    assert outcome.applied
    assert await rows(db, "SELECT code, title FROM courses") == [("CLASS_001", "Basic Detection")]
    assert await rows(db, "SELECT id FROM students") == []


async def test_edfi_makes_ten_enrollments_once_each(db: Database) -> None:
    outcome = await run(db, SAMPLES / "edfi-lms-toolkit-v1p1")

    assert outcome.applied and outcome.roster.source == "ClassLink"
    assert outcome.plan.counts["enrollments"] == {"added": 10, "dropped": 0, "unchanged": 0}
    assert sorted(r[0] for r in await rows(db, "SELECT code FROM courses")) == ["ALGEBRA-I", "ENGLISH-I"]


async def test_lepo_keeps_japanese_titles(db: Database) -> None:
    outcome = await run(db, SAMPLES / "lepo-roster-hub-v1p1-ja" / "oneroster.zip")

    assert outcome.applied
    assert outcome.plan.counts["students"]["created"] == 18
    assert ("C401", "情報処理入門") in await rows(db, "SELECT code, title FROM courses")


@pytest.mark.parametrize("name", ["catalyst-v1p2-bulk", "edfi-lms-toolkit-v1p1", "lepo-roster-hub-v1p1-ja"])
async def test_reimporting_a_sample_changes_nothing_and_keeps_the_digest(db: Database, name: str) -> None:
    first = await run(db, SAMPLES / name)
    dry = await run(db, SAMPLES / name, dry_run=True)
    again = await run(db, SAMPLES / name)

    assert first.applied and not dry.applied and again.applied
    assert not again.plan.changes
    assert again.plan.counts["enrollments"]["added"] == 0
    assert dry.digest == again.digest != first.digest
    assert again.plan.counts["enrollments"]["unchanged"] == first.plan.counts["enrollments"]["added"]


async def test_the_same_package_against_the_same_data_gives_the_same_digest(
    db: Database, tmp_path: Path
) -> None:
    reordered = dict(TWO, **{"enrollments.csv": ENROLLMENTS + "e2,,,c1,u2,student\ne1,,,c1,u1,student\n"})
    first = await run(db, package(tmp_path, "a", **TWO), dry_run=True)
    second = await run(db, write(tmp_path / "b", small_package(**reordered), "zip"), dry_run=True)

    assert first.digest == second.digest
    assert await rows(db, "SELECT id FROM students") == []


async def test_bulk_absence_drops_with_history_cause_import(db: Database, tmp_path: Path) -> None:
    await run(db, package(tmp_path, "a", **TWO))
    outcome = await run(
        db,
        package(tmp_path, "b", **dict(TWO, **{"enrollments.csv": ENROLLMENTS + "e1,,,c1,u1,student\n"})),
        max_drop_percent=50,
    )

    assert outcome.plan.counts["enrollments"] == {"added": 0, "dropped": 1, "unchanged": 1}
    assert await enrollments(db) == [("ada@example.edu", "AE-101")]
    assert (await events(db))[-1][2:] == ("dropped", "import")
    assert await rows(db, "SELECT enrolled FROM courses") == [(1,)]


async def test_too_many_drops_is_refused(db: Database, tmp_path: Path) -> None:
    await run(db, package(tmp_path, "a", **TWO))
    outcome = await run(db, package(tmp_path, "b", **dict(TWO, **{"enrollments.csv": ENROLLMENTS})))

    assert outcome.failure == "1 errors: nothing written"
    assert [d.code for d in outcome.errors] == ["too-many-drops"]
    assert len(await enrollments(db)) == 2


async def test_delta_tobedeleted_drops_and_a_stale_row_is_ignored(db: Database, tmp_path: Path) -> None:
    stamp = "2026-01-02T00:00:00Z"
    users, classes = f"u1,active,{stamp},Ada,Lovelace,ada@example.edu\n", f"c1,active,{stamp},Engines,AE1\n"
    await run(db, delta(tmp_path, "a", users, classes, f"e1,active,{stamp},c1,u1,student\n"))
    stale = await run(db, delta(tmp_path, "b", "u1,active,2026-01-01T00:00:00Z,Ada,Byron,ada@example.edu\n"))
    gone = await run(
        db,
        delta(tmp_path, "c", enrolls="e1,tobedeleted,2026-01-03T00:00:00Z,c1,u1,student\n"),
        max_drop_percent=100,
    )

    assert [d.code for d in stale.warnings] == ["stale-row"] and stale.plan.counts["students"]["updated"] == 0
    assert await rows(db, "SELECT name FROM students") == [("Ada Lovelace",)]
    assert gone.plan.counts["enrollments"]["dropped"] == 1 and await enrollments(db) == []


async def test_a_row_older_than_its_records_delta_deletion_is_stale(db: Database, tmp_path: Path) -> None:
    day = "2026-01-0{}T00:00:00Z".format
    users, classes = f"u1,active,{day(1)},Ada,Lovelace,ada@example.edu\n", f"c1,active,{day(1)},Engines,AE1\n"
    await run(db, delta(tmp_path, "a", users, classes, f"e1,active,{day(1)},c1,u1,student\n"))
    deleted = f"u1,tobedeleted,{day(3)},Ada,Lovelace,ada@example.edu\n"
    gone = await run(db, delta(tmp_path, "b", deleted), max_drop_percent=100)
    older = await run(db, delta(tmp_path, "c", f"u1,active,{day(2)},Ada,Byron,ada@example.edu\n"))

    assert gone.applied and gone.plan.counts["enrollments"]["dropped"] == 1
    assert [(d.file, d.line, d.code) for d in older.warnings] == [("users.csv", 2, "stale-row")]
    assert await rows(db, "SELECT name FROM students") == [("Ada Lovelace",)]


async def test_expect_plan_applies_only_the_digest_it_names(db: Database, tmp_path: Path) -> None:
    path = package(tmp_path, **TWO)
    dry = await run(db, path, dry_run=True)
    stale = await run(db, path, expect_plan="0" * 64)
    good = await run(db, path, expect_plan=dry.digest)

    assert stale.failure is not None and "not the one expected" in stale.failure and not stale.applied
    assert good.applied and len(await enrollments(db)) == 2


async def test_adopt_maps_students_by_email_and_courses_by_code(db: Database, tmp_path: Path) -> None:
    await run(db, package(tmp_path, "a", **TWO), source="api-made")
    without = await run(db, package(tmp_path, "b", **TWO), source="sis")
    adopted = await run(db, package(tmp_path, "c", **TWO), source="sis", adopt=True)

    assert sorted(d.code for d in without.errors) == ["email-taken", "email-taken"]
    assert adopted.applied and adopted.plan.counts["students"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert adopted.plan.counts["enrollments"] == {"added": 0, "dropped": 0, "unchanged": 2}
    assert len(await rows(db, "SELECT id FROM courses")) == 1


async def test_code_falls_back_to_the_sourced_id_then_no_valid_code(db: Database, tmp_path: Path) -> None:
    classes = CLASSES + "c1,,,One,AE 101\nc2,,,Two,AE 101\n!!,,,Three,AE 101\n"
    enrolls = ENROLLMENTS + "e1,,,c1,u1,student\ne2,,,c2,u1,student\ne3,,,!!,u1,student\n"
    outcome = await run(
        db, package(tmp_path, **{"classes.csv": classes, "enrollments.csv": enrolls}), skip_invalid=True
    )

    assert [(d.line, d.code) for d in outcome.errors] == [(4, "no-valid-code")]
    assert await rows(db, "SELECT code FROM courses ORDER BY id") == [("AE-101",), ("C2",)]
    assert outcome.plan.counts["skipped"]["depends-on-error"] == 1


async def test_course_full_writes_nothing(db: Database, tmp_path: Path) -> None:
    await run(db, package(tmp_path, "a"))
    async with db.transaction() as tx:
        await tx.execute(Sql("UPDATE courses SET capacity = 1"))
    outcome = await run(db, package(tmp_path, "b", **TWO))

    assert [(d.line, d.code) for d in outcome.errors] == [(3, "course-full")]
    assert await enrollments(db) == [("ada@example.edu", "AE-101")]
    assert await rows(db, "SELECT email FROM students") == [("ada@example.edu",)]


async def test_a_drop_promotes_the_head_of_the_waitlist(db: Database, tmp_path: Path) -> None:
    await run(db, package(tmp_path, "a", **TWO))
    async with db.transaction() as tx:
        await tx.execute(Sql("UPDATE courses SET capacity = 2, waitlist_capacity = 5"))
        await tx.execute(Sql("INSERT INTO students (name, email, created_at, updated_at) "
                             "VALUES ('W', 'w@example.edu', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')"))  # fmt: skip
        await tx.execute(Sql("INSERT INTO waitlist_entries (student_id, course_id, joined_at) "
                             "VALUES (3, 1, '2026-01-01T00:00:00.000000Z')"))  # fmt: skip
        await tx.execute(Sql("UPDATE courses SET waitlisted = 1"))
    only_ada = dict(TWO, **{"enrollments.csv": ENROLLMENTS + "e1,,,c1,u1,student\n"})
    await run(db, package(tmp_path, "b", **only_ada), max_drop_percent=50)

    assert await enrollments(db) == [("ada@example.edu", "AE-101"), ("w@example.edu", "AE-101")]
    assert (await events(db))[-2:] == [(2, 1, "dropped", "import"), (3, 1, "enrolled", "waitlist")]


async def test_strict_counts_warnings_as_errors(db: Database, tmp_path: Path) -> None:
    enrolls = ENROLLMENTS + "e1,,,c1,u1,student\ne2,,,c1,u1,student\n"
    outcome = await run(db, package(tmp_path, **{"enrollments.csv": enrolls}), strict=True)

    assert outcome.failure == "1 warnings and --strict: nothing written"
    assert await rows(db, "SELECT id FROM students") == []


async def test_unknown_reference_is_an_error(db: Database, tmp_path: Path) -> None:
    outcome = await run(db, package(tmp_path, **{"enrollments.csv": ENROLLMENTS + "e1,,,c9,u1,student\n"}))

    assert [(d.field, d.value, d.code) for d in outcome.errors] == [
        ("classSourcedId", "c9", "unknown-reference")
    ]


def invoke(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env={"REGISTRAR_DATABASE_URL": settings.database_url})


def test_cli_dry_run_then_apply_with_the_digest_writes_the_report(settings: Settings, tmp_path: Path) -> None:
    path, report = package(tmp_path, **TWO), tmp_path / "report.json"
    dry = invoke(settings, "import", "oneroster", str(path), "--dry-run", "--report", str(report))
    digest = json.loads(report.read_text())["plan"]
    done = invoke(
        settings, "import", "oneroster", str(path), "--expect-plan", digest, "--report", str(report)
    )

    assert (dry.exit_code, done.exit_code) == (0, 0)
    body = json.loads(report.read_text())
    assert set(body) == {
        "source",
        "oneroster_version",
        "files",
        "dry_run",
        "applied",
        "plan",
        "counts",
        "errors",
        "warnings",
    }
    assert body["applied"] and body["plan"] == digest and body["counts"]["enrollments"]["added"] == 2


@pytest.mark.parametrize(
    "files",
    [
        {"manifest.csv": b"\xff\xfe not a manifest"},
        {"users.csv": USERS + "u1,,,Ada,Lovelace,not-an-address\n"},
    ],
)
def test_cli_hostile_package_is_one_line_exit_1_and_nothing_written(
    settings: Settings, tmp_path: Path, files: dict[str, bytes | str], caplog: pytest.LogCaptureFixture
) -> None:
    result = invoke(settings, "import", "oneroster", str(package(tmp_path, **files)))

    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.splitlines()[-1].startswith("registrar: ")
    assert "not-an-address" not in result.output


async def test_log_lines_hold_ids_only(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await run(db, package(tmp_path, **TWO))

    lines = [r for r in caplog.records if r.name == "registrar.enrollments"]
    assert [(r.action, r.student_id, r.added) for r in lines] == [("import", 1, [1]), ("import", 2, [1])]  # type: ignore[attr-defined]
    text = " ".join(str(r.__dict__) for r in caplog.records)
    assert "example.edu" not in text and "Lovelace" not in text


FIVE = {
    "users.csv": USERS + "".join(f"u{i},,,Given{i},Family{i},user{i}@example.edu\n" for i in range(1, 4)),
    "classes.csv": CLASSES + "c1,,,Engines,AE1\nc2,,,Looms,LO2\n",
    "enrollments.csv": ENROLLMENTS
    + "e5,,,c1,u1,student\ne4,,,c2,u1,student\ne3,,,c1,u2,student\ne2,,,c2,u3,student\ne1,,,c1,u3,student\n",
}


async def test_what_this_source_has_is_read_in_pages(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oneroster_queries, "PAGE", 2)  # five mappings and pairs: three pages each
    await run(db, package(tmp_path, "a", **FIVE))
    again = await run(db, package(tmp_path, "b", **FIVE))
    fewer = dict(FIVE, **{"enrollments.csv": FIVE["enrollments.csv"].replace("e3,,,c1,u2,student\n", "")})
    dropped = await run(db, package(tmp_path, "c", **fewer), max_drop_percent=20)

    assert not again.plan.changes and again.plan.counts["enrollments"]["unchanged"] == 5
    assert dropped.plan.counts["enrollments"] == {"added": 0, "dropped": 1, "unchanged": 4}
    assert len(await enrollments(db)) == 4


async def test_an_import_pauses_the_cycle_collector_only_while_it_runs(db: Database, tmp_path: Path) -> None:
    await run(db, package(tmp_path, "a", **TWO))
    await run(db, tmp_path / "missing")

    assert gc.isenabled()


def test_cli_without_a_terminal_writes_no_progress_bar(settings: Settings, tmp_path: Path) -> None:
    result = invoke(settings, "import", "oneroster", str(package(tmp_path, **TWO)), "--dry-run")

    assert result.exit_code == 0
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert not any(step in result.stderr for step in STEPS)
    assert result.stderr.splitlines()[-1] == "dry run: nothing written"


def test_cli_on_a_terminal_shows_the_steps_on_stderr(settings: Settings, tmp_path: Path) -> None:
    path = package(tmp_path, **TWO)
    leader, follower = pty.openpty()
    env = {**os.environ, "REGISTRAR_DATABASE_URL": settings.database_url}
    command = [str(Path(sys.executable).parent / "registrar"), "import", "oneroster", str(path), "--dry-run"]
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=follower) as child:
        os.close(follower)
        shown = _read_all(leader)
    assert child.returncode == 0
    assert "reading the package" in shown and "planning" in shown and "applying" not in shown


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()
