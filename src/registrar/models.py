"""The schema: what Alembic's migrations build and what the tests compare them against.

The serving path does not use the ORM (its SQL is in `db/queries/`); the mapped classes are for
scripts and tests. Relationships raise on lazy loading, so a forgotten eager load fails loudly.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    column,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite keeps times as RFC 3339 text in UTC (what the serving path writes and returns as is);
# PostgreSQL as timestamptz.
Timestamp = DateTime(timezone=True).with_variant(
    sqlite.DATETIME(  # type: ignore[no-untyped-call]
        storage_format="%(year)04d-%(month)02d-%(day)02dT%(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06dZ",
        regexp=r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d{6})Z",
    ),
    "sqlite",
)
# SQLite only makes INTEGER PRIMARY KEY columns auto-incrementing aliases of the rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")


def only_on(dialect: str, index: Index) -> Index:
    """An index that exists on one engine only. Alembic's model comparison does not follow
    `ddl_if` (sqlalchemy/alembic#1491), so the dialect is kept in `info` too, for env.py's filter."""
    index.info["only_on"] = dialect
    index.ddl_if(dialect=dialect)
    return index


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Student(Base):
    __tablename__ = "students"
    __table_args__ = {"sqlite_autoincrement": True}  # SQLite would otherwise reuse a deleted last id

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)

    courses: Mapped[list[StudentCourse]] = relationship(
        back_populates="student", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


class Course(Base):
    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint(
            "capacity IS NULL OR (capacity >= 0 AND capacity <= 100000)", name="ck_courses_capacity_range"
        ),
        CheckConstraint(
            "enrolled >= 0 AND (capacity IS NULL OR enrolled <= capacity)",
            name="ck_courses_seats_within_capacity",
        ),
        CheckConstraint("waitlist_capacity BETWEEN 0 AND 1000", name="ck_courses_waitlist_capacity_range"),
        CheckConstraint("waitlisted >= 0", name="ck_courses_waitlisted_not_negative"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int | None] = mapped_column(Integer)
    # The seat count, kept by the enrollment service in the same transaction as the rows it
    # counts; the check constraint above keeps capacity true even if a bug slipped past the code.
    enrolled: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    # How many may wait once the course is full (0: no waitlist), and how many do: kept like
    # `enrolled`, in the transaction that adds or removes the entries.
    waitlist_capacity: Mapped[int] = mapped_column(Integer, server_default="0")
    waitlisted: Mapped[int] = mapped_column(Integer, server_default="0")

    students: Mapped[list[StudentCourse]] = relationship(back_populates="course", lazy="raise")


class StudentCourse(Base):
    """The junction row: one student enrolled in one course since `enrolled_at`."""

    __tablename__ = "student_courses"
    __table_args__ = (Index("ix_student_courses_course_id_student_id", "course_id", "student_id"),)

    student_id: Mapped[int] = mapped_column(
        Id, ForeignKey("students.id", ondelete="CASCADE"), primary_key=True
    )
    course_id: Mapped[int] = mapped_column(
        Id, ForeignKey("courses.id", ondelete="RESTRICT"), primary_key=True
    )
    enrolled_at: Mapped[datetime] = mapped_column(Timestamp)

    student: Mapped[Student] = relationship(back_populates="courses", lazy="raise")
    course: Mapped[Course] = relationship(back_populates="students", lazy="raise")


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'reader')", name="ck_api_keys_role_known"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)


class IdempotencyRecord(Base):
    """The first answer to an Idempotency-Key, kept for replay (contract section 6)."""

    __tablename__ = "idempotency_keys"

    api_key_id: Mapped[int] = mapped_column(
        Id, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_method: Mapped[str] = mapped_column(String(8))
    request_path: Mapped[str] = mapped_column(String(2048))
    request_digest: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_content_type: Mapped[str] = mapped_column(String(64))
    response_location: Mapped[str | None] = mapped_column(String(2048))
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class AuthFailures(Base):
    """Recent failed authentications of one client address, shared by every worker and host."""

    __tablename__ = "auth_failures"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Epoch seconds: compared with the clock only, never shown.
    recent_failures: Mapped[str] = mapped_column(Text)  # JSON list of the failures in the last window
    blocked_until: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float, index=True)


class EnrollmentEvent(Base):
    """One change to an enrollment (contract section 7): appended in the transaction of the change,
    never changed or deleted. Ids only, and no foreign keys: a deleted student's history stays."""

    __tablename__ = "enrollment_events"
    __table_args__ = (
        CheckConstraint("change IN ('enrolled', 'dropped')", name="ck_enrollment_events_change_known"),
        CheckConstraint(
            "cause IN ('api', 'student-deleted', 'waitlist', 'seed', 'import', 'migration')",
            name="ck_enrollment_events_cause_known",
        ),
        Index("ix_enrollment_events_student_id_id", "student_id", "id"),
        Index("ix_enrollment_events_course_id_id", "course_id", "id"),
        # A roster as of an instant reads it in this order, without visiting the table (revision 0009).
        # PostgreSQL only (revision 0010): SQLite's plan sorts the course's events all the same, so
        # there the index cost every write and sped up no read.
        only_on(
            "postgresql",
            Index(
                "ix_enrollment_events_course_id_student_id_at",
                "course_id",
                "student_id",
                column("at").desc(),
                column("id").desc(),
                postgresql_include=["change"],
            ),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp)
    student_id: Mapped[int] = mapped_column(Id)
    course_id: Mapped[int] = mapped_column(Id)
    change: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(128))
    key_id: Mapped[int | None] = mapped_column(Id)


class WaitlistEntry(Base):
    """One student waiting for a seat in one course (contract section 8). Positions are not
    stored: a student's is 1 + the entries of the course that joined before (joined_at, then id)."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        UniqueConstraint("student_id", "course_id", name="uq_waitlist_entries_student_id"),
        Index("ix_waitlist_entries_course_id_joined_at_id", "course_id", "joined_at", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    student_id: Mapped[int] = mapped_column(Id, ForeignKey("students.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(Id, ForeignKey("courses.id", ondelete="RESTRICT"))
    joined_at: Mapped[datetime] = mapped_column(Timestamp)


class OneRosterUser(Base):
    """The student a OneRoster source's user (sourcedId) became or was adopted as (contract section 9)."""

    __tablename__ = "oneroster_users"
    __table_args__ = (UniqueConstraint("student_id", "source", name="uq_oneroster_users_student_id"),)

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    sourced_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    student_id: Mapped[int] = mapped_column(Id, ForeignKey("students.id", ondelete="CASCADE"))
    modified: Mapped[datetime | None] = mapped_column(Timestamp)  # dateLastModified last applied


class OneRosterClass(Base):
    """The course a OneRoster source's class became or was adopted as."""

    __tablename__ = "oneroster_classes"
    __table_args__ = (UniqueConstraint("course_id", "source", name="uq_oneroster_classes_course_id"),)

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    sourced_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    course_id: Mapped[int] = mapped_column(Id, ForeignKey("courses.id", ondelete="CASCADE"))
    modified: Mapped[datetime | None] = mapped_column(Timestamp)


class OneRosterEnrollment(Base):
    """An enrollment a OneRoster source made: a bulk file that no longer lists it drops it."""

    __tablename__ = "oneroster_enrollments"
    __table_args__ = (
        Index("ix_oneroster_enrollments_student_id", "student_id", "course_id"),
        Index("ix_oneroster_enrollments_course_id", "course_id"),
    )

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    sourced_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    student_id: Mapped[int] = mapped_column(Id, ForeignKey("students.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(Id, ForeignKey("courses.id", ondelete="CASCADE"))
    modified: Mapped[datetime | None] = mapped_column(Timestamp)
