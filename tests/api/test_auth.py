"""Section 2 of the contract: bearer tokens, roles, revocation, open endpoints, the OpenAPI
document's description of all that, and how tokens are stored."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from registrar.db import Sql
from registrar.services import keys
from tests.conftest import client_for
from tests.helpers import assert_problem, new_course, new_student


def assert_unauthorized(response: httpx.Response) -> None:
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].split()[0].lower() == "bearer"


async def key_id_named(app: FastAPI, name: str) -> int:
    (found,) = [k for k in await keys.list_keys(app.state.runtime.db) if k["name"] == name]
    key_id: int = found["id"]
    return key_id


async def snapshot(client: httpx.AsyncClient) -> dict[str, Any]:
    """Everything a client can see: students with their courses, courses with their rosters."""
    students = (await client.get("/students", params={"limit": 1000})).json()["items"]
    courses = (await client.get("/courses", params={"limit": 1000})).json()["items"]
    return {
        "students": [(await client.get(f"/students/{s['id']}")).json() for s in students],
        "courses": courses,
        "rosters": [(await client.get(f"/courses/{c['id']}/students")).json() for c in courses],
    }


# ------------------------------------------------------------------------------------ bad tokens


async def test_missing_token_is_401_with_a_bearer_challenge(anon: httpx.AsyncClient) -> None:
    assert_unauthorized(await anon.get("/students"))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Bearer not-a-real-token",
        "Bearer " + "A" * 10_000,
        "Basic YWRtaW46YWRtaW4=",
        "Token {admin}",
        "{admin}",
        "Bearer {admin}x",
        "Bearer x{admin}",
    ],
)
async def test_bad_authorization_is_401_with_a_bearer_challenge(
    app: FastAPI, admin_token: str, authorization: str
) -> None:
    async with client_for(app, None) as client:
        response = await client.get(
            "/students", headers={"authorization": authorization.format(admin=admin_token)}
        )

    assert_unauthorized(response)


async def test_unauthorized_write_changes_nothing(anon: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    response = await anon.post("/students", json={"name": "Ada", "email": "ada@example.edu"})

    assert_unauthorized(response)
    assert (await admin.get("/students")).json()["items"] == []


async def test_bearer_scheme_is_matched_ignoring_case(app: FastAPI, admin_token: str) -> None:
    async with client_for(app, None) as client:
        response = await client.get("/students", headers={"authorization": f"bearer {admin_token}"})

    assert response.status_code == 200, response.text


# ------------------------------------------------------------------------------------------ roles


async def test_admin_may_write(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/students", json={"name": "Ada", "email": "ada@example.edu"})

    assert response.status_code == 201, response.text


async def test_reader_may_get_everything(admin: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    student, course = await new_student(admin), await new_course(admin)
    await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})

    for path in (
        "/students",
        f"/students?email={student['email']}",
        f"/students/{student['id']}",
        f"/students/{student['id']}/courses",
        "/courses",
        f"/courses?code={course['code']}",
        f"/courses/{course['id']}",
        f"/courses/{course['id']}/students",
    ):
        read, as_admin = await reader.get(path), await admin.get(path)
        assert read.status_code == 200, (path, read.text)
        assert read.json() == as_admin.json()


WRITES = [
    ("POST", "/students", {"name": "New", "email": "new@example.edu"}),
    ("PATCH", "/students/{s}", {"name": "Changed"}),
    ("DELETE", "/students/{s}", None),
    ("POST", "/courses", {"code": "NEW1", "title": "New"}),
    ("PATCH", "/courses/{c}", {"title": "Changed"}),
    ("DELETE", "/courses/{free}", None),
    ("POST", "/students/{s}/courses", {"course_ids": ["FREE"]}),
    ("PUT", "/students/{s}/courses", {"course_ids": []}),
    ("DELETE", "/students/{s}/courses/{c}", None),
    ("POST", "/students/{s}/enroll", {"course_id": "FREE"}),
    ("PUT", "/students/{s}/enroll", {"course_ids": []}),
]


@pytest.mark.parametrize(("method", "template", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
async def test_reader_is_forbidden_to_write_and_nothing_changes(
    admin: httpx.AsyncClient, reader: httpx.AsyncClient, method: str, template: str, body: Any
) -> None:
    student, course, free = await new_student(admin), await new_course(admin), await new_course(admin)
    await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    names = {"s": student["id"], "c": course["id"], "free": free["id"]}
    path = template.format(**names)
    if body is not None:
        body = {
            k: [free["id"]] if v == ["FREE"] else free["id"] if v == "FREE" else v for k, v in body.items()
        }
    before = await snapshot(admin)

    response = await reader.request(method, path, json=body)

    assert_problem(response, 403, "forbidden")
    assert await snapshot(admin) == before


# ----------------------------------------------------------------------------------- revocation


async def wait_until_refused(client: httpx.AsyncClient, path: str, seconds: float = 1.5) -> float:
    """Seconds it took until the key was refused; the per-worker cache may keep it for up to 1 s."""
    started = time.monotonic()
    while True:
        response = await client.get(path)
        if response.status_code == 401:
            assert_unauthorized(response)
            return time.monotonic() - started
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < seconds, "the revoked key was still accepted"
        await asyncio.sleep(0.05)


async def test_revoked_reader_key_is_refused_within_a_second(
    app: FastAPI, reader: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    assert (await reader.get("/students")).status_code == 200  # the key is now in the cache

    await keys.revoke_key(app.state.runtime.db, await key_id_named(app, "test reader"))

    assert await wait_until_refused(reader, "/students") <= 1.5
    assert (await admin.get("/students")).status_code == 200


async def test_revoked_admin_key_can_no_longer_write(app: FastAPI, admin: httpx.AsyncClient) -> None:
    assert (await admin.get("/courses")).status_code == 200

    await keys.revoke_key(app.state.runtime.db, await key_id_named(app, "test admin"))
    await wait_until_refused(admin, "/courses")

    assert_unauthorized(await admin.post("/courses", json={"code": "LATE", "title": "Too late"}))


async def test_key_minted_a_moment_ago_works_at_once(app: FastAPI) -> None:
    token = await keys.create_key(app.state.runtime.db, "reader", "fresh")

    async with client_for(app, token) as client:
        assert (await client.get("/courses")).status_code == 200


# ------------------------------------------------------------------------------- open endpoints


async def test_healthz_needs_no_token(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_docs_need_no_token(anon: httpx.AsyncClient, path: str) -> None:
    response = await anon.get(path)

    assert response.status_code == 200, response.text
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("path", ["/healthz", "/docs", "/openapi.json"])
async def test_open_endpoints_ignore_a_bad_token(app: FastAPI, path: str) -> None:
    async with client_for(app, "not-a-token") as client:
        assert (await client.get(path)).status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_assets_are_served_by_registrar_without_token(anon: httpx.AsyncClient, page: str) -> None:
    html = (await anon.get(page)).text
    assets = re.findall(r"""(?:src|href)=["']([^"']+\.(?:js|css))["']""", html)

    assert assets, html
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), asset
        response = await anon.get(asset)
        assert response.status_code == 200, asset


# -------------------------------------------------------------------------------------- openapi

ENDPOINTS = {
    ("get", "/students"),
    ("post", "/students"),
    ("get", "/students/{}"),
    ("patch", "/students/{}"),
    ("delete", "/students/{}"),
    ("get", "/students/{}/courses"),
    ("post", "/students/{}/courses"),
    ("put", "/students/{}/courses"),
    ("delete", "/students/{}/courses/{}"),
    ("post", "/students/{}/enroll"),
    ("put", "/students/{}/enroll"),
    ("get", "/courses"),
    ("post", "/courses"),
    ("get", "/courses/{}"),
    ("patch", "/courses/{}"),
    ("delete", "/courses/{}"),
    ("get", "/courses/{}/students"),
    ("get", "/students/{}/history"),
    ("get", "/courses/{}/history"),
    ("post", "/students/{}/waitlist"),
    ("get", "/students/{}/waitlist"),
    ("delete", "/students/{}/waitlist/{}"),
    ("get", "/courses/{}/waitlist"),
    ("get", "/healthz"),
    ("get", "/metrics"),
}
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, re.sub(r"\{[^}]*\}", "{}", path)): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


async def openapi(anon: httpx.AsyncClient) -> dict[str, Any]:
    response = await anon.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


async def test_openapi_lists_every_endpoint(anon: httpx.AsyncClient) -> None:
    doc = await openapi(anon)

    assert set(operations(doc)) == ENDPOINTS
    assert all(":" not in path for path in doc["paths"]), list(doc["paths"])


async def test_openapi_marks_only_the_enroll_aliases_deprecated(anon: httpx.AsyncClient) -> None:
    deprecated = {key for key, op in operations(await openapi(anon)).items() if op.get("deprecated")}

    assert deprecated == {("post", "/students/{}/enroll"), ("put", "/students/{}/enroll")}


async def test_openapi_describes_every_error_as_a_problem(anon: httpx.AsyncClient) -> None:
    doc = await openapi(anon)

    for key, operation in operations(doc).items():
        errors = {s: r for s, r in operation["responses"].items() if s.startswith(("4", "5"))}
        assert errors, key
        for status, response in errors.items():
            assert set(response.get("content", {})) == {"application/problem+json"}, (key, status)


async def test_openapi_documents_401_on_protected_and_403_on_write_endpoints(anon: httpx.AsyncClient) -> None:
    for (method, path), operation in operations(await openapi(anon)).items():
        statuses = set(operation["responses"])
        if path == "/healthz":
            assert "401" not in statuses
            assert not operation.get("security")
            continue
        assert "401" in statuses, (method, path)
        assert operation.get("security"), (method, path)
        assert ("403" in statuses) == (method != "get"), (method, path)


async def test_openapi_documents_the_bearer_scheme(anon: httpx.AsyncClient) -> None:
    schemes = (await openapi(anon))["components"]["securitySchemes"]

    assert any(s.get("type") == "http" and s.get("scheme", "").lower() == "bearer" for s in schemes.values())


# ----------------------------------------------------------------------------------- token storage


async def test_tokens_are_stored_only_as_sha256_digests(
    app: FastAPI, admin_token: str, reader_token: str
) -> None:
    async with app.state.runtime.db.connection() as conn:
        rows = [dict(r) for r in await conn.fetch(Sql("SELECT * FROM api_keys"))]

    assert len(rows) == 2
    stored = repr(rows)
    for token in (admin_token, reader_token):
        assert token not in stored
        assert hashlib.sha256(token.encode()).hexdigest() in stored


@pytest.mark.parametrize("role", ["admin", "reader"])
async def test_tokens_carry_at_least_128_random_bits_in_a_url_safe_alphabet(app: FastAPI, role: str) -> None:
    tokens = {await keys.create_key(app.state.runtime.db, role, None) for _ in range(3)}

    assert len(tokens) == 3
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token
        assert len(token) * 6 >= 128


async def test_tokens_never_reach_the_logs(
    app: FastAPI, admin_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with client_for(app, admin_token) as client:
        student, course = await new_student(client), await new_course(client)
        await client.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
        await client.delete(f"/students/{student['id']}")
    async with client_for(app, admin_token + "x") as client:
        await client.get("/students")

    assert caplog.records
    assert admin_token not in caplog.text
    assert admin_token not in repr([r.__dict__ for r in caplog.records])
