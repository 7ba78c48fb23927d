"""create_app(settings): the ASGI application, its lifespan, middleware, handlers and routers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline

from registrar import __version__, metrics
from registrar.api import courses, enrollments, health, history, students, waitlists
from registrar.api import metrics as metrics_api
from registrar.auth import check_declared
from registrar.config import Settings
from registrar.console import router as console_router
from registrar.db import open_database
from registrar.middleware import IdempotencyLayer, RequestContext, RequestGate
from registrar.openapi import openapi_document
from registrar.problems import install_handlers
from registrar.routing import route_once
from registrar.runtime import Runtime
from registrar.services import housekeeping
from registrar.services.access import Admission
from registrar.services.keys import KeyCache
from registrar.services.throttle import Blocklist, RedisBlocklist

DESCRIPTION = """Students, courses and who is enrolled in what.

Every endpoint but `/healthz` and these docs needs `Authorization: Bearer <token>`: press
**Authorize** and paste a key (`registrar keys create --role admin`). Errors are RFC 9457 problems
(`application/problem+json`)."""


# registrar exports no OpenTelemetry. Left on, FastAPI asks OpenTelemetry's global providers on
# every request whether anyone listens (environment look-ups included), and if someone did, its
# records would carry exception messages, which may quote an e-mail address or a name.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.db = db = await open_database(settings)
        blocks = RedisBlocklist(settings.redis_url) if settings.redis_url else Blocklist(db)
        runtime.admission = Admission(db, KeyCache(settings.key_cache_seconds), blocks)
        retention = timedelta(hours=settings.idempotency_hours)
        sweeper = asyncio.create_task(housekeeping.sweep_forever(db, retention))
        stop_following = asyncio.Event()
        follower = asyncio.create_task(blocks.follow(stop_following))
        publisher = asyncio.create_task(metrics.publish_forever(db)) if settings.metrics else None
        # Everything loaded so far lives as long as the worker: keep it out of the garbage
        # collector's way, so that full collections stay short and do not stretch the tail latency.
        gc.freeze()
        try:
            yield
        finally:
            sweeper.cancel()
            if publisher is not None:
                publisher.cancel()
                metrics.publish(db)  # the last second's requests, before the worker's values freeze
            stop_following.set()
            await asyncio.wait([follower], timeout=settings.db_timeout + 1)
            follower.cancel()
            await db.close()

    app: FastAPI = FastAPIOffline(
        title="registrar",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        favicon_url=None,
        telemetry=NO_TELEMETRY,
    )
    app.state.runtime = runtime
    modules = [students, courses, enrollments, waitlists, history, health]
    if settings.metrics:
        modules.append(metrics_api)
    for module in modules:
        # Added as plain routes (not include_router) so that app.routes is the flat list the
        # request gate matches against before the router runs.
        app.router.routes.extend(module.router.routes)
    app.router.routes.extend(console_router.routes)  # the staff console: public, outside the API document
    check_declared(app.routes)
    install_handlers(app)
    app.add_middleware(IdempotencyLayer, runtime=runtime)
    app.add_middleware(RequestGate, routes=app.routes, runtime=runtime)
    route_once(app.router)
    app.add_middleware(RequestContext, access_log=settings.access_log, count_requests=settings.metrics)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    return app
