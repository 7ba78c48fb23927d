"""`registrar export oneroster` (contract §9): a 1.2 bulk package whose headers are the 1.2.1
binding's, byte for byte, and that imports back to the same registrar."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from registrar.config import Settings
from registrar.db import Database, open_database
from registrar.services.oneroster import ImportOptions, import_package
from registrar.services.oneroster.export import export_package
from tests.conftest import make_settings
from tests.oneroster.test_import import enrollments, rows
from tests.oneroster.test_reader import SAMPLES

REFERENCE = SAMPLES / "catalyst-v1p2-delta"
BULK = ("orgs", "academicSessions", "courses", "classes", "users", "roles", "enrollments")


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await open_database(settings)
    try:
        yield database
    finally:
        await database.close()


async def exported(db: Database, tmp_path: Path, source: str = "oneroster") -> zipfile.ZipFile:
    out = tmp_path / "export.zip"
    await export_package(db, out, source)
    return zipfile.ZipFile(out)


async def test_headers_are_the_1p2p1_binding_s_byte_for_byte(db: Database, tmp_path: Path) -> None:
    archive = await exported(db, tmp_path)

    for name in BULK:
        reference = (REFERENCE / f"{name}.csv").read_bytes().split(b"\r\n")[0]
        assert archive.read(f"{name}.csv").split(b"\r\n")[0] == reference, name


async def test_manifest_lists_all_21_files_bulk_or_absent_crlf_without_bom(
    db: Database, tmp_path: Path
) -> None:
    manifest = (await exported(db, tmp_path)).read("manifest.csv")
    reference = (REFERENCE / "manifest.csv").read_bytes().decode().splitlines()

    assert (
        not manifest.startswith(b"\xef\xbb\xbf")
        and b"\r\n" in manifest
        and b"\n" not in manifest.replace(b"\r\n", b"")
    )
    files = [line.split(",") for line in manifest.decode().splitlines() if line.startswith("file.")]
    assert [name for name, _ in files] == [
        line.split(",")[0] for line in reference if line.startswith("file.")
    ]
    assert {name.removeprefix("file.") for name, mode in files if mode == "bulk"} == set(BULK)


async def test_export_then_import_with_adopt_changes_nothing(db: Database, tmp_path: Path) -> None:
    await import_package(db, SAMPLES / "lepo-roster-hub-v1p1-ja", ImportOptions())
    before = await enrollments(db)
    archive = await exported(db, tmp_path)
    archive.close()
    outcome = await import_package(db, Path(archive.filename or ""), ImportOptions(adopt=True))

    assert outcome.applied and outcome.errors == []
    counts = outcome.plan.counts
    assert counts["students"]["created"] == counts["students"]["updated"] == 0
    assert counts["courses"]["created"] == counts["courses"]["updated"] == 0
    assert (counts["enrollments"]["added"], counts["enrollments"]["dropped"]) == (0, 0)
    assert await enrollments(db) == before


async def test_export_into_an_empty_registrar_makes_the_same_courses_and_enrollments(
    db: Database, tmp_path: Path
) -> None:
    await import_package(db, SAMPLES / "edfi-lms-toolkit-v1p1", ImportOptions())
    archive = await exported(db, tmp_path, "ClassLink")
    archive.close()
    empty = tmp_path / "empty.db"
    from registrar.migrations import runner

    other = make_settings(f"sqlite:///{empty}")
    runner.upgrade(other)
    target = await open_database(other)
    try:
        outcome = await import_package(target, Path(archive.filename or ""), ImportOptions())
        assert outcome.applied
        assert await enrollments(target) == await enrollments(db)
        courses = "SELECT code, title FROM courses ORDER BY code"
        assert await rows(target, courses) == await rows(db, courses)
    finally:
        await target.close()
