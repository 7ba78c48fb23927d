"""The typed records a package's rows become, checked by the same rules as the API (§3).

Names, titles, e-mail addresses and codes go through the very types `registrar.schemas` validates
request bodies with, so an imported value is stored exactly as the API would store it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import TypeAdapter, ValidationError

from registrar.oneroster.diagnostics import RowError
from registrar.schemas import CourseCode, Email, Text

_TEXT: TypeAdapter[str] = TypeAdapter(Text)
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_CODE: TypeAdapter[str] = TypeAdapter(CourseCode)
_OUTSIDE_CODE = re.compile(r"[^A-Za-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Addresses that `Email` accepts unchanged but for case, recognised without running it: a dot-atom
# of common ASCII characters, then two or more host labels without `--` (where IDNA has rules), the
# last one letters only (as every top-level domain is), at most 254 characters in all. Anything
# else, valid or not, goes through `Email` itself; tests check both give the same answers.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@(?!.*--)"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}",
    re.ASCII,
)
_SPECIAL_USE = tuple(f".{name}" for name in SPECIAL_USE_DOMAIN_NAMES if name != "test")  # .test is allowed
_TEXT_RULE = "must be 1-200 characters after trimming, without control characters"


@dataclass(slots=True, frozen=True)
class Student:
    """A user row as the student it becomes (whether it does is decided against the mapping)."""

    sourced_id: str
    name: str = dataclasses.field(repr=False)  # givenName, a space, familyName; trimmed. No repr shows it.
    email: str = dataclasses.field(repr=False)  # as the API stores it
    modified: datetime | None  # dateLastModified in UTC; read in delta files only
    line: int


@dataclass(slots=True, frozen=True)
class Course:
    sourced_id: str
    title: str
    codes: tuple[str, ...]  # candidate codes in §9's order, upper-cased as stored; may be empty
    modified: datetime | None
    line: int


@dataclass(slots=True, frozen=True)
class Enrollment:
    """A role-student enrollment row: the user is to be enrolled in the class."""

    sourced_id: str
    class_id: str  # classSourcedId
    user_id: str  # userSourcedId
    modified: datetime | None
    line: int


@dataclass(slots=True, frozen=True)
class Deletion:
    """A row marked tobedeleted (in a bulk file: a row that counts as absent)."""

    sourced_id: str
    modified: datetime | None
    line: int


def student_name(given: str, family: str) -> str:
    """givenName, a space, familyName, trimmed and checked as a student's name."""
    name = f"{given} {family}".strip()
    if not name:
        raise RowError("missing-value", "givenName", given, "givenName and familyName are both empty")
    try:
        return _TEXT.validate_python(name)
    except ValidationError:
        field, value = ("givenName", given) if _CONTROL.search(given) else ("familyName", family)
        raise RowError("invalid-value", field, value, f"givenName and familyName {_TEXT_RULE}") from None


def student_email(value: str) -> str:
    """The address as the API stores it (§3)."""
    if not value:
        raise RowError("missing-email", "email", value, "a student needs an e-mail address")
    if len(value) <= 254 and _PLAIN_EMAIL.fullmatch(value) and not value.lower().endswith(_SPECIAL_USE):
        return value.lower()  # half the reading time of a large package went to `Email`
    try:
        return _EMAIL.validate_python(value)
    except ValidationError:
        raise RowError("invalid-email", "email", value, "not a valid e-mail address") from None


def course_title(value: str) -> str:
    if not value:
        raise RowError("missing-value", "title", value, "a course needs a title")
    try:
        return _TEXT.validate_python(value)
    except ValidationError:
        raise RowError("invalid-value", "title", value, f"a title {_TEXT_RULE}") from None


def derive_code(value: str) -> str | None:
    """§9's rule: every run of characters outside [A-Za-z0-9._-] made one `-`, runs of `-` made
    one, `-` trimmed from both ends; None unless the result is a valid code (1-32 characters)."""
    code = _DASHES.sub("-", _OUTSIDE_CODE.sub("-", value)).strip("-")
    return code if 1 <= len(code) <= 32 else None


def course_codes(class_code: str, sourced_id: str) -> tuple[str, ...]:
    """The valid codes derived from classCode, then sourcedId, as stored (upper case), without
    repeats. Whether one is taken by another course is for the plan to decide."""
    derived = (derive_code(value) for value in (class_code, sourced_id))
    return tuple(dict.fromkeys(_CODE.validate_python(code) for code in derived if code))
