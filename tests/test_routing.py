"""The gate's route table finds, for any request, the route Starlette's router would have found by
matching every route in order: the gate decides authentication by it, and the router trusts it."""

from __future__ import annotations

import re
from itertools import product

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from registrar.app import create_app
from registrar.auth import Role, allow
from registrar.config import Settings
from registrar.routing import RouteTable
from registrar.services import keys
from tests.helpers import assert_problem

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
ROUTES = create_app(Settings(database_url="sqlite:///unused.db", _env_file=None)).routes


def first_full_match_in_order(routes: list[BaseRoute], scope: Scope) -> BaseRoute | None:
    """What Starlette's router does: the first route whose match is full."""
    return next((r for r in routes if r.matches(scope)[0] is Match.FULL), None)


def concrete(template: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, template)


def request_paths() -> list[str]:
    """Every route's path with its parameters filled in (valid and invalid ids), near misses, and
    paths no route has."""
    templates = {getattr(r, "path", "") for r in ROUTES}
    paths = {concrete(t, v) for t in templates for v in ("7", "0", "abc")}
    paths |= {p + "/" for p in paths} | {p + "/extra" for p in paths}
    return sorted(paths | {"/", "", "/nope", "/students/7/nope", "//students", "/static-offline-docs/x.js"})


@pytest.mark.parametrize("root_path", ["", "/registrar"])
def test_the_table_matches_the_route_the_router_would(root_path: str) -> None:
    table = RouteTable(ROUTES)
    checked = 0
    for method, path in product(METHODS, request_paths()):
        scope: Scope = {"type": "http", "method": method, "path": root_path + path, "root_path": root_path}
        expected = first_full_match_in_order(ROUTES, scope)
        found = table.match(scope)
        assert (found[0] if found else None) is expected, (method, path)
        if found:
            assert expected is not None and found[1] == expected.matches(scope)[1]
            checked += 1
    assert checked > len(ROUTES)  # most routes were found, under several paths each


async def secret_endpoint() -> dict[str, str]:
    return {"secret": "only for keys"}


async def test_a_route_added_after_the_app_was_built_is_still_behind_the_gate(settings: Settings) -> None:
    """Before the first request (the table is built then) or after it (the gate's fallback reads
    the app's own list of routes), an added route is authenticated like every other; a route the
    gate did not know would reach its handler without a key."""
    app = create_app(settings)
    app.router.routes.append(
        APIRoute("/added", secret_endpoint, methods=["GET"], openapi_extra=allow(Role.READER))
    )
    async with app.router.lifespan_context(app):
        token = await keys.create_key(app.state.runtime.db, "reader", "reader")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registrar.test") as client:
            anonymous = await client.get("/added")
            with_key = await client.get("/added", headers={"authorization": f"Bearer {token}"})
            app.router.routes.append(
                APIRoute("/added-later", secret_endpoint, methods=["GET"], openapi_extra=allow(Role.READER))
            )
            later_anonymous = await client.get("/added-later")
            later_with_key = await client.get("/added-later", headers={"authorization": f"Bearer {token}"})
    assert_problem(anonymous, 401, "unauthorized")
    assert_problem(later_anonymous, 401, "unauthorized")
    assert with_key.json() == later_with_key.json() == {"secret": "only for keys"}
