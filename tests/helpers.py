"""Small helpers the tests share: making rows through the API, and checking problems."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import httpx

_seq = itertools.count(1)


async def new_student(client: httpx.AsyncClient, **over: Any) -> dict[str, Any]:
    n = next(_seq)
    body = {"name": f"Student {n}", "email": f"student{n}@example.edu", **over}
    response = await client.post("/students", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def new_course(client: httpx.AsyncClient, **over: Any) -> dict[str, Any]:
    n = next(_seq)
    body = {"code": f"C{n}", "title": f"Course {n}", **over}
    response = await client.post("/courses", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """An RFC 9457 problem with this status and a type ending in this slug."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(":" + slug) or body["type"].endswith("/" + slug), body
    assert body["status"] == status
    assert body["title"]
    assert isinstance(body["detail"], str)
    return body


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


async def all_pages(
    client: httpx.AsyncClient, path: str, limit: int = 1000, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a paged list, following `next_after` page by page."""
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        response = await client.get(path, params={"after": after, "limit": limit, **params})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next_after"] is None:
            return items
        after = page["next_after"]


def refused_within_a_second(client: Any, token: str, revoke: Callable[[], object]) -> None:
    """A key the app has just accepted (so its cache holds it) is answered 401 within 1 s of
    `revoke`. `client` is a Starlette TestClient."""
    headers = {"authorization": f"Bearer {token}"}
    assert client.get("/students", headers=headers).status_code == 200  # now remembered by the cache
    revoke()
    revoked_at = time.monotonic()
    while True:
        sent = time.monotonic()
        if (status := client.get("/students", headers=headers).status_code) != 200:
            break
        assert sent - revoked_at < 1.0, "a revoked key still worked 1 s after its revocation"
        time.sleep(0.05)
    assert status == 401
