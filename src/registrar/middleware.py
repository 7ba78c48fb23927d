"""Plain ASGI middleware: request ids and access lines, and the gate that runs the contract's
first checks (route, body size, authentication, role) before any handler or body parsing."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address

import orjson
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registrar import metrics
from registrar.auth import Role, bearer_token, may_call, required_role
from registrar.db import Transaction
from registrar.problems import (
    Forbidden,
    IdempotencyKeyReused,
    PayloadTooLarge,
    Problem,
    ValidationFailed,
)
from registrar.routing import MATCHED, RouteTable
from registrar.runtime import Runtime
from registrar.services import idempotency

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
    e-mail address). With `count_requests`, counts it by the route template the gate matched."""

    def __init__(self, app: ASGIApp, access_log: bool = True, count_requests: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self.count_requests = count_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = header(scope, b"x-request-id")
        # Else 32 random hex digits, as uuid4().hex gave, without building a UUID on every request.
        request_id = given if given is not None and _valid_request_id(given) else os.urandom(16).hex()
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
        except Exception:
            # Unhandled: Starlette's outermost layer answers 500 after this one has given up.
            status = status or 500
            raise
        finally:
            seconds = time.perf_counter() - started
            if self.count_requests:
                route = scope["state"].get("route", metrics.UNMATCHED)
                metrics.observe_request(scope["method"], route, status, seconds)
            if self.access_log:
                access.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "request_id": request_id,
                        "ms": round(seconds * 1000, 2),
                    },
                )


class RequestGate:
    """Route and method first (unmatched requests go on to the router's 404/405), then body size
    (413), then the bearer token (401) and the role the route declares (403). The matched route's
    template goes into the request's state, for the metrics."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute], runtime: Runtime) -> None:
        self.app = app
        self.routes = RouteTable(routes)
        self.runtime = runtime
        self.trusted_proxies = runtime.settings.trusted_proxy_networks  # parsed once, not per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = self.routes.match(scope) if scope["type"] == "http" else None
        if matched is None:
            await self.app(scope, receive, send)
            return
        scope[MATCHED] = matched  # the router takes it from here (routing.RouteOnce)
        route = matched[0]
        scope["state"]["route"] = metrics.route_label(getattr(route, "path", metrics.UNMATCHED))
        try:
            receive = self._check_size(scope, receive)
            role = required_role(route)
            if role is not Role.PUBLIC:
                await self._check_key(scope, role)
        except Problem as problem:
            await problem.response()(scope, receive, send)
            return
        _read_body_as_json(scope)
        try:
            await self.app(scope, receive, send)
        except StarletteHTTPException as exc:
            # `counted` raised it in a layer that reads the body before FastAPI's handlers can
            # render it (the idempotency layer); no response has started yet.
            if exc.status_code != 413:
                raise
            await PayloadTooLarge(f"The body may hold at most {MAX_BODY_BYTES} bytes.").response()(
                scope, receive, send
            )

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
                # An HTTPException, because FastAPI turns any other error raised while it reads
                # the body into a 400; the handler renders this one as payload-too-large.
                raise StarletteHTTPException(413)
            return message

        return counted

    async def _check_key(self, scope: Scope, role: Role) -> None:
        address = client_address(scope, self.trusted_proxies)
        token = bearer_token(header(scope, b"authorization"))
        key = await self.runtime.admission.admit(address, token)
        if not may_call(key.role, role):
            raise Forbidden(f"A {key.role} key may only read.")
        scope["state"]["key"] = key


def _read_body_as_json(scope: Scope) -> None:
    """The contract reads every body as JSON whatever its Content-Type; FastAPI parses a body as
    JSON only when told it is, so say so."""
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
    headers.append((b"content-type", b"application/json"))
    scope["headers"] = headers


def client_address(scope: Scope, trusted: Sequence[IPv4Network | IPv6Network]) -> str:
    """The TCP peer; behind a trusted proxy, the nearest address in X-Forwarded-For that is not
    itself a trusted proxy (any other hop could have written what lies further left)."""
    peer = scope["client"][0] if scope.get("client") else "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return str(peer)
    forwarded = header(scope, b"x-forwarded-for")
    hops = [hop.strip() for hop in (forwarded or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else str(peer)


def _is_trusted(address: str, trusted: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


class _Captured:
    """A response held back until the transaction it belongs to has committed."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    def stored(self) -> idempotency.StoredResponse:
        headers = {k.lower(): v.decode("latin-1") for k, v in self.headers}
        return idempotency.StoredResponse(
            self.status, headers.get(b"content-type", "application/json"), headers.get(b"location"), self.body
        )


class _NotKept(Exception):
    """The answer is not one an Idempotency-Key keeps: roll back, then send it as it is."""


async def _read_body(receive: Receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


class IdempotencyLayer:
    """POST and PUT with an Idempotency-Key: replay the first answer, or run the request inside one
    transaction that also records its answer, and send that answer only after the commit."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = scope.get("state", {}).get("key") if scope["type"] == "http" else None
        given = header(scope, b"idempotency-key") if key is not None else None
        if key is None or given is None or scope["method"] not in ("POST", "PUT"):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)

        async def replay_body() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        if not _is_json(body):  # body syntax (400) comes before validation (422)
            await self.app(scope, replay_body, send)
            return
        if not idempotency.valid_key(given):
            problem = ValidationFailed(
                [{"loc": ["header", "Idempotency-Key"], "msg": "1-255 visible ASCII characters"}]
            )
            await problem.response()(scope, replay_body, send)
            return
        request = idempotency.IdempotentRequest.of(key.id, given, scope["method"], scope["path"], body)
        await self._run(request, scope, replay_body, send)

    async def _run(
        self, request: idempotency.IdempotentRequest, scope: Scope, receive: Receive, send: Send
    ) -> None:
        captured = _Captured()
        try:
            async with self.runtime.db.transaction() as tx:
                stored = await self._answer(tx, request, scope, receive, captured)
        except _NotKept:
            stored = captured.stored()
        except Problem as problem:
            await problem.response()(scope, receive, send)
            return
        headers = {"location": stored.location} if stored.location else None
        await Response(stored.body, stored.status, headers, stored.content_type)(scope, receive, send)

    async def _answer(
        self,
        tx: Transaction,
        request: idempotency.IdempotentRequest,
        scope: Scope,
        receive: Receive,
        captured: _Captured,
    ) -> idempotency.StoredResponse:
        """The response to send, run and recorded in `tx` when the key is new; raises to roll
        back when it is not one to keep."""
        retention = timedelta(hours=self.runtime.settings.idempotency_hours)
        try:
            stored = await idempotency.begin(tx, request, retention)
        except IdempotencyKeyReused:
            # Validation answers before the key's reuse does (contract section 5): run the request
            # only to learn whether it is valid; its transaction is rolled back either way.
            await self.app(scope, receive, captured.send)
            if _invalid(scope, captured):
                raise _NotKept from None
            raise
        if stored is not None:
            return stored
        await self.app(scope, receive, captured.send)
        if captured.status >= 500 or _invalid(scope, captured):
            raise _NotKept
        stored = captured.stored()
        await idempotency.remember(tx, request, stored)
        return stored


def _invalid(scope: Scope, captured: _Captured) -> bool:
    """Whether the request failed body syntax or validation: answers an Idempotency-Key keeps not."""
    return captured.status == 400 or bool(scope["state"].get("invalid_request"))


def _is_json(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True
