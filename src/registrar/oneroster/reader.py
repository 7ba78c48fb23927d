"""Streaming one CSV file of a package, a row at a time, and the rules every data file shares.

Tolerated as §9 says: UTF-8 with or without a BOM, CRLF, LF (or CR) line ends, with or without a
final newline. Quoting is read strictly: an unterminated quote or text after a closing quote makes
the whole file `malformed-csv`, rather than rows silently merged into one field. Columns are found
by their header name, case-sensitive; when a name repeats, its first column counts. A row shorter
than the header reads the missing cells as empty; extra cells are ignored (they are in no column
registrar reads). Rows that are blank or whose cells are all empty are skipped. Every value read
is stripped of surrounding whitespace.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import sys
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, TypeVar

from registrar.oneroster.diagnostics import (
    Diagnostic,
    Diagnostics,
    FileRejected,
    PackageRefused,
    RowError,
)

if TYPE_CHECKING:
    from _csv import Reader

    from registrar.oneroster.manifest import Mode
    from registrar.oneroster.package import Package

State = Literal["active", "tobedeleted"]
E = TypeVar("E", bound=str)
STATUSES: Mapping[str, State] = {"active": "active", "tobedeleted": "tobedeleted"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly
MAX_ID_LENGTH = 255  # what the sourcedId mapping will index; real ids are GUIDs or shorter


@dataclass(slots=True)
class Row:
    line: int  # where the row starts; the header is line 1
    cells: dict[str, str] = dataclasses.field(repr=False)

    def __getitem__(self, column: str) -> str:
        return self.cells.get(column, "")


def read_rows(
    package: Package, file: str, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[Row]:
    """Each row of FILE with the columns asked for; raises FileRejected when the file is unusable."""
    try:
        with (
            package.open_binary(file) as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
        ):
            yield from _rows(file, csv.reader(text, strict=True), required, optional)
    except UnicodeDecodeError:
        diagnostic = Diagnostic(file, None, None, None, "not-utf8", "the file is not UTF-8 text")
        raise FileRejected([diagnostic]) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
        diagnostic = Diagnostic(file, None, None, None, "unreadable-package", "the file cannot be read")
        raise PackageRefused([diagnostic]) from None


def _rows(file: str, reader: Reader, required: Sequence[str], optional: Sequence[str]) -> Iterator[Row]:
    index = _columns(file, _next(file, reader, 1) or [], required, optional)
    while True:
        start = reader.line_num + 1  # lines read so far, a quoted newline included
        cells = _next(file, reader, start)
        if cells is None:
            return
        if any(cell.strip() for cell in cells):
            yield Row(start, {name: cells[i].strip() if i < len(cells) else "" for name, i in index})


def _next(file: str, reader: Reader, start: int) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as exc:  # its text names the fault (quote, field size), never the data
        raise FileRejected(
            [Diagnostic(file, start, None, None, "malformed-csv", f"bad CSV: {exc}")]
        ) from None


def _columns(
    file: str, header: list[str], required: Sequence[str], optional: Sequence[str]
) -> list[tuple[str, int]]:
    positions: dict[str, int] = {}
    for i, name in enumerate(header):
        positions.setdefault(name, i)
    missing = [name for name in required if name not in positions]
    if missing:
        raise FileRejected([_missing_column(file, name) for name in missing])
    return [(name, positions[name]) for name in (*required, *optional) if name in positions]


def _missing_column(file: str, name: str) -> Diagnostic:
    return Diagnostic(file, None, name, None, "missing-column", "the header has no column of this name")


class Sheet:
    """What reading one data file keeps: its own diagnostics (dropped if the whole file turns out
    unusable), the sourcedIds of skipped rows, and the warnings reported once per file at the end."""

    def __init__(self, file: str, mode: Mode) -> None:
        self.file = file
        self.mode = mode
        self.diagnostics = Diagnostics()
        self.skipped: set[str] = set()  # sourcedIds of rows read but kept nowhere (roles, repeats)
        self._spellings: dict[tuple[str, str, str], list[int]] = {}  # (field, as written, read as)
        self._statuses: list[int] = []  # bulk: line of the first status, rows with one, tobedeleted
        self._first_status = ""

    def columns(self, *names: str) -> tuple[str, ...]:
        """The columns this file must have: registrar's, plus status and date in a delta file."""
        return (*names, "status", "dateLastModified") if self.mode == "delta" else names

    def optional(self) -> tuple[str, ...]:
        # In a bulk file status is not read, but a `tobedeleted` there still counts as absent.
        return ("status",) if self.mode == "bulk" else ()

    def error(self, problem: RowError, row: Row) -> Diagnostic:
        return self.diagnostics.error(problem.at(self.file, row.line))

    def warn(
        self,
        row: Row,
        field: str,
        value: str,
        code: Literal["duplicate-enrollment", "reference-tobedeleted"],
        message: str,
    ) -> None:
        self.diagnostics.warn(Diagnostic(self.file, row.line, field, value, code, message))

    def identity(self, row: Row, *, shared: bool = False) -> str:
        """The row's sourcedId; `shared` ids (users, classes) are interned so that the enrollments
        naming them hold the same string object rather than 500,000 copies."""
        value = self.reference(row, "sourcedId")
        return sys.intern(value) if shared else value

    def reference(self, row: Row, field: str) -> str:
        value = row[field]
        if not value:
            raise RowError("missing-value", field, value, "this field must not be empty")
        if len(value) > MAX_ID_LENGTH or _has_control(value):
            raise RowError(
                "invalid-value", field, value, "an id is at most 255 characters, none a control character"
            )
        return value

    def state(self, row: Row) -> State:
        """active or tobedeleted: read in a delta file; in a bulk file only tobedeleted counts."""
        if self.mode == "delta":
            return self.enum(row, "status", STATUSES)
        value = row["status"]
        if not value:
            return "active"
        state = STATUSES.get(value.lower(), "active")
        self._note_status(row, value, state)
        if state == "tobedeleted" and value != state:  # the one spelling that changes the reading here
            self._spelling(row, "status", value, state)
        return state

    def modified(self, row: Row) -> datetime | None:
        """dateLastModified in UTC, in a delta file; a date without a time is its midnight."""
        if self.mode != "delta":
            return None
        return parse_modified(row["dateLastModified"])

    def enum(self, row: Row, field: str, vocabulary: Mapping[str, E]) -> E:
        """The vocabulary's spelling of the value; a wrong case is noted once per spelling."""
        value = row[field]
        if not value:
            raise RowError("missing-value", field, value, "this field must not be empty")
        canonical = vocabulary.get(value.lower())
        if canonical is None:
            raise RowError("invalid-value", field, value, "not a value OneRoster defines for this field")
        if canonical != value:
            self._spelling(row, field, value, canonical)
        return canonical

    def finish(self) -> Diagnostics:
        """The file's diagnostics, with the once-per-file warnings added."""
        for (field, written, canonical), (line, count) in self._spellings.items():
            message = f"read as {canonical!r} ({_rows_text(count)} in this file)"
            self.diagnostics.warn(Diagnostic(self.file, line, field, written, "enum-case", message))
        if self._statuses:
            line, count, deleted = self._statuses
            message = (
                f"a file declared bulk should leave status blank ({_rows_text(count)} do not, "
                f"{deleted} of them tobedeleted, read as absent)"
            )
            self.diagnostics.warn(
                Diagnostic(self.file, line, "status", self._first_status, "bulk-has-status", message)
            )
        self.diagnostics.warnings.sort(key=lambda diagnostic: diagnostic.line or 0)  # stable: file order
        return self.diagnostics

    def _spelling(self, row: Row, field: str, written: str, canonical: str) -> None:
        tally = self._spellings.setdefault((field, written, canonical), [row.line, 0])
        tally[1] += 1

    def _note_status(self, row: Row, value: str, state: State) -> None:
        if not self._statuses:
            self._statuses = [row.line, 0, 0]
            self._first_status = value
        self._statuses[1] += 1
        self._statuses[2] += state == "tobedeleted"


def parse_modified(value: str) -> datetime:
    """An ISO 8601 date or date-time; one without a zone is UTC, as OneRoster writes them. d/m/yyyy
    (seen in samples) is refused: 1/05/2023 reads as 1 May or as 5 January depending on who wrote it."""
    if not value:
        raise RowError("missing-value", "dateLastModified", value, "a delta file needs dateLastModified")
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(
            "invalid-value", "dateLastModified", value, "not an ISO 8601 date or date-time"
        ) from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def _rows_text(count: int) -> str:
    return "1 row" if count == 1 else f"{count} rows"
