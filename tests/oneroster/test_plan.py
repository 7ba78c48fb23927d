"""The plan's digest: independent of item order, sensitive to any change of an item or its list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from registrar.services.oneroster.plan import Plan

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def plan(**lists: Any) -> Plan:
    return Plan("bench", **lists)


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
        Plan("other", adds=[(1, 2), (3, 4)]),
    ]

    digests = {base.digest(), *(other.digest() for other in others)}
    assert len(digests) == 1 + len(others)


def test_a_new_record_counts_by_its_email_or_code_not_its_placeholder() -> None:
    first = plan(new_students=[("A", "a@x.example"), ("B", "b@x.example")], adds=[(-1, 7)])
    second = plan(new_students=[("B", "b@x.example"), ("A", "a@x.example")], adds=[(-2, 7)])

    assert first.digest() == second.digest()
