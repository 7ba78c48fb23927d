"""A seed large enough to set the junction table's keys and indexes aside rebuilds exactly what the
migrations made, and the rows it loads keep every rule those keys enforce."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Connection, inspect

from registrar.config import Settings
from registrar.db import Sql, open_database
from registrar.migrations import runner
from registrar.services.seed import REBUILD_FROM, SeedPlan, seed

STUDENTS, COURSES, PER_STUDENT = 20_000, 40, 5


BULK_LOADED = ("student_courses", "enrollment_events")


def junction_inventory(settings: Settings) -> dict[str, Any]:
    """The keys and indexes of the tables a large seed sets aside and rebuilds."""

    def read(connection: Connection) -> dict[str, Any]:
        inspector = inspect(connection)
        return {
            table: {
                "pk": inspector.get_pk_constraint(table),
                "fks": sorted(inspector.get_foreign_keys(table), key=lambda fk: str(fk["name"])),
                "indexes": sorted(inspector.get_indexes(table), key=lambda ix: str(ix["name"])),
            }
            for table in BULK_LOADED
        }

    return runner.on_connection(settings, read)


def count(settings: Settings, sql: str) -> int:
    async def read() -> int:
        db = await open_database(settings)
        try:
            async with db.connection() as conn:
                return int(await conn.fetchval(Sql(sql)))
        finally:
            await db.close()

    return asyncio.run(read())


def seed_now(settings: Settings, plan: SeedPlan) -> None:
    async def load() -> None:
        db = await open_database(settings)
        try:
            await seed(db, plan)
        finally:
            await db.close()

    asyncio.run(load())


def test_large_seed_rebuilds_exactly_the_keys_the_migrations_made_and_records_each_enrollment(
    settings: Settings,
) -> None:
    assert STUDENTS * PER_STUDENT >= REBUILD_FROM  # the path that sets the keys aside
    migrated = junction_inventory(settings)
    seed_now(settings, SeedPlan(STUDENTS, COURSES, PER_STUDENT))
    assert junction_inventory(settings) == migrated
    assert count(settings, "SELECT count(*) FROM student_courses") == STUDENTS * PER_STUDENT
    assert count(settings, "SELECT sum(enrolled) FROM courses") == STUDENTS * PER_STUDENT
    duplicates = "SELECT count(*) FROM (SELECT student_id, course_id FROM student_courses GROUP BY 1, 2 HAVING count(*) > 1) d"
    assert count(settings, duplicates) == 0
    orphans = (
        "SELECT count(*) FROM student_courses sc LEFT JOIN courses c ON c.id = sc.course_id "
        "LEFT JOIN students s ON s.id = sc.student_id WHERE c.id IS NULL OR s.id IS NULL"
    )
    assert count(settings, orphans) == 0
    events = "SELECT count(*) FROM enrollment_events e JOIN student_courses sc USING (student_id, course_id) "
    events += "WHERE e.change = 'enrolled' AND e.cause = 'seed' AND e.at = sc.enrolled_at"
    assert count(settings, events) == STUDENTS * PER_STUDENT
    assert count(settings, "SELECT count(*) FROM enrollment_events") == STUDENTS * PER_STUDENT
