"""RFC 9457 problems: one exception class per slug of the contract, and the handlers that render them.

Services raise these; nothing else decides what an error looks like on the wire. Database text and
exception messages never reach a body: every body is built from the class and its declared members.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:registrar:problem:"

log = logging.getLogger("registrar.errors")


class Problem(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"
    headers: dict[str, str]

    def __init__(self, detail: str = "", **members: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.members = members
        self.headers = {}

    def body(self) -> dict[str, Any]:
        return {
            "type": TYPE_PREFIX + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.members,
        }

    def response(self) -> Response:
        return Response(orjson.dumps(self.body()), self.status, dict(self.headers), PROBLEM_MEDIA_TYPE)


class MalformedJson(Problem):
    status, slug, title = 400, "malformed-json", "The body is not JSON"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str = "A valid bearer token is required.") -> None:
        super().__init__(detail)
        self.headers["www-authenticate"] = "Bearer"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Not allowed for this key's role"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class AlreadyExists(Problem):
    status, slug, title = 409, "already-exists", "Already exists"


class CourseFull(Problem):
    status, slug, title = 409, "course-full", "Course is full"

    def __init__(self, full_course_ids: Sequence[int], waitlist_open_course_ids: Sequence[int] = ()) -> None:
        ids = sorted(set(full_course_ids))
        open_ids = sorted(set(waitlist_open_course_ids))
        detail = f"No seat left in course(s) {ids}."
        if open_ids:
            detail += f" The waitlist of course(s) {open_ids} has room: POST /students/{{id}}/waitlist."
        super().__init__(detail, full_course_ids=ids, waitlist_open_course_ids=open_ids)


class AlreadyEnrolled(Problem):
    status, slug, title = 409, "already-enrolled", "Already enrolled"


class CourseNotFull(Problem):
    status, slug, title = 409, "course-not-full", "Course is not full"


class WaitlistFull(Problem):
    status, slug, title = 409, "waitlist-full", "Waitlist is full"


class CourseHasEnrollments(Problem):
    status, slug, title = 409, "course-has-enrollments", "Course has enrollments"


class CapacityBelowEnrolled(Problem):
    status, slug, title = 409, "capacity-below-enrolled", "Capacity below the number enrolled"


class IdempotencyKeyInUse(Problem):
    status, slug, title = 409, "idempotency-key-in-use", "Idempotency key in use"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "Body too large"


class ValidationFailed(Problem):
    status, slug, title = 422, "validation-error", "Invalid request"

    def __init__(self, errors: list[dict[str, Any]], detail: str = "The request is not valid.") -> None:
        super().__init__(detail, errors=errors)


class UnknownCourses(Problem):
    status, slug, title = 422, "unknown-courses", "Unknown courses"

    def __init__(self, invalid_course_ids: Sequence[int]) -> None:
        ids = sorted(set(invalid_course_ids))
        super().__init__(f"No course with id(s) {ids}.", invalid_course_ids=ids)


class IdempotencyKeyReused(Problem):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused"


class RateLimited(Problem):
    status, slug, title = 429, "rate-limited", "Too many failed attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed authentications; retry in {retry_after} s.")
        self.headers["retry-after"] = str(retry_after)


class InternalError(Problem):
    status, slug, title = 500, "internal-error", "Internal error"


class ServiceUnavailable(Problem):
    status, slug, title = 503, "service-unavailable", "Service unavailable"

    def __init__(
        self, detail: str = "The database is unavailable; retry shortly.", retry_after: int = 1
    ) -> None:
        super().__init__(detail)
        self.headers["retry-after"] = str(retry_after)


ALL_PROBLEMS: tuple[type[Problem], ...] = (
    MalformedJson,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    AlreadyExists,
    CourseFull,
    CourseHasEnrollments,
    CapacityBelowEnrolled,
    IdempotencyKeyInUse,
    PayloadTooLarge,
    ValidationFailed,
    UnknownCourses,
    IdempotencyKeyReused,
    RateLimited,
    InternalError,
    ServiceUnavailable,
)


class ProblemBody(BaseModel):
    """The schema of every error body, for the OpenAPI document."""

    model_config = ConfigDict(extra="allow", title="Problem")
    type: str
    title: str
    status: int
    detail: str


def problem_responses(*problems: type[Problem]) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry of a route: each status it may answer with, as a problem."""
    by_status: dict[int, list[str]] = {}
    for p in problems:
        by_status.setdefault(p.status, []).append(p.slug)
    return {
        status: {
            "description": ", ".join(slugs),
            "model": ProblemBody,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, slugs in sorted(by_status.items())
    }


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "invalid"))} for e in exc.errors()]


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return exc.response()


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # An invalid request is not one whose answer an Idempotency-Key keeps (contract section 6).
    request.state.invalid_request = True
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return MalformedJson("The body could not be parsed as JSON.").response()
    return ValidationFailed(_validation_errors(exc)).response()


_BY_HTTP_STATUS: dict[int, type[Problem]] = {
    400: MalformedJson,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


def _allowed_methods(request: Request) -> str:
    """Every method of every route at this path: each method is its own route, and Starlette's
    405 names only the first one's."""
    methods: set[str] = set()
    for route in request.app.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    problem_class = _BY_HTTP_STATUS.get(exc.status_code, InternalError)
    problem = problem_class()
    if exc.status_code == 405:
        problem.headers["allow"] = _allowed_methods(request)
    return problem.response()


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # The JSON log line carries the traceback without the exception's message (logs.where).
    log.error("unhandled %s", type(exc).__name__, exc_info=exc, extra={"request_id": request_id_of(request)})
    response = InternalError("The server failed to answer this request.").response()
    # This handler runs outside the middleware that stamps request ids, so it stamps its own.
    response.headers["x-request-id"] = request_id_of(request) or ""
    return response


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
