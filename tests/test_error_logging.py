"""An unexpected failure is a 500 problem for the client and a debuggable record for the operator:
the access line says 500 (the status sent), and the error line carries the traceback, with the
exception's type but never its message (which may quote an e-mail address or a name)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from registrar.app import create_app
from registrar.auth import Role, allow
from registrar.config import Settings
from registrar.logs import JsonLines
from registrar.services import keys
from tests.helpers import assert_problem

SECRET = "ada.lovelace@example.edu"


class LedgerCorrupted(Exception):
    pass


async def failing_endpoint() -> None:
    raise LedgerCorrupted(f"row for {SECRET} is inconsistent")


@pytest.fixture
async def app_that_fails(settings: Settings) -> AsyncIterator[FastAPI]:
    """The real app with access lines on, plus one route whose handler raises."""
    application = create_app(settings.model_copy(update={"access_log": True}))
    application.router.routes.append(
        APIRoute("/failing", failing_endpoint, methods=["GET"], openapi_extra=allow(Role.READER))
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonLines()
    return [orjson.loads(formatter.format(r)) for r in caplog.records if r.name.startswith("registrar")]


async def test_an_unhandled_error_is_logged_with_status_500_and_a_traceback_without_its_message(
    app_that_fails: FastAPI, records: pytest.LogCaptureFixture
) -> None:
    token = await keys.create_key(app_that_fails.state.runtime.db, "reader", "reader")
    transport = httpx.ASGITransport(app=app_that_fails, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://registrar.test", headers={"authorization": f"Bearer {token}"}
    ) as client:
        response = await client.get("/failing", headers={"x-request-id": "boom-1"})

    body = assert_problem(response, 500, "internal-error")
    assert SECRET not in response.text and "LedgerCorrupted" not in response.text
    assert body["detail"]
    lines = json_lines(records)
    [access] = [line for line in lines if line["logger"] == "registrar.access"]
    assert (access["status"], access["request_id"]) == (500, "boom-1")
    [error] = [line for line in lines if line["level"] == "error"]
    assert error["request_id"] == "boom-1"
    assert "failing_endpoint" in error["traceback"]
    assert "LedgerCorrupted" in error["traceback"]
    assert all(SECRET not in orjson.dumps(line).decode() for line in lines)


def test_a_chained_exception_shows_each_cause_by_type() -> None:
    try:
        try:
            {}["missing"]
        except KeyError as exc:
            raise LedgerCorrupted(SECRET) from exc
    except LedgerCorrupted as exc:
        record = logging.LogRecord(
            "registrar", logging.ERROR, __file__, 1, "failed", None, (type(exc), exc, None)
        )
    line = orjson.loads(JsonLines().format(record))
    assert "builtins.KeyError" in line["traceback"]
    assert line["traceback"].count("Traceback (most recent call last)") == 2
    assert SECRET not in line["traceback"]
    assert "KeyError: " not in line["traceback"]  # frames and types only, no messages
