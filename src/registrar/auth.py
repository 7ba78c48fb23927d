"""Who may call what: roles declared on each route, checked before the body is read.

A route declares its role with `openapi_extra=allow(Role.X)`, visible in its decorator and in the
OpenAPI document. `RequestGate` (middleware.py) reads that declaration, so authentication and the
role check run in the contract's order: after route and body size, before the body is parsed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

ROLE_MEMBER = "x-required-role"
BEARER_SCHEME = "bearerAuth"


class Role(StrEnum):
    PUBLIC = "public"
    READER = "reader"  # GET only
    ADMIN = "admin"


def allow(role: Role) -> dict[str, Any]:
    """The `openapi_extra` that declares who may call a route."""
    security: list[dict[str, list[str]]] = [] if role is Role.PUBLIC else [{BEARER_SCHEME: []}]
    return {ROLE_MEMBER: role.value, "security": security}


def required_role(route: BaseRoute) -> Role:
    """The role a route needs. Routes outside the API document (docs pages and their assets) are
    public; an API route that forgot to declare one fails at start-up (see `check_declared`)."""
    if isinstance(route, APIRoute) and route.include_in_schema:
        return Role((route.openapi_extra or {})[ROLE_MEMBER])
    return Role.PUBLIC


def check_declared(routes: list[BaseRoute]) -> None:
    undeclared = [
        r.path
        for r in routes
        if isinstance(r, APIRoute) and r.include_in_schema and ROLE_MEMBER not in (r.openapi_extra or {})
    ]
    if undeclared:
        raise RuntimeError(f"routes without a declared role: {undeclared}")


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def may_call(key_role: str, needed: Role) -> bool:
    return needed is not Role.ADMIN or key_role == Role.ADMIN.value
