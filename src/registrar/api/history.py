"""The enrollment history of a student or a course (contract section 7)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from registrar.api.common import After, Db, Limit, json_response
from registrar.auth import Role, allow
from registrar.problems import NotFound, ValidationFailed, problem_responses
from registrar.schemas import Event, Page
from registrar.services import history

router = APIRouter(tags=["history"])


@router.get(
    "/students/{student_id:id}/history",
    response_model=Page[Event],
    openapi_extra=allow(Role.READER),
    responses=problem_responses(NotFound, ValidationFailed),
    summary="A student's enrollment history",
)
async def student_history(student_id: int, db: Db, limit: Limit = 50, after: After = 0) -> Response:
    return json_response(await history.student_history(db, student_id, after, limit))


@router.get(
    "/courses/{course_id:id}/history",
    response_model=Page[Event],
    openapi_extra=allow(Role.READER),
    responses=problem_responses(NotFound, ValidationFailed),
    summary="A course's enrollment history",
)
async def course_history(course_id: int, db: Db, limit: Limit = 50, after: After = 0) -> Response:
    return json_response(await history.course_history(db, course_id, after, limit))
