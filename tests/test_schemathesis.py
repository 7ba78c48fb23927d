"""Schemathesis against the app's own OpenAPI document, in process over ASGI, on both engines.

Every default check runs (server errors, status code, content type, response schema and header
conformance, positive data acceptance, negative data rejection, ignored auth, ...) over the examples,
coverage and fuzzing phases, with at least 50 fuzzed examples per operation, as an admin, against
seeded rows. A failure is fixed in the service or in the schema, never by switching a check off.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.python import asgi as schemathesis_asgi
from starlette.types import ASGIApp, Receive, Scope, Send

from registrar.app import create_app
from registrar.config import Settings
from registrar.db import open_database
from registrar.services import keys
from registrar.services.seed import SeedPlan, seed

EXAMPLES_PER_OPERATION = 50
ENROLLMENT_WRITES = r"^/students/\{student_id\}/(courses|enroll|waitlist)$"
IDEMPOTENCY_KEY = "idempotency-key"
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "database": "none", "mode": "all"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
        },
        "operations": [
            {
                # Two 422s that schema-valid data can meet, since a schema cannot say which ids
                # exist or which Idempotency-Keys were used: contract section 4's `unknown-courses`
                # for a well-formed enrollment (or waitlist join, section 8) naming a course that does
                # not exist, and section 6's
                # `idempotency-key-reused` for a key generated twice with different bodies.
                # `only_known_reasons_reject_valid_data` below fails any other 422, so validation
                # errors stay caught.
                "include-method": ["POST", "PUT"],
                "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE_STATUSES, "422"]}},
            }
        ],
    }
)


def only_known_reasons_reject_valid_data(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """Schema-valid data may be refused with 422 only as `unknown-courses` (enrollment writes) or
    as `idempotency-key-reused` (a request that carried an Idempotency-Key)."""
    if case.meta is None or case.meta.generation.mode is not schemathesis.GenerationMode.POSITIVE:
        return
    if response.status_code == 422:
        slug = str(response.json().get("type", "")).rsplit(":", 1)[-1]
        allowed = set()
        if re.match(ENROLLMENT_WRITES, case.path):
            allowed.add("unknown-courses")
        if any(name.lower() == IDEMPOTENCY_KEY for name in case.headers or {}):
            allowed.add("idempotency-key-reused")
        assert slug in allowed, f"schema-valid request refused as {slug}: {response.text}"


class EachRequestItsOwnAddress:
    """After every 2xx the ignored-auth check sends the same request without a token and with a
    bad one. From one address those 401s would trip the brute-force block (20 failures; tested in
    test_role_matrix.py) and turn the rest of the run into 429s, so each request gets its own
    client address, as if many clients called."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.numbers = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            n = next(self.numbers)
            scope = {**scope, "client": (f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}", 50000)}
        await self.app(scope, receive, send)


async def seeded_admin_token(settings: Settings) -> str:
    """Rows for generated ids to hit (ids 1..50 and 1..20), and an admin key."""
    db = await open_database(settings)
    try:
        await seed(db, SeedPlan(students=50, courses=20, per_student=3))
        return await keys.create_key(db, "admin", "schemathesis")
    finally:
        await db.close()


@pytest.fixture
def api_schema(settings: Settings) -> Iterator[schemathesis.BaseSchema]:
    token = asyncio.run(seeded_admin_token(settings))
    app = EachRequestItsOwnAddress(create_app(settings))
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)

    # Declared as the bearer scheme's credentials (not as a plain header), so that the ignored-auth
    # check knows the token is a real one whatever other headers an operation generates.
    @loaded.auth()
    class AdminToken:
        def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
            return token

        def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    try:
        yield loaded
    finally:
        # Schemathesis runs the app's lifespan on its own event loop; close the database it opened.
        schemathesis_asgi.shutdown_lifespans()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    case.call_and_validate(additional_checks=[only_known_reasons_reject_valid_data])
