"""Waitlists: a student's (join, list, leave) and a course's, in position order (contract section 8)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from registrar.api.common import Db, json_response
from registrar.auth import Role, allow
from registrar.problems import (
    AlreadyEnrolled,
    CourseNotFull,
    NotFound,
    UnknownCourses,
    ValidationFailed,
    WaitlistFull,
    problem_responses,
)
from registrar.schemas import WaitingStudent, WaitlistEntry, WaitlistJoin
from registrar.services import waitlists

router = APIRouter(tags=["waitlists"])


@router.post(
    "/students/{student_id:id}/waitlist",
    status_code=201,
    response_model=WaitlistEntry,
    openapi_extra=allow(Role.ADMIN),
    responses={
        200: {"description": "The student already waits: its entry, unchanged", "model": WaitlistEntry},
        **problem_responses(
            NotFound, ValidationFailed, UnknownCourses, AlreadyEnrolled, CourseNotFull, WaitlistFull
        ),
    },
    summary="Join a full course's waitlist",
)
async def join(student_id: int, body: WaitlistJoin, db: Db) -> Response:
    joined, entry = await waitlists.join(db, student_id, body.course_id)
    location = {"location": f"/students/{student_id}/waitlist/{body.course_id}"}
    return json_response(entry, 201 if joined else 200, location)


@router.get(
    "/students/{student_id:id}/waitlist",
    response_model=list[WaitlistEntry],
    openapi_extra=allow(Role.READER),
    responses=problem_responses(NotFound),
    summary="The waitlists a student is on",
)
async def student_waitlist(student_id: int, db: Db) -> Response:
    return json_response(await waitlists.student_waitlist(db, student_id))


@router.delete(
    "/students/{student_id:id}/waitlist/{course_id:id}",
    status_code=204,
    openapi_extra=allow(Role.ADMIN),
    responses=problem_responses(NotFound),
    summary="Leave a waitlist",
)
async def leave(student_id: int, course_id: int, db: Db) -> Response:
    await waitlists.leave(db, student_id, course_id)
    return Response(status_code=204)


@router.get(
    "/courses/{course_id:id}/waitlist",
    response_model=list[WaitingStudent],
    openapi_extra=allow(Role.READER),
    responses=problem_responses(NotFound),
    summary="A course's waitlist, in position order",
)
async def course_waitlist(course_id: int, db: Db) -> Response:
    return json_response(await waitlists.course_waitlist(db, course_id))
