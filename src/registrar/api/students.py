"""/students"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from registrar.api.common import After, CallerOf, Db, Filter, Limit, json_response
from registrar.auth import Role, allow
from registrar.problems import AlreadyExists, NotFound, ValidationFailed, problem_responses
from registrar.schemas import Page, Student, StudentCreate, StudentUpdate, StudentWithCourses
from registrar.services import students

router = APIRouter(prefix="/students", tags=["students"])


@router.post(
    "",
    status_code=201,
    response_model=Student,
    openapi_extra=allow(Role.ADMIN),
    responses=problem_responses(AlreadyExists, ValidationFailed),
)
async def create_student(body: StudentCreate, db: Db) -> Response:
    created = await students.create_student(db, body)
    return json_response(created, 201, {"location": f"/students/{created['id']}"})


@router.get(
    "",
    response_model=Page[Student],
    openapi_extra=allow(Role.READER),
    responses=problem_responses(ValidationFailed),
)
async def list_students(db: Db, limit: Limit = 50, after: After = 0, email: Filter = None) -> Response:
    return json_response(await students.list_students(db, after, limit, email))


@router.get(
    "/{student_id:id}",
    response_model=StudentWithCourses,
    openapi_extra=allow(Role.READER),
    responses=problem_responses(NotFound),
)
async def get_student(student_id: int, db: Db) -> Response:
    return json_response(await students.get_student(db, student_id))


@router.patch(
    "/{student_id:id}",
    response_model=Student,
    openapi_extra=allow(Role.ADMIN),
    responses=problem_responses(NotFound, AlreadyExists, ValidationFailed),
)
async def update_student(student_id: int, body: StudentUpdate, db: Db) -> Response:
    return json_response(await students.update_student(db, student_id, body))


@router.delete(
    "/{student_id:id}",
    status_code=204,
    openapi_extra=allow(Role.ADMIN),
    responses=problem_responses(NotFound),
)
async def delete_student(student_id: int, db: Db, who: CallerOf) -> Response:
    await students.delete_student(db, student_id, who)
    return Response(status_code=204)
