"""Who may call what, generated from the app's own routes: every API route and method x {no token,
malformed header, revoked key, reader, admin} gives exactly the contract's answer (section 2), and
the brute-force limit with its trusted proxies (section 6)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from registrar.app import create_app
from registrar.auth import Role, required_role
from registrar.config import Settings
from registrar.services import keys
from tests.helpers import assert_problem, new_course, new_student

CREDENTIALS = ("no-token", "malformed", "revoked", "reader", "admin")
REVOCATION_SECONDS = 1.5


def api_routes() -> list[tuple[str, str, Role]]:
    """(method, path, role) of every documented route, read from an app that is never started."""
    app = create_app(Settings(database_url="sqlite:///unused.db", _env_file=None))  # type: ignore[call-arg]
    return [
        (method, route.path_format, required_role(route))
        for route in app.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in sorted(route.methods)
    ]


ROUTES = api_routes()
_cells = iter(range(1, 10_000))


def own_client(
    app: FastAPI, authorization: str | None = None, address: str | None = None
) -> httpx.AsyncClient:
    """A client with its own address, so that no cell counts against another's failures."""
    n = next(_cells)
    peer = address or f"10.0.{n // 250}.{n % 250 + 1}"
    headers = {"authorization": authorization} if authorization else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(peer, 1234)),
        base_url="http://registrar.test",
        headers=headers,
    )


def fill(path: str, ids: dict[str, int]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


async def send(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    # Every write gets an empty object: the role is checked before the body is read or validated.
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await client.request(method, path, json=body)


def assert_refused_as_unauthenticated(response: httpx.Response) -> None:
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.fixture
async def real_ids(admin: httpx.AsyncClient) -> dict[str, int]:
    """A student enrolled in a course: path ids that exist."""
    student, course = await new_student(admin), await new_course(admin)
    enrolled = await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    assert enrolled.status_code == 201, enrolled.text
    return {"student_id": student["id"], "course_id": course["id"]}


async def revoked_token(app: FastAPI) -> str:
    token = await keys.create_key(app.state.runtime.db, "admin", "to be revoked")
    (key,) = [k for k in await keys.list_keys(app.state.runtime.db) if k["name"] == "to be revoked"]
    await keys.revoke_key(app.state.runtime.db, key["id"])
    return token


async def refused_within_revocation_window(
    client: httpx.AsyncClient, method: str, path: str
) -> httpx.Response:
    """A revoked key may live on in a worker's cache for up to 1 s."""
    deadline = time.monotonic() + REVOCATION_SECONDS
    response = await send(client, method, path)
    while response.status_code != 401 and time.monotonic() < deadline:
        response = await send(client, method, path)
    return response


def test_the_matrix_covers_every_documented_route() -> None:
    paths = {path for _, path, _ in ROUTES}
    assert "/students/{student_id}/courses/{course_id}" in paths
    assert len(ROUTES) >= 17
    assert {role for _, _, role in ROUTES} == {Role.PUBLIC, Role.READER, Role.ADMIN}


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize(("method", "path", "role"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_route_answers_each_credential_as_the_contract_says(
    app: FastAPI,
    admin_token: str,
    reader_token: str,
    real_ids: dict[str, int],
    method: str,
    path: str,
    role: Role,
    credential: str,
) -> None:
    authorization = {
        "no-token": None,
        "malformed": f"Token {admin_token}",  # a real admin token, under the wrong scheme
        "revoked": f"Bearer {await revoked_token(app)}" if credential == "revoked" else None,
        "reader": f"Bearer {reader_token}",
        "admin": f"Bearer {admin_token}",
    }[credential]
    async with own_client(app, authorization) as client:
        if credential == "revoked" and role is not Role.PUBLIC:
            response = await refused_within_revocation_window(client, method, fill(path, real_ids))
        else:
            response = await send(client, method, fill(path, real_ids))

    if role is Role.PUBLIC:
        assert response.status_code == 200, response.text
    elif credential in ("no-token", "malformed", "revoked"):
        assert_refused_as_unauthenticated(response)
    elif credential == "reader" and method != "GET":
        assert_problem(response, 403, "forbidden")
    else:
        assert response.status_code not in (401, 403, 429), response.text
        assert response.status_code < 500, response.text


# --------------------------------------------------------------------------------- brute force


async def fail_authentication(app: FastAPI, times: int, address: str, **headers: str) -> None:
    async with own_client(app, "Bearer not-a-key", address) as client:
        for _ in range(times):
            assert_refused_as_unauthenticated(await client.get("/students", headers=headers))


async def test_twenty_failures_block_the_address_even_for_a_valid_token(
    app: FastAPI, admin_token: str
) -> None:
    await fail_authentication(app, 20, "10.20.0.1")

    async with own_client(app, f"Bearer {admin_token}", "10.20.0.1") as client:
        response = await client.get("/students")

    assert_problem(response, 429, "rate-limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_nineteen_failures_do_not_block(app: FastAPI, admin_token: str) -> None:
    await fail_authentication(app, 19, "10.20.0.2")

    async with own_client(app, f"Bearer {admin_token}", "10.20.0.2") as client:
        response = await client.get("/students")

    assert response.status_code == 200, response.text


async def test_a_blocked_address_gets_429_on_every_authenticated_route(app: FastAPI) -> None:
    await fail_authentication(app, 20, "10.20.0.3")

    async with own_client(app, None, "10.20.0.3") as client:
        for method, path, role in ROUTES:
            if role is not Role.PUBLIC:
                response = await send(client, method, fill(path, {"student_id": 1, "course_id": 1}))
                assert_problem(response, 429, "rate-limited")
                assert response.headers["retry-after"].isdigit()


async def test_a_blocked_address_leaves_other_addresses_and_healthz_alone(
    app: FastAPI, admin_token: str
) -> None:
    await fail_authentication(app, 20, "10.20.0.4")

    async with own_client(app, f"Bearer {admin_token}", "10.20.0.5") as other:
        assert (await other.get("/students")).status_code == 200
    async with own_client(app, None, "10.20.0.4") as blocked:
        health = await blocked.get("/healthz")
        docs = await blocked.get("/openapi.json")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert docs.status_code == 200


@pytest.fixture
async def behind_proxy(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update={"trusted_proxies": "10.9.9.9"}))
    async with application.router.lifespan_context(application):
        yield application


async def proxy_token(app: FastAPI) -> str:
    return await keys.create_key(app.state.runtime.db, "admin", "behind the proxy")


async def get_students(app: FastAPI, token: str, peer: str, forwarded_for: str) -> httpx.Response:
    async with own_client(app, f"Bearer {token}", peer) as client:
        return await client.get("/students", headers={"x-forwarded-for": forwarded_for})


async def test_failures_through_a_trusted_proxy_count_against_the_forwarded_client(
    behind_proxy: FastAPI,
) -> None:
    token = await proxy_token(behind_proxy)
    await fail_authentication(behind_proxy, 20, "10.9.9.9", **{"x-forwarded-for": "203.0.113.7"})

    blocked = await get_students(behind_proxy, token, "10.9.9.9", "203.0.113.7")
    neighbour = await get_students(behind_proxy, token, "10.9.9.9", "203.0.113.8")

    assert_problem(blocked, 429, "rate-limited")
    assert neighbour.status_code == 200, neighbour.text


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(behind_proxy: FastAPI) -> None:
    token = await proxy_token(behind_proxy)
    await fail_authentication(behind_proxy, 20, "10.8.8.8", **{"x-forwarded-for": "203.0.113.9"})

    peer_again = await get_students(behind_proxy, token, "10.8.8.8", "198.51.100.1")
    claimed_client = await get_students(behind_proxy, token, "10.9.9.9", "203.0.113.9")

    assert_problem(peer_again, 429, "rate-limited")
    assert claimed_client.status_code == 200, claimed_client.text
