"""/metrics"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from registrar import metrics
from registrar.api.common import Db
from registrar.auth import Role, allow

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    openapi_extra=allow(Role.READER),
    response_class=Response,
    responses={
        200: {
            "description": "Every worker's metrics in the Prometheus text format",
            "content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def read_metrics(db: Db) -> Response:
    return Response(metrics.exposition(db), media_type=metrics.CONTENT_TYPE)
