"""Revision 0006 brings the enrollment history: one `migration` event for every enrollment that
exists, at its enrolled_at, so that "as of" answers are right for older data; its downgrade drops
the history and keeps every enrollment."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from registrar.config import Settings
from registrar.migrations import runner
from registrar.migrations.types import ID, TIMESTAMP
from tests.test_migrations import (
    COURSES_0001,
    ENROLLMENTS,
    STUDENTS,
    T0,
    course_rows,
    fresh,
    fresh_url,
    insert,
    rows_of,
    student_rows,
    table_names,
)

__all__ = ["fresh", "fresh_url"]  # fixtures, used by name

EVENTS = sa.table(
    "enrollment_events",
    sa.column("id", ID),
    sa.column("at", TIMESTAMP),
    sa.column("student_id", ID),
    sa.column("course_id", ID),
    sa.column("change"),
    sa.column("cause"),
    sa.column("request_id"),
    sa.column("key_id"),
)


def enrollments_at_0005(settings: Settings) -> list[tuple[int, int, object]]:
    runner.upgrade(settings, "0005")
    insert(settings, STUDENTS, student_rows(300))
    insert(settings, COURSES_0001, course_rows(40))
    # Made in an order unlike that of the keys: the events follow the enrollments' times.
    pairs = {(s, c) for s in range(1, 301) for c in (1 + s % 40, 1 + (s * 3) % 40)}
    rows = [
        {"student_id": s, "course_id": c, "enrolled_at": T0 + timedelta(minutes=(s * 7 + c * 13) % 997)}
        for s, c in sorted(pairs)
    ]
    insert(settings, ENROLLMENTS, rows)
    return rows_of(settings, ENROLLMENTS)


def test_upgrade_records_one_migration_event_per_enrollment_at_its_time(fresh: Settings) -> None:
    enrollments = enrollments_at_0005(fresh)

    runner.upgrade(fresh, "0006")

    events = rows_of(fresh, EVENTS)
    assert len(events) == len(enrollments) > 300
    assert sorted((e[2], e[3], e[1]) for e in events) == sorted(enrollments)
    assert {(e[4], e[5], e[6], e[7]) for e in events} == {("enrolled", "migration", None, None)}
    by_id = sorted(events, key=lambda e: e[0])
    assert [e[1] for e in by_id] == sorted(e[1] for e in events)  # ids follow the enrollments' times


def test_downgrade_drops_the_history_and_keeps_every_enrollment(fresh: Settings) -> None:
    enrollments = enrollments_at_0005(fresh)
    runner.upgrade(fresh)

    runner.migrate_to(fresh, "0005")

    assert "enrollment_events" not in table_names(fresh)
    assert rows_of(fresh, ENROLLMENTS) == enrollments
    runner.upgrade(fresh)
    assert len(rows_of(fresh, EVENTS)) == len(enrollments)  # recorded again, once each
