"""Secrets and personal data: a canary token, name and e-mail address go through a representative
flow with every logger at DEBUG; they appear in no log line and in no error body, and the token is
stored only as its SHA-256 digest, compared in constant time (contract section 2)."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from registrar.app import create_app
from registrar.config import Settings
from registrar.db import Sql
from registrar.logs import JsonLines
from registrar.services import keys
from tests.conftest import client_for
from tests.helpers import assert_problem

CANARY_NAME = "Canary Nightingale Quux"
CANARY_EMAIL = "canary.quux7f3a@example.edu"
CANARY_BAD_TOKEN = "CanaryBadToken_0123456789abcdefghijklmnopqrstuv"
CLIENT_LOGGERS = ("httpx", "httpcore")
LOGGERS = ("", "registrar", "sqlalchemy.engine", "uvicorn", "uvicorn.error", "uvicorn.access", "asyncpg")


@pytest.fixture
async def app_with_access_log(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update={"access_log": True}))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in {*LOGGERS, *logging.root.manager.loggerDict}:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


class Recorder:
    """A client that keeps every response, to search their bodies afterwards."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.responses: list[httpx.Response] = []

    async def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, path, **kwargs)
        self.responses.append(response)
        return response


async def representative_flow(app: FastAPI, token: str) -> list[httpx.Response]:
    """Create, list, change and delete students and courses; enroll, replace and drop; fail to
    authenticate; trip validation with the canaries themselves; a 409; idempotent retries."""
    transport = httpx.ASGITransport(app=app, client=("10.77.0.1", 1234))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://registrar.test", headers={"authorization": f"Bearer {token}"}
    ) as client:
        call = Recorder(client)
        retry = {"idempotency-key": "canary-retry-1"}
        student = (await call("POST", "/students", json={"name": CANARY_NAME, "email": CANARY_EMAIL})).json()
        assert_problem(
            await call("POST", "/students", json={"name": CANARY_NAME, "email": CANARY_EMAIL}),
            409,
            "already-exists",
        )
        await call("GET", "/students", params={"email": CANARY_EMAIL})
        await call("PATCH", f"/students/{student['id']}", json={"name": CANARY_NAME + " Jr"})
        course = (
            await call("POST", "/courses", json={"code": "CANARY1", "title": CANARY_NAME}, headers=retry)
        ).json()
        await call("POST", "/courses", json={"code": "CANARY1", "title": CANARY_NAME}, headers=retry)
        other = (
            await call("POST", "/courses", json={"code": "CANARY2", "title": "Other", "capacity": 1})
        ).json()
        await call("GET", "/courses", params={"code": "canary1"})
        await call("PATCH", f"/courses/{course['id']}", json={"title": CANARY_NAME + " II"})
        enroll = {"course_ids": [course["id"]]}
        await call(
            "POST", f"/students/{student['id']}/courses", json=enroll, headers={"idempotency-key": "e1"}
        )
        await call(
            "POST", f"/students/{student['id']}/courses", json=enroll, headers={"idempotency-key": "e1"}
        )
        await call(
            "PUT", f"/students/{student['id']}/courses", json={"course_ids": [course["id"], other["id"]]}
        )
        await call("GET", f"/students/{student['id']}")
        await call("GET", f"/courses/{course['id']}/students")
        assert_problem(await call("DELETE", f"/courses/{course['id']}"), 409, "course-has-enrollments")
        await call("DELETE", f"/students/{student['id']}/courses/{course['id']}")
        for bad in (
            {"name": CANARY_NAME + "\x00", "email": CANARY_EMAIL},
            {"name": CANARY_NAME * 20, "email": CANARY_EMAIL},
            {"name": CANARY_NAME, "email": CANARY_EMAIL.replace("@", "@@")},
            {"name": CANARY_NAME, "email": CANARY_EMAIL + "\x00"},
            {"name": CANARY_NAME, "email": CANARY_EMAIL, "id": 1},
        ):
            assert_problem(await call("POST", "/students", json=bad), 422, "validation-error")
        assert_problem(
            await call("PATCH", f"/students/{student['id']}", json={"email": " "}), 422, "validation-error"
        )
        assert_problem(
            await call("GET", "/students", params={"email": CANARY_EMAIL + "\x00"}), 422, "validation-error"
        )
        assert_problem(await call("POST", "/students", content=CANARY_EMAIL.encode()), 400, "malformed-json")
        for bad_token in (CANARY_BAD_TOKEN, token + "x", token[:-1]):
            response = await call("GET", "/students", headers={"authorization": f"Bearer {bad_token}"})
            assert_problem(response, 401, "unauthorized")
        await call("DELETE", f"/students/{student['id']}")
        await call("DELETE", f"/courses/{course['id']}")
    return call.responses


def log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Each record of the service as it writes it (JSON lines) and as plain text with any traceback.
    The test's own HTTP client (httpx, httpcore) logs the URLs it requests; it is not the service."""
    plain = logging.Formatter("%(name)s %(levelname)s %(message)s")
    service = [r for r in caplog.records if r.name.split(".")[0] not in CLIENT_LOGGERS]
    return [line for r in service for line in (JsonLines().format(r), plain.format(r))]


def canaries(token: str) -> list[str]:
    return [token, CANARY_BAD_TOKEN, CANARY_NAME, CANARY_EMAIL, CANARY_EMAIL.split("@")[0]]


async def test_canaries_appear_in_no_log_line(
    app_with_access_log: FastAPI, every_logger_at_debug: pytest.LogCaptureFixture
) -> None:
    token = await keys.create_key(app_with_access_log.state.runtime.db, "admin", "canary key")

    await representative_flow(app_with_access_log, token)

    lines = log_lines(every_logger_at_debug)
    assert any('"action":"enroll"' in line for line in lines), "the flow should have been logged"
    assert any("registrar.access" in line for line in lines), "access lines should have been captured"
    for canary in canaries(token):
        leaks = [line for line in lines if canary.lower() in line.lower()]
        assert not leaks, f"{canary!r} logged: {leaks[:3]}"


async def test_canaries_appear_in_no_error_body(app: FastAPI) -> None:
    token = await keys.create_key(app.state.runtime.db, "admin", "canary key")

    responses = await representative_flow(app, token)

    errors = [r for r in responses if r.status_code >= 400]
    assert len(errors) >= 12
    for response in errors:
        for canary in canaries(token):
            assert canary.lower() not in response.text.lower(), response.text
    for response in responses:
        assert token not in response.text
        assert all(token not in value for value in response.headers.values())


async def test_api_keys_hold_only_a_sha256_digest_of_the_token(app: FastAPI) -> None:
    token = await keys.create_key(app.state.runtime.db, "admin", "digest check")

    async with app.state.runtime.db.connection() as conn:
        rows = [dict(r) for r in await conn.fetch(Sql("SELECT * FROM api_keys"))]

    (row,) = rows
    assert row["token_digest"] == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", row["token_digest"])
    for value in row.values():
        assert token not in str(value)


@pytest.mark.parametrize("position", [0, 21, -1], ids=["first", "middle", "last"])
async def test_a_token_one_character_off_anywhere_is_refused(
    app: FastAPI, admin_token: str, position: int
) -> None:
    """Tokens are recognised by their SHA-256 digest (README, "Security"): a near miss shares
    nothing with the real token's digest, so it is refused like any other wrong token."""
    index = position % len(admin_token)
    wrong = admin_token[:index] + ("A" if admin_token[index] != "A" else "B") + admin_token[index + 1 :]
    async with client_for(app, admin_token) as good, client_for(app, wrong) as near_miss:
        assert (await good.get("/students")).status_code == 200  # the real key is cached now
        assert_problem(await near_miss.get("/students"), 401, "unauthorized")
