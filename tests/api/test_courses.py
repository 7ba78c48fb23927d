"""/courses through HTTP: codes, titles, capacity, the seat count, deletion and the roster."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.helpers import assert_problem, ids, new_course, new_student


async def enroll(client: httpx.AsyncClient, student_id: int, *course_ids: int) -> None:
    response = await client.post(f"/students/{student_id}/courses", json={"course_ids": list(course_ids)})
    assert response.status_code == 201, response.text


async def all_courses(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/courses", params={"limit": 1000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def course_of(client: httpx.AsyncClient, course_id: int) -> dict[str, Any]:
    response = await client.get(f"/courses/{course_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# ---------------------------------------------------------------------------------------- create


async def test_create_course_answers_201_with_the_course_and_its_location(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/courses", json={"code": "CS101", "title": "Introduction to Computing", "capacity": 30}
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "code",
        "title",
        "capacity",
        "enrolled",
        "waitlist_capacity",
        "waitlisted",
        "created_at",
        "updated_at",
    }
    assert (body["code"], body["title"], body["capacity"], body["enrolled"]) == (
        "CS101",
        "Introduction to Computing",
        30,
        0,
    )
    assert body["created_at"] == body["updated_at"]
    assert response.headers["location"].endswith(f"/courses/{body['id']}")
    assert (await admin.get(response.headers["location"])).json() == body


async def test_create_course_without_capacity_has_no_limit(admin: httpx.AsyncClient) -> None:
    body = await new_course(admin)

    assert body["capacity"] is None
    assert (await course_of(admin, body["id"]))["capacity"] is None


@pytest.mark.parametrize(
    ("code", "stored"),
    [
        ("cs101", "CS101"),
        ("Ma.Th_2-b", "MA.TH_2-B"),
        ("x", "X"),
        ("a" * 32, "A" * 32),
        ("0", "0"),
        ("._-", "._-"),
    ],
)
async def test_create_course_stores_the_code_upper_cased(
    admin: httpx.AsyncClient, code: str, stored: str
) -> None:
    body = await new_course(admin, code=code)

    assert body["code"] == stored
    assert (await course_of(admin, body["id"]))["code"] == stored


@pytest.mark.parametrize(
    "code",
    [
        "",
        "a" * 33,
        "CS 101",
        "CS/101",
        "CS101!",
        "ÉCOLE1",
        "\uff23\uff33\uff11",  # full-width letters and digit
        "CS\x00",
        "CS\n101",
        "ß",
        101,
        None,
        True,
    ],
)
async def test_create_course_rejects_a_bad_code(admin: httpx.AsyncClient, code: Any) -> None:
    response = await admin.post("/courses", json={"code": code, "title": "Anything"})

    problem = assert_problem(response, 422, "validation-error")
    assert any("code" in e["loc"] for e in problem["errors"])
    assert await all_courses(admin) == []


async def test_create_course_with_a_taken_code_in_other_case_is_409(admin: httpx.AsyncClient) -> None:
    first = await new_course(admin, code="CS101")

    response = await admin.post("/courses", json={"code": "cs101", "title": "Again"})

    assert_problem(response, 409, "already-exists")
    assert ids(await all_courses(admin)) == [first["id"]]


@pytest.mark.parametrize("title", ["T", "t" * 200, "  Intro  ", "Введение в программирование"])
async def test_create_course_accepts_titles_of_1_to_200_characters(
    admin: httpx.AsyncClient, title: str
) -> None:
    assert (await new_course(admin, title=title))["title"] == title.strip()


@pytest.mark.parametrize("title", ["", "  ", "t" * 201, "In\x00tro", "In\ntro", "In\x7ftro", None, 5])
async def test_create_course_rejects_a_bad_title(admin: httpx.AsyncClient, title: Any) -> None:
    response = await admin.post("/courses", json={"code": "CS101", "title": title})

    problem = assert_problem(response, 422, "validation-error")
    assert any("title" in e["loc"] for e in problem["errors"])
    assert await all_courses(admin) == []


@pytest.mark.parametrize("capacity", [None, 0, 1, 100000])
async def test_create_course_accepts_capacity_null_or_0_to_100000(
    admin: httpx.AsyncClient, capacity: int | None
) -> None:
    assert (await new_course(admin, capacity=capacity))["capacity"] == capacity


@pytest.mark.parametrize("capacity", [100001, -1, "5", 5.5, True, False, [5], {"n": 5}, 2**63])
async def test_create_course_rejects_a_bad_capacity(admin: httpx.AsyncClient, capacity: Any) -> None:
    response = await admin.post("/courses", json={"code": "CS101", "title": "T", "capacity": capacity})

    problem = assert_problem(response, 422, "validation-error")
    assert any("capacity" in e["loc"] for e in problem["errors"])
    assert await all_courses(admin) == []


@pytest.mark.parametrize("member", ["enrolled", "id", "created_at", "updated_at"])
async def test_create_course_with_a_read_only_member_is_422(admin: httpx.AsyncClient, member: str) -> None:
    value = "2026-11-22T10:00:00Z" if member.endswith("_at") else 3
    response = await admin.post("/courses", json={"code": "CS101", "title": "T", member: value})

    assert_problem(response, 422, "validation-error")
    assert await all_courses(admin) == []


# ------------------------------------------------------------------------------------ get, filter


async def test_enrolled_counts_the_students_of_a_course(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin, capacity=5)
    for _ in range(3):
        await enroll(admin, (await new_student(admin))["id"], course["id"])

    assert (await course_of(admin, course["id"]))["enrolled"] == 3
    listed = [c for c in await all_courses(admin) if c["id"] == course["id"]]
    assert listed[0]["enrolled"] == 3


async def test_get_unknown_course_is_404(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin)

    assert_problem(await admin.get(f"/courses/{course['id'] + 1}"), 404, "not-found")


async def test_code_filter_finds_the_course_ignoring_case(admin: httpx.AsyncClient) -> None:
    await new_course(admin)
    wanted = await new_course(admin, code="CS101")
    await new_course(admin)

    for query in ("CS101", "cs101", "Cs101", " cs101 "):
        response = await admin.get("/courses", params={"code": query})
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [wanted], "next_after": None}


async def test_code_filter_without_a_match_is_an_empty_page(admin: httpx.AsyncClient) -> None:
    await new_course(admin, code="CS101")

    response = await admin.get("/courses", params={"code": "CS102"})

    assert response.status_code == 200
    assert response.json() == {"items": [], "next_after": None}


@pytest.mark.parametrize("query", ["CS\x00101", "not a code", "", "%"])
async def test_code_filter_with_an_odd_value_is_never_a_server_error(
    admin: httpx.AsyncClient, query: str
) -> None:
    await new_course(admin, code="CS101")

    response = await admin.get("/courses", params={"code": query})

    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert response.json() == {"items": [], "next_after": None}
    else:
        assert_problem(response, 422, "validation-error")


# ----------------------------------------------------------------------------------------- patch


async def test_patch_course_title_only_keeps_the_rest(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin, code="CS101", capacity=10)
    await asyncio.sleep(0.01)

    response = await admin.patch(f"/courses/{course['id']}", json={"title": "  New title "})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["code"], body["title"], body["capacity"]) == ("CS101", "New title", 10)
    assert body["updated_at"] != course["updated_at"]
    assert body["created_at"] == course["created_at"]
    assert await course_of(admin, course["id"]) == body


async def test_patch_course_code_is_stored_upper_cased(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin)

    response = await admin.patch(f"/courses/{course['id']}", json={"code": "math-2"})

    assert response.status_code == 200, response.text
    assert response.json()["code"] == "MATH-2"


async def test_patch_course_with_same_values_keeps_updated_at(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin, code="CS101", title="Intro", capacity=10)
    await asyncio.sleep(0.01)

    response = await admin.patch(
        f"/courses/{course['id']}", json={"code": "cs101", "title": " Intro ", "capacity": 10}
    )

    assert response.status_code == 200
    assert response.json() == course


async def test_patch_course_to_a_taken_code_is_409_and_changes_nothing(admin: httpx.AsyncClient) -> None:
    await new_course(admin, code="CS101")
    other = await new_course(admin, code="CS102")

    response = await admin.patch(f"/courses/{other['id']}", json={"code": "cs101", "title": "Renamed"})

    assert_problem(response, 409, "already-exists")
    assert await course_of(admin, other["id"]) == other


@pytest.mark.parametrize("member", ["code", "title"])
async def test_patch_course_with_null_code_or_title_is_422(admin: httpx.AsyncClient, member: str) -> None:
    course = await new_course(admin)

    response = await admin.patch(f"/courses/{course['id']}", json={member: None})

    assert_problem(response, 422, "validation-error")
    assert await course_of(admin, course["id"]) == course


@pytest.mark.parametrize("capacity", [100001, -1, "5", 5.5, True])
async def test_patch_course_with_a_bad_capacity_is_422(admin: httpx.AsyncClient, capacity: Any) -> None:
    course = await new_course(admin, capacity=10)

    response = await admin.patch(f"/courses/{course['id']}", json={"capacity": capacity})

    assert_problem(response, 422, "validation-error")
    assert await course_of(admin, course["id"]) == course


async def test_patch_course_enrolled_is_read_only(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin)

    response = await admin.patch(f"/courses/{course['id']}", json={"enrolled": 5})

    assert_problem(response, 422, "validation-error")
    assert (await course_of(admin, course["id"]))["enrolled"] == 0


async def full_course(admin: httpx.AsyncClient, capacity: int | None, students: int) -> dict[str, Any]:
    course = await new_course(admin, capacity=capacity)
    for _ in range(students):
        await enroll(admin, (await new_student(admin))["id"], course["id"])
    return await course_of(admin, course["id"])


async def test_patch_capacity_below_enrolled_is_409_and_changes_nothing(admin: httpx.AsyncClient) -> None:
    course = await full_course(admin, capacity=5, students=3)

    response = await admin.patch(f"/courses/{course['id']}", json={"capacity": 2, "title": "Smaller"})

    assert_problem(response, 409, "capacity-below-enrolled")
    assert await course_of(admin, course["id"]) == course


async def test_patch_capacity_equal_to_enrolled_is_allowed(admin: httpx.AsyncClient) -> None:
    course = await full_course(admin, capacity=5, students=3)

    response = await admin.patch(f"/courses/{course['id']}", json={"capacity": 3})

    assert response.status_code == 200, response.text
    assert (response.json()["capacity"], response.json()["enrolled"]) == (3, 3)
    late = await new_student(admin)
    late_enroll = await admin.post(f"/students/{late['id']}/courses", json={"course_id": course["id"]})
    assert_problem(late_enroll, 409, "course-full")


async def test_patch_capacity_null_lifts_the_limit(admin: httpx.AsyncClient) -> None:
    course = await full_course(admin, capacity=1, students=1)

    response = await admin.patch(f"/courses/{course['id']}", json={"capacity": None})

    assert response.status_code == 200, response.text
    assert response.json()["capacity"] is None
    await enroll(admin, (await new_student(admin))["id"], course["id"])
    assert (await course_of(admin, course["id"]))["enrolled"] == 2


async def test_patch_unknown_course_is_404(admin: httpx.AsyncClient) -> None:
    assert_problem(await admin.patch("/courses/4242", json={"title": "X"}), 404, "not-found")


# ---------------------------------------------------------------------------------------- delete


async def test_delete_course_without_students_is_204_then_404(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin)

    response = await admin.delete(f"/courses/{course['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await admin.get(f"/courses/{course['id']}"), 404, "not-found")
    assert_problem(await admin.delete(f"/courses/{course['id']}"), 404, "not-found")
    assert await all_courses(admin) == []


async def test_delete_course_with_students_is_409_and_keeps_everything(admin: httpx.AsyncClient) -> None:
    course = await full_course(admin, capacity=None, students=1)

    response = await admin.delete(f"/courses/{course['id']}")

    assert_problem(response, 409, "course-has-enrollments")
    assert await course_of(admin, course["id"]) == course
    roster = (await admin.get(f"/courses/{course['id']}/students")).json()
    assert len(roster["items"]) == 1


async def test_delete_course_after_its_last_student_left_is_204(admin: httpx.AsyncClient) -> None:
    course, student = await new_course(admin), await new_student(admin)
    await enroll(admin, student["id"], course["id"])
    assert (await admin.delete(f"/students/{student['id']}/courses/{course['id']}")).status_code == 204

    assert (await admin.delete(f"/courses/{course['id']}")).status_code == 204


# ---------------------------------------------------------------------------------------- roster


async def test_roster_lists_the_students_by_id_with_exactly_the_roster_members(
    admin: httpx.AsyncClient,
) -> None:
    course, other = await new_course(admin), await new_course(admin)
    students = [await new_student(admin) for _ in range(3)]
    for student in reversed(students):
        await enroll(admin, student["id"], course["id"])
    outsider = await new_student(admin)
    await enroll(admin, outsider["id"], other["id"])

    response = await admin.get(f"/courses/{course['id']}/students")

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_after"] is None
    assert ids(page["items"]) == ids(students)
    for entry, student in zip(page["items"], students, strict=True):
        assert set(entry) == {"id", "name", "email", "enrolled_at"}
        assert (entry["name"], entry["email"]) == (student["name"], student["email"])
        assert entry["enrolled_at"].endswith("Z")


async def test_roster_enrolled_at_matches_the_students_course_info(admin: httpx.AsyncClient) -> None:
    course, student = await new_course(admin), await new_student(admin)
    await enroll(admin, student["id"], course["id"])

    roster = (await admin.get(f"/courses/{course['id']}/students")).json()
    info = (await admin.get(f"/students/{student['id']}")).json()["courses"]

    assert roster["items"][0]["enrolled_at"] == info[0]["enrolled_at"]


async def test_roster_of_a_course_without_students_is_an_empty_page(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin)
    await new_student(admin)

    response = await admin.get(f"/courses/{course['id']}/students")

    assert response.status_code == 200
    assert response.json() == {"items": [], "next_after": None}


async def test_roster_of_an_unknown_course_is_404(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin)

    assert_problem(await admin.get(f"/courses/{course['id'] + 1}/students"), 404, "not-found")


async def test_roster_of_an_unknown_course_is_404_even_past_the_end(admin: httpx.AsyncClient) -> None:
    assert_problem(await admin.get("/courses/999/students", params={"after": 5}), 404, "not-found")
