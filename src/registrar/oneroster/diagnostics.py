"""What an import reports about a package: one Diagnostic per finding, errors and warnings apart.

A Diagnostic's `message` never repeats the value it is about (names and e-mail addresses stay in
`value`), so the stderr summary, which prints `file:line: field: code`, can never leak one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

Code = Literal[
    # The package as a whole: nothing is read after one of these.
    "unsafe-package",  # a zip member with an absolute path or `..`, too many or too large members
    "unreadable-package",  # not a folder or a zip, a corrupt or encrypted zip
    "missing-manifest",
    # A whole file: none of its rows is used.
    "not-utf8",
    "missing-column",
    "malformed-csv",  # bad quoting, or a field over the csv module's size limit
    "missing-file",  # declared bulk or delta, but not in the package
    # One row (or one manifest property).
    "missing-value",  # a field registrar needs is empty
    "invalid-value",  # a field registrar needs cannot be read (control characters, unknown enum, date)
    "duplicate-id",  # a sourcedId seen earlier in the same file
    "missing-email",
    "invalid-email",
    # Found by the plan, against the database (one row, or the run as a whole).
    "email-taken",
    "no-valid-code",
    "unknown-reference",
    "course-full",
    "too-many-drops",  # the whole run: it would drop more than --max-drop-percent
    # Warnings: the row is read with the normalised value.
    "enum-case",
    "bulk-has-status",
    "manifest-property",
    "unexpected-file",
    "duplicate-enrollment",
    "reference-tobedeleted",
    "stale-row",
]


@dataclass(slots=True, frozen=True)
class Diagnostic:
    """One finding. `line` is where the row starts (the header is line 1), None for a whole file."""

    file: str | None
    line: int | None
    field: str | None
    value: str | None = dataclasses.field(repr=False)  # may be a name or an address: no repr shows it
    code: Code
    message: str

    def as_dict(self) -> dict[str, str | int | None]:
        """The report's JSON form: exactly these six members."""
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "value": self.value,
            "code": self.code,
            "message": self.message,
        }


@dataclass(slots=True)
class Diagnostics:
    """Errors and warnings in the order they were found."""

    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

    def error(self, diagnostic: Diagnostic) -> Diagnostic:
        self.errors.append(diagnostic)
        return diagnostic

    def warn(self, diagnostic: Diagnostic) -> None:
        self.warnings.append(diagnostic)


class PackageRefused(Exception):
    """The package cannot be read at all; carries the errors that say why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics[0].message)
        self.diagnostics = diagnostics


class FileRejected(Exception):
    """One data file cannot be used at all (not UTF-8, a missing column, broken quoting)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics[0].message)
        self.diagnostics = diagnostics


class RowError(Exception):
    """One row cannot be used; the loop reading the file adds where it is."""

    def __init__(self, code: Code, field: str, value: str, message: str) -> None:
        super().__init__(message)
        self.code: Code = code
        self.field = field
        self.value = value
        self.message = message

    def at(self, file: str, line: int) -> Diagnostic:
        return Diagnostic(file, line, self.field, self.value, self.code, self.message)
