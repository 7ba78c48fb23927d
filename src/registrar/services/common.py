"""What every service shares: the clock, who is calling, pages, and the enrollment audit line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registrar import metrics
from registrar.db import Row

audit = logging.getLogger("registrar.enrollments")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked for a change, for the audit line: the API key and the request id."""

    key_id: int | None = None
    request_id: str | None = None


def page(rows: Sequence[Row], limit: int, item: Callable[[Row], dict[str, Any]]) -> dict[str, Any]:
    """A page from `limit + 1` rows: the extra row only says that more follow."""
    items = [item(r) for r in rows[:limit]]
    next_after = items[-1]["id"] if len(rows) > limit else None
    return {"items": items, "next_after": next_after}


def log_enrollment_change(
    action: str, student_id: int, added: Sequence[int], removed: Sequence[int], caller: Caller
) -> None:
    """One line per change, after it committed; ids only, never a name, an e-mail or a token.
    The enrollment counters of /metrics move here too, so they count only what landed."""
    if not added and not removed:
        return
    metrics.enrollments_changed(len(added), len(removed))
    audit.info(
        "enrollment change",
        extra={
            "action": action,
            "student_id": student_id,
            "added": sorted(added),
            "removed": sorted(removed),
            "request_id": caller.request_id,
            "key_id": caller.key_id,
        },
    )
