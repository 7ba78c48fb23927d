"""Pages of /students, /courses and a course's roster: keyset order, limits and `next_after`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.helpers import assert_problem, ids, new_course, new_student

# Each listing as (make n rows and answer the listing's path and the rows' ids).
Maker = Callable[[httpx.AsyncClient, int], Awaitable[tuple[str, list[int]]]]


async def students_listing(client: httpx.AsyncClient, n: int) -> tuple[str, list[int]]:
    return "/students", [(await new_student(client))["id"] for _ in range(n)]


async def courses_listing(client: httpx.AsyncClient, n: int) -> tuple[str, list[int]]:
    return "/courses", [(await new_course(client))["id"] for _ in range(n)]


async def roster_listing(client: httpx.AsyncClient, n: int) -> tuple[str, list[int]]:
    course = await new_course(client)
    await new_student(client)  # not on the roster
    students = [(await new_student(client))["id"] for _ in range(n)]
    # Enrolled in the reverse order of their ids: the roster still comes by student id.
    for student_id in reversed(students):
        response = await client.post(f"/students/{student_id}/courses", json={"course_id": course["id"]})
        assert response.status_code == 201, response.text
    return f"/courses/{course['id']}/students", students


LISTINGS = [
    pytest.param(students_listing, id="students"),
    pytest.param(courses_listing, id="courses"),
    pytest.param(roster_listing, id="roster"),
]


async def get_page(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"items", "next_after"}
    return body


@pytest.mark.parametrize("listing", LISTINGS)
async def test_page_holds_every_row_in_ascending_id_when_all_fit(
    admin: httpx.AsyncClient, listing: Maker
) -> None:
    path, made = await listing(admin, 4)

    page = await get_page(admin, path)

    assert ids(page["items"]) == sorted(made)
    assert page["next_after"] is None


@pytest.mark.parametrize("listing", LISTINGS)
async def test_empty_listing_is_an_empty_page(admin: httpx.AsyncClient, listing: Maker) -> None:
    path, _ = await listing(admin, 0)

    assert await get_page(admin, path) == {"items": [], "next_after": None}


@pytest.mark.parametrize("listing", LISTINGS)
async def test_next_after_is_the_last_id_when_more_follow(admin: httpx.AsyncClient, listing: Maker) -> None:
    path, made = await listing(admin, 5)

    page = await get_page(admin, path, limit=2)

    assert ids(page["items"]) == made[:2]
    assert page["next_after"] == made[1]


@pytest.mark.parametrize("listing", LISTINGS)
async def test_page_ending_exactly_at_the_last_row_has_no_next_after(
    admin: httpx.AsyncClient, listing: Maker
) -> None:
    path, made = await listing(admin, 4)

    first = await get_page(admin, path, limit=2)
    second = await get_page(admin, path, limit=2, after=first["next_after"])

    assert first["next_after"] == made[1]
    assert ids(second["items"]) == made[2:]
    assert second["next_after"] is None


@pytest.mark.parametrize("listing", LISTINGS)
async def test_limit_equal_to_the_row_count_has_no_next_after(
    admin: httpx.AsyncClient, listing: Maker
) -> None:
    path, made = await listing(admin, 3)

    page = await get_page(admin, path, limit=3)

    assert ids(page["items"]) == made
    assert page["next_after"] is None


@pytest.mark.parametrize("listing", LISTINGS)
@pytest.mark.parametrize("limit", [1, 2, 3, 7])
async def test_walking_all_pages_returns_every_row_once(
    admin: httpx.AsyncClient, listing: Maker, limit: int
) -> None:
    path, made = await listing(admin, 7)

    seen: list[int] = []
    after = 0
    for _ in range(10):
        page = await get_page(admin, path, limit=limit, after=after)
        assert len(page["items"]) <= limit
        seen += ids(page["items"])
        if page["next_after"] is None:
            break
        assert page["next_after"] == page["items"][-1]["id"]
        after = page["next_after"]

    assert seen == made


@pytest.mark.parametrize("listing", LISTINGS)
async def test_after_is_exclusive(admin: httpx.AsyncClient, listing: Maker) -> None:
    path, made = await listing(admin, 3)

    page = await get_page(admin, path, after=made[0])

    assert ids(page["items"]) == made[1:]


@pytest.mark.parametrize("listing", LISTINGS)
async def test_after_zero_starts_at_the_beginning(admin: httpx.AsyncClient, listing: Maker) -> None:
    path, made = await listing(admin, 2)

    assert ids((await get_page(admin, path, after=0))["items"]) == made


async def remove(client: httpx.AsyncClient, path: str, row_id: int) -> None:
    """Take one row out of a listing: delete the student or course, or drop the student from the roster."""
    target = f"{path}/{row_id}"
    if path.endswith("/students") and path != "/students":
        course_id = path.split("/")[2]
        target = f"/students/{row_id}/courses/{course_id}"
    response = await client.delete(target)
    assert response.status_code == 204, response.text


@pytest.mark.parametrize("listing", LISTINGS)
async def test_after_need_not_exist(admin: httpx.AsyncClient, listing: Maker) -> None:
    path, made = await listing(admin, 3)
    await remove(admin, path, made[1])

    page = await get_page(admin, path, after=made[1])

    assert ids(page["items"]) == [made[2]]
    assert page["next_after"] is None


@pytest.mark.parametrize("listing", LISTINGS)
async def test_after_past_the_last_row_is_an_empty_page(admin: httpx.AsyncClient, listing: Maker) -> None:
    path, made = await listing(admin, 2)

    for after in (made[-1], made[-1] + 1, 2**63 - 1):
        assert await get_page(admin, path, after=after) == {"items": [], "next_after": None}


@pytest.mark.parametrize("listing", LISTINGS)
async def test_default_limit_is_50(admin: httpx.AsyncClient, listing: Maker) -> None:
    path, made = await listing(admin, 51)

    page = await get_page(admin, path)

    assert ids(page["items"]) == made[:50]
    assert page["next_after"] == made[49]


async def test_limit_1000_is_allowed(admin: httpx.AsyncClient) -> None:
    path, made = await students_listing(admin, 2)

    assert ids((await get_page(admin, path, limit=1000))["items"]) == made


@pytest.mark.parametrize("listing", LISTINGS)
@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "1001"},
        {"limit": "1000000"},
        {"limit": "abc"},
        {"limit": "1.5"},
        {"limit": ""},
        {"after": "-1"},
        {"after": "abc"},
        {"after": "1.5"},
        {"after": str(2**63)},
    ],
    ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()),
)
async def test_bad_limit_or_after_is_422(
    admin: httpx.AsyncClient, listing: Maker, params: dict[str, str]
) -> None:
    path, _ = await listing(admin, 1)

    problem = assert_problem(await admin.get(path, params=params), 422, "validation-error")

    (name,) = params
    assert any(name in e["loc"] for e in problem["errors"]), problem


async def test_filter_result_is_a_page_too(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin, email="ada@example.edu")

    page = await get_page(admin, "/students", email="ada@example.edu", limit=1)

    assert page == {"items": [student], "next_after": None}
    assert await get_page(admin, "/students", email="ada@example.edu", after=student["id"]) == {
        "items": [],
        "next_after": None,
    }
