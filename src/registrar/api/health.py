"""/healthz"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from registrar.api.common import Db, json_response
from registrar.auth import Role, allow
from registrar.problems import ServiceUnavailable, problem_responses
from registrar.schemas import Health
from registrar.services import health

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    openapi_extra=allow(Role.PUBLIC),
    responses=problem_responses(ServiceUnavailable),
)
async def healthz(db: Db) -> Response:
    await health.check(db)
    return json_response({"status": "ok"})
