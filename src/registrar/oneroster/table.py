"""EnrollmentTable: a package's enrollment records as columns rather than one object per row.

A large package holds 500,000 enrollments: as `Enrollment` objects in a dict they took some 300
bytes each (the object, its line number, the dict entry), as columns about 190 (the sourcedId
itself, its index entry, one pointer per reference, a machine integer per line). The table is
a mapping of sourcedId to `Enrollment` for whoever wants records (each one made when asked
for); the plan reads the columns by row number instead.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, MutableMapping
from datetime import datetime

from registrar.oneroster.records import Enrollment


class EnrollmentTable(MutableMapping[str, Enrollment]):
    """Rows in file order; row numbers are positions in each column."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.sids: list[str] = []
        self.users: list[str] = []  # userSourcedId (interned: one string per user)
        self.classes: list[str] = []  # classSourcedId (interned)
        self.lines = array("i")
        self.modified: dict[int, datetime] = {}  # by row, only the rows that have one (delta files)
        self._rows: dict[str, int] | None = {}

    def row(self, sourced_id: str) -> int | None:
        if self._rows is not None:
            return self._rows.get(sourced_id)
        try:
            return self.sids.index(sourced_id)  # after drop_index: slow, and never on a hot path
        except ValueError:
            return None

    def drop_index(self) -> None:
        """Forget the sourcedId index (some 60 bytes a row) once nothing needs to find a row by its
        sourcedId any more; the table can then no longer grow."""
        self._rows = None

    def record(self, row: int) -> Enrollment:
        return Enrollment(
            self.sids[row], self.classes[row], self.users[row], self.modified.get(row), self.lines[row]
        )

    def __getitem__(self, sourced_id: str) -> Enrollment:
        row = self.row(sourced_id)
        if row is None:
            raise KeyError(sourced_id)
        return self.record(row)

    def __setitem__(self, sourced_id: str, enrollment: Enrollment) -> None:
        if self._rows is None or sourced_id in self._rows:
            raise ValueError("an enrollment table only grows, each sourcedId once, until drop_index")
        row = len(self.sids)
        self._rows[sourced_id] = row
        self.sids.append(sourced_id)
        self.users.append(enrollment.user_id)
        self.classes.append(enrollment.class_id)
        self.lines.append(enrollment.line)
        if enrollment.modified is not None:
            self.modified[row] = enrollment.modified

    def __delitem__(self, sourced_id: str) -> None:
        raise TypeError("an enrollment table only grows; clear() empties it")

    def __contains__(self, sourced_id: object) -> bool:
        return isinstance(sourced_id, str) and self.row(sourced_id) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.sids)

    def __len__(self) -> int:
        return len(self.sids)
