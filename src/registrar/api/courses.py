"""/courses and a course's roster"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from registrar.api.common import After, AsOf, CallerOf, Db, Filter, Limit, json_response
from registrar.auth import Role, allow
from registrar.problems import (
    AlreadyExists,
    CapacityBelowEnrolled,
    CourseHasEnrollments,
    NotFound,
    ValidationFailed,
    problem_responses,
)
from registrar.schemas import Course, CourseCreate, CourseUpdate, Page, RosterEntry
from registrar.services import courses

router = APIRouter(prefix="/courses", tags=["courses"])


@router.post(
    "",
    status_code=201,
    response_model=Course,
    openapi_extra=allow(Role.ADMIN),
    responses=problem_responses(AlreadyExists, ValidationFailed),
)
async def create_course(body: CourseCreate, db: Db) -> Response:
    created = await courses.create_course(db, body)
    return json_response(created, 201, {"location": f"/courses/{created['id']}"})


@router.get(
    "",
    response_model=Page[Course],
    openapi_extra=allow(Role.READER),
    responses=problem_responses(ValidationFailed),
)
async def list_courses(db: Db, limit: Limit = 50, after: After = 0, code: Filter = None) -> Response:
    return json_response(await courses.list_courses(db, after, limit, code))


@router.get(
    "/{course_id:id}",
    response_model=Course,
    openapi_extra=allow(Role.READER),
    responses=problem_responses(NotFound),
)
async def get_course(course_id: int, db: Db) -> Response:
    return json_response(await courses.get_course(db, course_id))


@router.patch(
    "/{course_id:id}",
    response_model=Course,
    openapi_extra=allow(Role.ADMIN),
    responses=problem_responses(NotFound, AlreadyExists, CapacityBelowEnrolled, ValidationFailed),
)
async def update_course(course_id: int, body: CourseUpdate, db: Db, who: CallerOf) -> Response:
    return json_response(await courses.update_course(db, course_id, body, who))


@router.delete(
    "/{course_id:id}",
    status_code=204,
    openapi_extra=allow(Role.ADMIN),
    responses=problem_responses(NotFound, CourseHasEnrollments),
)
async def delete_course(course_id: int, db: Db) -> Response:
    await courses.delete_course(db, course_id)
    return Response(status_code=204)


@router.get(
    "/{course_id:id}/students",
    response_model=Page[RosterEntry],
    openapi_extra=allow(Role.READER),
    responses=problem_responses(NotFound, ValidationFailed),
)
async def roster(course_id: int, db: Db, limit: Limit = 50, after: After = 0, as_of: AsOf = None) -> Response:
    return json_response(await courses.roster(db, course_id, after, limit, as_of))
