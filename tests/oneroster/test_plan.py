"""The plan's digest: independent of item order, sensitive to any change of an item or its list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from registrar.oneroster import Enrollment
from registrar.oneroster.table import EnrollmentTable
from registrar.services.oneroster.plan import EnrollmentRows, Plan

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
Map = tuple[str, int, int, datetime | None]


def rows(adds: Sequence[tuple[int, int]] = (), maps: Sequence[Map] = ()) -> EnrollmentRows:
    """The plan's enrollment rows: one package row per addition, one per mapping written."""
    table = EnrollmentTable()
    items = [(f"add-{i}", s, c, None) for i, (s, c) in enumerate(adds)] + list(maps)
    for line, (sid, _, _, modified) in enumerate(items, start=2):
        table[sid] = Enrollment(sid, "class", "user", modified, line)
    made = EnrollmentRows.of(table)
    for row, (_, s, c, _) in enumerate(items):
        made.students[row], made.courses[row] = s, c
        (made.added if row < len(adds) else made.mapped).append(row)
    return made


def plan(source: str = "bench", *, adds: Sequence[tuple[int, int]] = (), enrollment_maps: Sequence[Map] = (),
         **lists: Any) -> Plan:  # fmt: skip
    return Plan(source, enrollments=rows(adds, enrollment_maps), **lists)


def test_the_digest_ignores_the_order_of_items() -> None:
    adds = [(1, 2), (3, 4), (-1, 2)]
    maps = [("e1", 1, 2, None), ("e2", -1, 2, WHEN)]
    first = plan(new_students=[("A", "a@x.example")], adds=adds, enrollment_maps=maps)
    second = plan(new_students=[("A", "a@x.example")], adds=adds[::-1], enrollment_maps=maps[::-1])

    assert first.digest() == second.digest()


def test_the_digest_changes_with_an_item_its_list_or_a_repeat() -> None:
    base = plan(adds=[(1, 2), (3, 4)])
    others = [
        plan(adds=[(1, 2), (3, 5)]),
        plan(drops=[(1, 2), (3, 4)]),
        plan(adds=[(1, 2), (3, 4), (3, 4)]),
        plan(adds=[(1, 2)]),
        plan("other", adds=[(1, 2), (3, 4)]),
    ]

    digests = {base.digest(), *(other.digest() for other in others)}
    assert len(digests) == 1 + len(others)


def test_a_new_record_counts_by_its_email_or_code_not_its_placeholder() -> None:
    first = plan(new_students=[("A", "a@x.example"), ("B", "b@x.example")], adds=[(-1, 7)])
    second = plan(new_students=[("B", "b@x.example"), ("A", "a@x.example")], adds=[(-2, 7)])

    assert first.digest() == second.digest()
