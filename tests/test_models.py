"""The SQLAlchemy models on a database built by the migrations: relationships both ways with explicit
eager loading, lazy loading refused, and the guarantees the database keeps (cascade, restrict,
checks, unique keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from itertools import count
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, delete, event, func, select, update
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session, selectinload

from registrar.config import Settings
from registrar.models import Course, Student, StudentCourse

T = TypeVar("T")
Run = Callable[[Callable[[Session], T]], Awaitable[T]]
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
_seq = count(1)


@pytest.fixture
async def run(settings: Settings) -> AsyncIterator[Run[Any]]:
    """Runs a function of a fresh ORM session, on either engine (PostgreSQL through asyncpg, driven by
    `AsyncSession.run_sync`; SQLite through the stdlib driver with foreign keys switched on)."""
    if settings.engine == "sqlite":
        engine = create_engine(settings.sqlalchemy_url)
        event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))

        async def run_sqlite(work: Callable[[Session], Any]) -> Any:
            with Session(engine) as session:
                return work(session)

        yield run_sqlite
        engine.dispose()
        return
    async_engine = create_async_engine(settings.sqlalchemy_url)

    async def run_postgres(work: Callable[[Session], Any]) -> Any:
        async with AsyncSession(async_engine) as session:
            return await session.run_sync(work)

    yield run_postgres
    await async_engine.dispose()


def student(**over: Any) -> Student:
    n = next(_seq)
    return Student(
        **{"name": f"Student {n}", "email": f"m{n}@example.edu", "created_at": NOW, "updated_at": NOW, **over}
    )


def course(**over: Any) -> Course:
    n = next(_seq)
    return Course(**{"code": f"M{n}", "title": f"Course {n}", "created_at": NOW, "updated_at": NOW, **over})


def enrolled_pair(session: Session) -> tuple[int, int, int]:
    """A student in two courses; answers the ids (student, first course, second course)."""
    s, a, b = student(), course(capacity=5, enrolled=1), course(enrolled=1)
    session.add_all([s, a, b])
    session.flush()
    session.add_all([StudentCourse(student_id=s.id, course_id=c.id, enrolled_at=NOW) for c in (a, b)])
    session.commit()
    return s.id, a.id, b.id


def add_and_commit(*rows: Any) -> Callable[[Session], None]:
    def work(session: Session) -> None:
        session.add_all(rows)
        session.commit()

    return work


async def test_student_courses_load_eagerly_with_selectinload(run: Run[Any]) -> None:
    student_id, a, b = await run(enrolled_pair)

    def load(session: Session) -> list[tuple[int, str, datetime]]:
        query = select(Student).options(selectinload(Student.courses).selectinload(StudentCourse.course))
        loaded = session.scalars(query.where(Student.id == student_id)).one()
        return sorted((sc.course.id, sc.course.title, sc.enrolled_at) for sc in loaded.courses)

    loaded = await run(load)
    assert [c[0] for c in loaded] == [a, b]
    # SQLite hands the (UTC) times back naive; PostgreSQL's timestamptz hands them back aware.
    assert all(c[2].replace(tzinfo=c[2].tzinfo or UTC) == NOW for c in loaded)


async def test_course_students_load_eagerly_with_selectinload(run: Run[Any]) -> None:
    student_id, course_id, _ = await run(enrolled_pair)

    def load(session: Session) -> list[str]:
        query = select(Course).options(selectinload(Course.students).selectinload(StudentCourse.student))
        loaded = session.scalars(query.where(Course.id == course_id)).one()
        return [sc.student.email for sc in loaded.students]

    emails = await run(load)
    assert emails == [await run(lambda s: s.get(Student, student_id).email)]


@pytest.mark.parametrize(
    ("model", "attribute"),
    [(Student, "courses"), (Course, "students")],
    ids=["student.courses", "course.students"],
)
async def test_lazy_loading_a_collection_raises(run: Run[Any], model: type[Any], attribute: str) -> None:
    student_id, course_id, _ = await run(enrolled_pair)
    key = student_id if model is Student else course_id

    def touch(session: Session) -> None:
        getattr(session.get(model, key), attribute)

    with pytest.raises(InvalidRequestError, match="lazy='raise'"):
        await run(touch)


@pytest.mark.parametrize("attribute", ["student", "course"])
async def test_lazy_loading_from_an_enrollment_raises(run: Run[Any], attribute: str) -> None:
    student_id, course_id, _ = await run(enrolled_pair)

    def touch(session: Session) -> None:
        getattr(session.get(StudentCourse, (student_id, course_id)), attribute)

    with pytest.raises(InvalidRequestError, match="lazy='raise'"):
        await run(touch)


async def test_deleting_a_student_deletes_its_enrollments(run: Run[Any]) -> None:
    student_id, _, _ = await run(enrolled_pair)
    other_id, _, _ = await run(enrolled_pair)

    def delete_student(session: Session) -> None:
        session.delete(session.get(Student, student_id))
        session.commit()

    await run(delete_student)
    count_of = select(StudentCourse.student_id, func.count()).group_by(StudentCourse.student_id)
    assert await run(lambda s: s.execute(count_of).all()) == [(other_id, 2)]


async def test_deleting_a_course_with_enrollments_is_refused(run: Run[Any]) -> None:
    _, course_id, _ = await run(enrolled_pair)

    def delete_course(session: Session) -> None:
        session.execute(delete(Course).where(Course.id == course_id))
        session.commit()

    with pytest.raises(IntegrityError):
        await run(delete_course)
    assert await run(lambda s: s.get(Course, course_id).id) == course_id


async def test_deleting_a_course_without_enrollments_is_allowed(run: Run[Any]) -> None:
    await run(add_and_commit(course(code="EMPTY1")))

    def delete_course(session: Session) -> None:
        session.execute(delete(Course).where(Course.code == "EMPTY1"))
        session.commit()

    await run(delete_course)
    assert await run(lambda s: s.scalars(select(Course).where(Course.code == "EMPTY1")).all()) == []


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"capacity": 1, "enrolled": 2}, id="enrolled-above-capacity"),
        pytest.param({"capacity": 0, "enrolled": 1}, id="enrolled-in-zero-capacity"),
        pytest.param({"capacity": None, "enrolled": -1}, id="negative-enrolled"),
        pytest.param({"capacity": -1, "enrolled": 0}, id="negative-capacity"),
        pytest.param({"capacity": 100_001, "enrolled": 0}, id="capacity-over-100000"),
    ],
)
async def test_check_constraints_refuse_bad_seat_counts(run: Run[Any], values: dict[str, int | None]) -> None:
    with pytest.raises(IntegrityError):
        await run(add_and_commit(course(**values)))


async def test_check_constraints_allow_the_bounds(run: Run[Any]) -> None:
    await run(add_and_commit(course(capacity=100_000, enrolled=100_000), course(capacity=0, enrolled=0)))


async def test_raising_enrolled_past_capacity_is_refused(run: Run[Any]) -> None:
    _, course_id, _ = await run(enrolled_pair)  # capacity 5, enrolled 1

    def overfill(session: Session) -> None:
        session.execute(update(Course).where(Course.id == course_id).values(enrolled=Course.capacity + 1))
        session.commit()

    with pytest.raises(IntegrityError):
        await run(overfill)
    assert await run(lambda s: s.get(Course, course_id).enrolled) == 1


async def test_duplicate_email_is_refused(run: Run[Any]) -> None:
    await run(add_and_commit(student(email="same@example.edu")))
    with pytest.raises(IntegrityError):
        await run(add_and_commit(student(email="same@example.edu")))


async def test_duplicate_code_is_refused(run: Run[Any]) -> None:
    await run(add_and_commit(course(code="DUP1")))
    with pytest.raises(IntegrityError):
        await run(add_and_commit(course(code="DUP1")))


async def test_duplicate_enrollment_is_refused(run: Run[Any]) -> None:
    student_id, course_id, _ = await run(enrolled_pair)
    with pytest.raises(IntegrityError):
        await run(add_and_commit(StudentCourse(student_id=student_id, course_id=course_id, enrolled_at=NOW)))


async def test_enrollment_of_unknown_student_or_course_is_refused(run: Run[Any]) -> None:
    student_id, course_id, _ = await run(enrolled_pair)
    with pytest.raises(IntegrityError):
        await run(add_and_commit(StudentCourse(student_id=999_999, course_id=course_id, enrolled_at=NOW)))
    with pytest.raises(IntegrityError):
        await run(add_and_commit(StudentCourse(student_id=student_id, course_id=999_999, enrolled_at=NOW)))
