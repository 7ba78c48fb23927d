"""Plain ASGI middleware: request ids and access lines, and the gate that runs the contract's
first checks (route, body size, authentication, role) before any handler or body parsing."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registrar.auth import Role, bearer_token, may_call, required_role
from registrar.problems import Forbidden, PayloadTooLarge, Problem, Unauthorized
from registrar.services.keys import KeyCache

MAX_BODY_BYTES = 1024 * 1024
access = logging.getLogger("registrar.access")


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _valid_request_id(value: str | None) -> bool:
    return value is not None and 1 <= len(value) <= 128 and all(33 <= ord(ch) <= 126 for ch in value)


class RequestContext:
    """Gives every request an id (the client's when it is 1-128 visible ASCII characters), echoes
    it in `X-Request-ID`, and writes one access line without the query string (it may hold an
    e-mail address)."""

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = header(scope, b"x-request-id")
        request_id = given if given is not None and _valid_request_id(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log:
                access.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "request_id": request_id,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )


class RequestGate:
    """Route and method first (unmatched requests go on to the router's 404/405), then body size
    (413), then the bearer token (401) and the role the route declares (403)."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute], runtime: Any) -> None:
        self.app = app
        self.routes = routes
        self.runtime = runtime

    def _route(self, scope: Scope) -> BaseRoute | None:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        try:
            receive = self._check_size(scope, receive)
            role = required_role(route)
            if role is not Role.PUBLIC:
                await self._check_key(scope, role)
        except Problem as problem:
            await problem.response()(scope, receive, send)
            return
        _read_body_as_json(scope)
        await self.app(scope, receive, send)

    def _check_size(self, scope: Scope, receive: Receive) -> Receive:
        length = header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The body may hold at most {MAX_BODY_BYTES} bytes.")
        seen = 0

        async def counted() -> Message:
            # A body sent without Content-Length (chunked) is counted as it arrives.
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise PayloadTooLarge(f"The body may hold at most {MAX_BODY_BYTES} bytes.")
            return message

        return counted

    async def _check_key(self, scope: Scope, role: Role) -> None:
        token = bearer_token(header(scope, b"authorization"))
        cache: KeyCache = self.runtime.keys
        key = await cache.key_for(self.runtime.db, token) if token else None
        if key is None:
            raise Unauthorized()
        if not may_call(key.role, role):
            raise Forbidden(f"A {key.role} key may only read.")
        scope["state"]["key"] = key


def _read_body_as_json(scope: Scope) -> None:
    """The contract reads every body as JSON whatever its Content-Type; FastAPI parses a body as
    JSON only when told it is, so say so."""
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
    headers.append((b"content-type", b"application/json"))
    scope["headers"] = headers
