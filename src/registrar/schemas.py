"""Request and response bodies. Inputs are strict (unknown members rejected) and normalised by
their types; outputs are for the OpenAPI document (handlers build their JSON directly)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

MAX_ID = 2**63 - 1
MAX_IDS_PER_REQUEST = 1000


def _no_control_characters(value: str) -> str:
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _email(value: str) -> str:
    try:
        # "Syntax only": .test addresses are well-formed too (other special-use names stay refused).
        checked = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from None
    return checked.normalized.lower()


def normalise_email(value: str) -> str:
    """What an e-mail address is stored as (IDNA domain, Unicode normal form, lower case), so that
    the ?email= filter finds a student however the address was written. A value that is not an
    address at all cannot be stored, so any form of it matches nobody."""
    try:
        return _email(value.strip())
    except ValueError:
        return value.strip().lower()


def normalise_code(value: str) -> str:
    return value.strip().upper()


_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def parse_instant(value: Any) -> Any:
    """An RFC 3339 timestamp with `Z` or an offset (contract section 7's `as_of`), read exactly:
    fractions past microseconds are cut, a leap second is read as the last microsecond before it,
    and a date alone, a time without an offset or any other form is refused."""
    if not isinstance(value, str):
        return value
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("must be an RFC 3339 timestamp with Z or an offset, e.g. 2026-09-15T00:00:00Z")
    day, minutes, seconds, fraction, offset = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    if seconds == "60":
        seconds, micro = "59", "999999"
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{day}T{minutes}:{seconds}.{micro}{offset}")
    except ValueError:
        raise ValueError("not a date and time that exists") from None


def _whole_number(value: Any) -> Any:
    """JSON does not tell 5 from 5.0 (JSON Schema calls both integers): a float without a fraction
    is that integer. Strings, booleans and fractions still fail the strict check."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# The documented form of the checks below, exact on the value as sent: padding that trimming
# removes (whitespace, less U+001C-001F, which it keeps), then 1-200 characters that start and end
# with neither whitespace nor a control character (category Cc is exactly these code points).
_CC = r"\x00-\x1f\x7f-\x9f"
_PAD = r"[^\S\x1c-\x1f]*"
TEXT_PATTERN = rf"^{_PAD}[^\s{_CC}](?:[^{_CC}]{{0,198}}[^\s{_CC}])?{_PAD}$"
TEXT_SCHEMA = {"type": "string", "pattern": TEXT_PATTERN}
EMAIL_SCHEMA = {"type": "string", "format": "idn-email", "minLength": 3, "maxLength": 320}
CODE_SCHEMA = {"type": "string", "pattern": rf"^{_PAD}[A-Za-z0-9._-]{{1,32}}{_PAD}$"}

Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_characters),
    WithJsonSchema(TEXT_SCHEMA),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=320),
    AfterValidator(_no_control_characters),
    AfterValidator(_email),
    WithJsonSchema(EMAIL_SCHEMA),
]
CourseCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9._-]{1,32}$"),
    AfterValidator(normalise_code),
    WithJsonSchema(CODE_SCHEMA),
]
Capacity = Annotated[
    int,
    Field(strict=True, ge=0, le=100_000),
    BeforeValidator(_whole_number),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 100_000}),
]
WAITLIST_CAPACITY_SCHEMA = {"type": "integer", "minimum": 0, "maximum": 1000}
WaitlistCapacity = Annotated[
    int,
    Field(strict=True, ge=0, le=1000),
    BeforeValidator(_whole_number),
    WithJsonSchema(WAITLIST_CAPACITY_SCHEMA),
]
EntityId = Annotated[
    int,
    Field(strict=True, ge=1, le=MAX_ID),
    BeforeValidator(_whole_number),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_ID}),
]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


class StudentCreate(Input):
    name: Text
    email: Email

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Ada Lovelace", "email": "ada@example.edu"}]}
    )


class StudentUpdate(Input):
    # Present means not null: documented as the plain type, without null.
    name: Annotated[Text | None, WithJsonSchema(TEXT_SCHEMA)] = None
    email: Annotated[Email | None, WithJsonSchema(EMAIL_SCHEMA)] = None

    _present_means_not_null = field_validator("name", "email", mode="before")(_not_null)


class CourseCreate(Input):
    code: CourseCode
    title: Text
    capacity: Capacity | None = None
    waitlist_capacity: WaitlistCapacity = 0

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"code": "CS101", "title": "Introduction to Computing", "capacity": 30}]
        },
    )


class CourseUpdate(Input):
    code: Annotated[CourseCode | None, WithJsonSchema(CODE_SCHEMA)] = None
    title: Annotated[Text | None, WithJsonSchema(TEXT_SCHEMA)] = None
    capacity: Capacity | None = None  # null: no limit
    waitlist_capacity: Annotated[WaitlistCapacity | None, WithJsonSchema(WAITLIST_CAPACITY_SCHEMA)] = None

    _present_means_not_null = field_validator("code", "title", "waitlist_capacity", mode="before")(_not_null)


class EnrollMany(Input):
    course_ids: list[EntityId] = Field(min_length=1, max_length=MAX_IDS_PER_REQUEST)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"course_ids": [3, 4]}]})


class EnrollOne(Input):
    course_id: EntityId

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"course_id": 3}]})


class EnrollmentSet(Input):
    course_ids: list[EntityId] = Field(max_length=MAX_IDS_PER_REQUEST)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"course_ids": [3, 5]}]})


# ------------------------------------------------------------------------------------------ output

Timestamp = Annotated[str, Field(examples=["2026-11-22T10:00:00.123456Z"])]


class CourseInfo(BaseModel):
    id: int
    code: str | None = Field(description="null only in an as_of answer, for a course deleted since")
    title: str | None = Field(description="null only in an as_of answer, for a course deleted since")
    enrolled_at: Timestamp


class Student(BaseModel):
    id: int
    name: str
    email: str
    created_at: Timestamp
    updated_at: Timestamp


class StudentWithCourses(Student):
    courses: list[CourseInfo]


class Course(BaseModel):
    id: int
    code: str
    title: str
    capacity: int | None
    enrolled: int
    waitlist_capacity: int
    waitlisted: int
    created_at: Timestamp
    updated_at: Timestamp


class RosterEntry(BaseModel):
    id: int
    name: str | None = Field(description="null only in an as_of answer, for a student deleted since")
    email: str | None = Field(description="null only in an as_of answer, for a student deleted since")
    enrolled_at: Timestamp


class WaitlistJoin(Input):
    course_id: EntityId

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"course_id": 3}]})


class WaitlistEntry(BaseModel):
    """A course a student waits for, and where the student stands."""

    course_id: int
    code: str
    title: str
    position: int = Field(description="1 for the student first in line")
    joined_at: Timestamp


class WaitingStudent(BaseModel):
    id: int
    name: str
    email: str
    position: int
    joined_at: Timestamp


class Event(BaseModel):
    """One change to an enrollment, as the history recorded it."""

    id: int
    at: Timestamp
    student_id: int
    course_id: int
    change: Literal["enrolled", "dropped"]
    cause: Literal["api", "student-deleted", "waitlist", "seed", "import", "migration"]
    request_id: str | None
    key_id: int | None


Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    next_after: int | None


class Health(BaseModel):
    status: str
