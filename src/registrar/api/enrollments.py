"""A student's courses: list, enroll, replace, drop (and the /enroll aliases of older drafts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from starlette.responses import Response

from registrar.api.common import AsOf, CallerOf, Db, json_response
from registrar.auth import Role, allow
from registrar.problems import CourseFull, NotFound, UnknownCourses, ValidationFailed, problem_responses
from registrar.schemas import CourseInfo, EnrollMany, EnrollmentSet, EnrollOne
from registrar.services import enrollments

router = APIRouter(prefix="/students/{student_id:id}", tags=["enrollments"])

WRITE_PROBLEMS = problem_responses(NotFound, ValidationFailed, UnknownCourses, CourseFull)
EnrollBody = Annotated[
    EnrollMany | EnrollOne,
    Body(
        openapi_examples={
            "several": {"summary": "Enroll in several courses", "value": {"course_ids": [3, 4]}},
            "one": {"summary": "Enroll in one course", "value": {"course_id": 3}},
        }
    ),
]
ReplaceBody = Annotated[
    EnrollmentSet,
    Body(
        openapi_examples={
            "set": {"summary": "Exactly these courses", "value": {"course_ids": [3, 5]}},
            "none": {"summary": "No course at all", "value": {"course_ids": []}},
        }
    ),
]


@router.get(
    "/courses",
    response_model=list[CourseInfo],
    openapi_extra=allow(Role.READER),
    responses=problem_responses(NotFound, ValidationFailed),
)
async def list_courses(student_id: int, db: Db, as_of: AsOf = None) -> Response:
    return json_response(await enrollments.list_courses(db, student_id, as_of))


async def _enroll(student_id: int, body: EnrollMany | EnrollOne, db: Db, who: CallerOf) -> Response:
    ids = body.course_ids if isinstance(body, EnrollMany) else [body.course_id]
    added, courses = await enrollments.enroll(db, student_id, ids, who)
    return json_response(courses, 201 if added else 200)


async def _replace(student_id: int, body: EnrollmentSet, db: Db, who: CallerOf) -> Response:
    return json_response(await enrollments.replace(db, student_id, body.course_ids, who))


@router.post(
    "/courses",
    status_code=201,
    response_model=list[CourseInfo],
    openapi_extra=allow(Role.ADMIN),
    responses={
        200: {"description": "Nothing new: the student already had every course", "model": list[CourseInfo]},
        **WRITE_PROBLEMS,
    },
    summary="Enroll a student in courses",
)
async def enroll(student_id: int, body: EnrollBody, db: Db, who: CallerOf) -> Response:
    return await _enroll(student_id, body, db, who)


@router.put(
    "/courses",
    response_model=list[CourseInfo],
    openapi_extra=allow(Role.ADMIN),
    responses=WRITE_PROBLEMS,
    summary="Replace a student's courses",
)
async def replace(student_id: int, body: ReplaceBody, db: Db, who: CallerOf) -> Response:
    return await _replace(student_id, body, db, who)


@router.delete(
    "/courses/{course_id:id}",
    status_code=204,
    openapi_extra=allow(Role.ADMIN),
    responses=problem_responses(NotFound),
    summary="Drop one course",
)
async def drop(student_id: int, course_id: int, db: Db, who: CallerOf) -> Response:
    await enrollments.drop(db, student_id, course_id, who)
    return Response(status_code=204)


@router.post(
    "/enroll",
    status_code=201,
    response_model=list[CourseInfo],
    openapi_extra=allow(Role.ADMIN),
    responses={200: {"description": "Nothing new", "model": list[CourseInfo]}, **WRITE_PROBLEMS},
    deprecated=True,
    summary="Alias of POST /students/{student_id}/courses",
)
async def enroll_alias(student_id: int, body: EnrollBody, db: Db, who: CallerOf) -> Response:
    return await _enroll(student_id, body, db, who)


@router.put(
    "/enroll",
    response_model=list[CourseInfo],
    openapi_extra=allow(Role.ADMIN),
    responses=WRITE_PROBLEMS,
    deprecated=True,
    summary="Alias of PUT /students/{student_id}/courses",
)
async def replace_alias(student_id: int, body: ReplaceBody, db: Db, who: CallerOf) -> Response:
    return await _replace(student_id, body, db, who)
