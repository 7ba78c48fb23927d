"""A student's courses (contract section 4): list, enroll, replace, drop, and the `/enroll` aliases,
on both engines, through real HTTP and real commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from registrar.services.seed import SeedPlan, seed
from tests.helpers import assert_problem, ids, new_course, new_student

MAX_ID = 2**63 - 1


@pytest.fixture(params=["courses", "enroll"])
def form(request: pytest.FixtureRequest) -> str:
    """POST and PUT run on `/courses` and on the deprecated `/enroll` alias alike."""
    return str(request.param)


def url(student_id: int, form: str = "courses") -> str:
    return f"/students/{student_id}/{form}"


async def new_courses(client: httpx.AsyncClient, count: int, **over: Any) -> list[dict[str, Any]]:
    return [await new_course(client, **over) for _ in range(count)]


async def enrolled(client: httpx.AsyncClient, course_ids: list[int]) -> dict[int, int]:
    """Each course's `enrolled` as GET /courses/{id} reports it."""
    counts = {}
    for course_id in course_ids:
        response = await client.get(f"/courses/{course_id}")
        assert response.status_code == 200, response.text
        counts[course_id] = response.json()["enrolled"]
    return counts


async def courses_of(client: httpx.AsyncClient, student_id: int) -> list[dict[str, Any]]:
    response = await client.get(url(student_id))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def assert_seats_match_rosters(client: httpx.AsyncClient, course_ids: list[int]) -> None:
    for course_id, count in (await enrolled(client, course_ids)).items():
        roster = await client.get(f"/courses/{course_id}/students", params={"limit": 1000})
        assert roster.status_code == 200, roster.text
        assert count == len(roster.json()["items"]), course_id


async def full_course(client: httpx.AsyncClient, capacity: int = 1) -> dict[str, Any]:
    """A course whose every seat is taken by other students."""
    course = await new_course(client, capacity=capacity)
    for _ in range(capacity):
        other = await new_student(client)
        response = await client.post(url(other["id"]), json={"course_id": course["id"]})
        assert response.status_code == 201, response.text
    return course


# ------------------------------------------------------------------------------------------- GET


async def test_list_courses_is_ordered_by_course_id(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)
    a, b, c = await new_courses(admin, 3)
    for course in (c, a, b):
        await admin.post(url(student["id"]), json={"course_id": course["id"]})
    listed = await courses_of(admin, student["id"])
    assert ids(listed) == [a["id"], b["id"], c["id"]]
    assert listed[0] == {
        "id": a["id"],
        "code": a["code"],
        "title": a["title"],
        "enrolled_at": listed[0]["enrolled_at"],
    }
    assert listed[0]["enrolled_at"].endswith("Z")


async def test_list_courses_of_student_without_courses_is_empty(
    reader: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    student = await new_student(admin)
    assert await courses_of(reader, student["id"]) == []


async def test_list_courses_of_unknown_student_is_404(admin: httpx.AsyncClient) -> None:
    assert_problem(await admin.get(url(999_999)), 404, "not-found")


# ------------------------------------------------------------------------------------------ POST


async def test_enroll_in_several_courses_is_201_with_full_list(admin: httpx.AsyncClient, form: str) -> None:
    student = await new_student(admin)
    a, b, c = await new_courses(admin, 3)
    first = await admin.post(url(student["id"], form), json={"course_ids": [b["id"]]})
    assert first.status_code == 201, first.text
    response = await admin.post(url(student["id"], form), json={"course_ids": [c["id"], a["id"]]})
    assert response.status_code == 201, response.text
    assert ids(response.json()) == [a["id"], b["id"], c["id"]]
    assert response.json() == await courses_of(admin, student["id"])


async def test_enroll_in_one_course_with_course_id_form(admin: httpx.AsyncClient, form: str) -> None:
    student, course = await new_student(admin), await new_course(admin)
    response = await admin.post(url(student["id"], form), json={"course_id": course["id"]})
    assert response.status_code == 201, response.text
    assert ids(response.json()) == [course["id"]]
    assert await enrolled(admin, [course["id"]]) == {course["id"]: 1}


async def test_enroll_adding_nothing_is_200_with_full_list(admin: httpx.AsyncClient, form: str) -> None:
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin)
    before = (await admin.post(url(student["id"]), json={"course_ids": [a["id"], b["id"]]})).json()
    response = await admin.post(url(student["id"], form), json={"course_ids": [b["id"], a["id"], b["id"]]})
    assert response.status_code == 200, response.text
    assert response.json() == before
    assert await enrolled(admin, [a["id"], b["id"]]) == {a["id"]: 1, b["id"]: 1}


async def test_enroll_with_held_and_new_courses_adds_only_new(admin: httpx.AsyncClient, form: str) -> None:
    student, held, new = await new_student(admin), await new_course(admin), await new_course(admin)
    first = (await admin.post(url(student["id"]), json={"course_id": held["id"]})).json()
    response = await admin.post(url(student["id"], form), json={"course_ids": [held["id"], new["id"]]})
    assert response.status_code == 201, response.text
    assert ids(response.json()) == [held["id"], new["id"]]
    assert response.json()[0]["enrolled_at"] == first[0]["enrolled_at"]
    assert await enrolled(admin, [held["id"], new["id"]]) == {held["id"]: 1, new["id"]: 1}


async def test_enroll_repeated_ids_count_once(admin: httpx.AsyncClient, form: str) -> None:
    student, course = await new_student(admin), await new_course(admin, capacity=1)
    response = await admin.post(url(student["id"], form), json={"course_ids": [course["id"]] * 3})
    assert response.status_code == 201, response.text
    assert ids(response.json()) == [course["id"]]
    assert await enrolled(admin, [course["id"]]) == {course["id"]: 1}


async def test_enroll_accepts_1000_entries_with_repeats(admin: httpx.AsyncClient, form: str) -> None:
    student, course = await new_student(admin), await new_course(admin)
    response = await admin.post(url(student["id"], form), json={"course_ids": [course["id"]] * 1000})
    assert response.status_code == 201, response.text
    assert ids(response.json()) == [course["id"]]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"course_ids": [1] * 1001}, id="1001-entries"),
        pytest.param({"course_ids": []}, id="empty-list"),
        pytest.param({"course_ids": [1], "course_id": 1}, id="both-forms"),
        pytest.param({}, id="neither-form"),
        pytest.param({"course_ids": [1], "extra": 1}, id="unknown-member"),
        pytest.param({"course_ids": None}, id="null-list"),
        pytest.param({"course_id": "1"}, id="string-id"),
        pytest.param({"course_id": True}, id="boolean-id"),
        pytest.param({"course_ids": [1.5]}, id="fraction-id"),
        pytest.param({"course_ids": [0]}, id="zero-id"),
        pytest.param({"course_ids": [MAX_ID + 1]}, id="id-out-of-range"),
        pytest.param({"course_id": -1}, id="negative-id"),
    ],
)
async def test_enroll_with_invalid_body_is_422_and_writes_nothing(
    admin: httpx.AsyncClient, form: str, body: dict[str, Any]
) -> None:
    student, course = await new_student(admin), await new_course(admin)
    assert course["id"] == 1  # so the ids above name a real course: only the form is wrong
    response = await admin.post(url(student["id"], form), json=body)
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"]
    assert await courses_of(admin, student["id"]) == []


async def test_enroll_of_unknown_student_is_404(admin: httpx.AsyncClient, form: str) -> None:
    course = await new_course(admin)
    response = await admin.post(url(999_999, form), json={"course_id": course["id"]})
    assert_problem(response, 404, "not-found")
    assert await enrolled(admin, [course["id"]]) == {course["id"]: 0}


async def test_enroll_of_unknown_student_in_unknown_course_is_404(admin: httpx.AsyncClient) -> None:
    assert_problem(await admin.post(url(999_999), json={"course_ids": [888_888]}), 404, "not-found")


async def test_enroll_as_reader_is_403(
    reader: httpx.AsyncClient, admin: httpx.AsyncClient, form: str
) -> None:
    student, course = await new_student(admin), await new_course(admin)
    response = await reader.post(url(student["id"], form), json={"course_id": course["id"]})
    assert_problem(response, 403, "forbidden")
    assert await courses_of(admin, student["id"]) == []


async def test_enroll_in_unknown_courses_lists_each_once_ascending(
    admin: httpx.AsyncClient, form: str
) -> None:
    student, course = await new_student(admin), await new_course(admin)
    body = {"course_ids": [900_002, course["id"], 900_001, 900_002, MAX_ID]}
    problem = assert_problem(await admin.post(url(student["id"], form), json=body), 422, "unknown-courses")
    assert problem["invalid_course_ids"] == [900_001, 900_002, MAX_ID]


async def test_enroll_in_unknown_and_full_courses_is_unknown_courses(
    admin: httpx.AsyncClient, form: str
) -> None:
    student, full = await new_student(admin), await full_course(admin)
    body = {"course_ids": [full["id"], 900_001]}
    problem = assert_problem(await admin.post(url(student["id"], form), json=body), 422, "unknown-courses")
    assert problem["invalid_course_ids"] == [900_001]
    assert "full_course_ids" not in problem


async def test_enroll_in_full_courses_is_409_listing_them_ascending(
    admin: httpx.AsyncClient, form: str
) -> None:
    student = await new_student(admin)
    open_course = await new_course(admin, capacity=5)
    full_a, full_b = await full_course(admin), await full_course(admin, capacity=2)
    body = {"course_ids": [full_b["id"], open_course["id"], full_a["id"], full_b["id"]]}
    problem = assert_problem(await admin.post(url(student["id"], form), json=body), 409, "course-full")
    assert problem["full_course_ids"] == [full_a["id"], full_b["id"]]


async def test_enroll_in_zero_capacity_course_is_full(admin: httpx.AsyncClient, form: str) -> None:
    student, course = await new_student(admin), await new_course(admin, capacity=0)
    response = await admin.post(url(student["id"], form), json={"course_id": course["id"]})
    assert assert_problem(response, 409, "course-full")["full_course_ids"] == [course["id"]]


async def test_enroll_fills_course_to_exactly_its_capacity(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin, capacity=2)
    students = [await new_student(admin) for _ in range(3)]
    statuses = [
        (await admin.post(url(s["id"]), json={"course_id": course["id"]})).status_code for s in students
    ]
    assert statuses == [201, 201, 409]
    assert await enrolled(admin, [course["id"]]) == {course["id"]: 2}


async def test_reenroll_in_full_course_already_held_is_fine(admin: httpx.AsyncClient, form: str) -> None:
    student, course = await new_student(admin), await new_course(admin, capacity=1)
    await admin.post(url(student["id"]), json={"course_id": course["id"]})
    response = await admin.post(url(student["id"], form), json={"course_ids": [course["id"]]})
    assert response.status_code == 200, response.text
    assert await enrolled(admin, [course["id"]]) == {course["id"]: 1}


async def test_enroll_past_capacity_writes_nothing(admin: httpx.AsyncClient, form: str) -> None:
    student, held, fresh = await new_student(admin), await new_course(admin), await new_course(admin)
    full = await full_course(admin)
    before = (await admin.post(url(student["id"]), json={"course_id": held["id"]})).json()
    all_ids = [held["id"], fresh["id"], full["id"]]
    counts = await enrolled(admin, all_ids)
    response = await admin.post(url(student["id"], form), json={"course_ids": [fresh["id"], full["id"]]})
    assert_problem(response, 409, "course-full")
    assert await courses_of(admin, student["id"]) == before
    assert await enrolled(admin, all_ids) == counts


async def test_enroll_with_unknown_course_writes_nothing(admin: httpx.AsyncClient, form: str) -> None:
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin, capacity=3)
    response = await admin.post(url(student["id"], form), json={"course_ids": [a["id"], b["id"], 900_001]})
    assert_problem(response, 422, "unknown-courses")
    assert await courses_of(admin, student["id"]) == []
    assert await enrolled(admin, [a["id"], b["id"]]) == {a["id"]: 0, b["id"]: 0}


async def test_enroll_in_1000_courses_at_once(app: FastAPI, admin: httpx.AsyncClient) -> None:
    await seed(app.state.runtime.db, SeedPlan(0, 1000, 0))
    listed = await admin.get("/courses", params={"limit": 1000})
    course_ids = ids(listed.json()["items"])
    assert len(course_ids) == 1000
    student = await new_student(admin)
    response = await admin.post(url(student["id"]), json={"course_ids": course_ids[::-1]})
    assert response.status_code == 201, response.text
    assert ids(response.json()) == sorted(course_ids)
    after = (await admin.get("/courses", params={"limit": 1000})).json()["items"]
    assert {c["enrolled"] for c in after} == {1}
    assert ids((await admin.get(f"/students/{student['id']}")).json()["courses"]) == sorted(course_ids)


# ------------------------------------------------------------------------------------------- PUT


async def test_replace_makes_the_set_exactly_the_body(admin: httpx.AsyncClient, form: str) -> None:
    student = await new_student(admin)
    a, b, c = await new_courses(admin, 3)
    await admin.post(url(student["id"]), json={"course_ids": [a["id"], b["id"]]})
    response = await admin.put(url(student["id"], form), json={"course_ids": [c["id"], b["id"], c["id"]]})
    assert response.status_code == 200, response.text
    assert ids(response.json()) == [b["id"], c["id"]]
    assert response.json() == await courses_of(admin, student["id"])
    assert await enrolled(admin, [a["id"], b["id"], c["id"]]) == {a["id"]: 0, b["id"]: 1, c["id"]: 1}


async def test_replace_with_empty_list_drops_every_course(admin: httpx.AsyncClient, form: str) -> None:
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin)
    await admin.post(url(student["id"]), json={"course_ids": [a["id"], b["id"]]})
    response = await admin.put(url(student["id"], form), json={"course_ids": []})
    assert response.status_code == 200, response.text
    assert response.json() == []
    assert await courses_of(admin, student["id"]) == []
    assert await enrolled(admin, [a["id"], b["id"]]) == {a["id"]: 0, b["id"]: 0}


async def test_replace_keeps_enrolled_at_of_kept_courses(admin: httpx.AsyncClient, form: str) -> None:
    student, kept, new = await new_student(admin), await new_course(admin), await new_course(admin)
    first = (await admin.post(url(student["id"]), json={"course_id": kept["id"]})).json()[0]
    response = await admin.put(url(student["id"], form), json={"course_ids": [new["id"], kept["id"]]})
    assert response.status_code == 200, response.text
    kept_after, new_after = response.json()
    assert kept_after == first
    assert datetime.fromisoformat(new_after["enrolled_at"]) > datetime.fromisoformat(first["enrolled_at"])


async def test_replace_frees_seats_of_removed_courses(admin: httpx.AsyncClient, form: str) -> None:
    student, other = await new_student(admin), await new_student(admin)
    course, elsewhere = await new_course(admin, capacity=1), await new_course(admin)
    await admin.post(url(student["id"]), json={"course_id": course["id"]})
    response = await admin.put(url(student["id"], form), json={"course_ids": [elsewhere["id"]]})
    assert response.status_code == 200, response.text
    assert await enrolled(admin, [course["id"]]) == {course["id"]: 0}
    assert (await admin.post(url(other["id"]), json={"course_id": course["id"]})).status_code == 201


async def test_replace_keeping_a_full_course_is_fine(admin: httpx.AsyncClient, form: str) -> None:
    student, course, other = (
        await new_student(admin),
        await new_course(admin, capacity=1),
        await new_course(admin),
    )
    await admin.post(url(student["id"]), json={"course_ids": [course["id"], other["id"]]})
    response = await admin.put(url(student["id"], form), json={"course_ids": [course["id"]]})
    assert response.status_code == 200, response.text
    assert ids(response.json()) == [course["id"]]
    assert await enrolled(admin, [course["id"], other["id"]]) == {course["id"]: 1, other["id"]: 0}


async def test_replace_with_the_same_set_changes_nothing(admin: httpx.AsyncClient, form: str) -> None:
    student, course = await new_student(admin), await new_course(admin)
    before = (await admin.post(url(student["id"]), json={"course_id": course["id"]})).json()
    response = await admin.put(url(student["id"], form), json={"course_ids": [course["id"]]})
    assert response.status_code == 200, response.text
    assert response.json() == before
    assert await enrolled(admin, [course["id"]]) == {course["id"]: 1}


async def test_replace_into_full_course_is_409_and_changes_nothing(
    admin: httpx.AsyncClient, form: str
) -> None:
    student, held = await new_student(admin), await new_course(admin)
    full = await full_course(admin, capacity=2)
    before = (await admin.post(url(student["id"]), json={"course_id": held["id"]})).json()
    response = await admin.put(url(student["id"], form), json={"course_ids": [full["id"]]})
    assert assert_problem(response, 409, "course-full")["full_course_ids"] == [full["id"]]
    assert await courses_of(admin, student["id"]) == before
    assert await enrolled(admin, [held["id"], full["id"]]) == {held["id"]: 1, full["id"]: 2}


async def test_replace_with_unknown_course_changes_nothing(admin: httpx.AsyncClient, form: str) -> None:
    student, held, fresh = await new_student(admin), await new_course(admin), await new_course(admin)
    before = (await admin.post(url(student["id"]), json={"course_id": held["id"]})).json()
    body = {"course_ids": [fresh["id"], 900_002, 900_001, 900_002]}
    problem = assert_problem(await admin.put(url(student["id"], form), json=body), 422, "unknown-courses")
    assert problem["invalid_course_ids"] == [900_001, 900_002]
    assert await courses_of(admin, student["id"]) == before
    assert await enrolled(admin, [held["id"], fresh["id"]]) == {held["id"]: 1, fresh["id"]: 0}


async def test_replace_accepts_1000_entries_with_repeats(admin: httpx.AsyncClient, form: str) -> None:
    student, course = await new_student(admin), await new_course(admin)
    response = await admin.put(url(student["id"], form), json={"course_ids": [course["id"]] * 1000})
    assert response.status_code == 200, response.text
    assert ids(response.json()) == [course["id"]]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"course_ids": [1] * 1001}, id="1001-entries"),
        pytest.param({"course_id": 1}, id="course-id-form"),
        pytest.param({"course_ids": [1], "course_id": 1}, id="both-forms"),
        pytest.param({}, id="neither-form"),
        pytest.param({"course_ids": ["1"]}, id="string-id"),
    ],
)
async def test_replace_with_invalid_body_is_422_and_changes_nothing(
    admin: httpx.AsyncClient, form: str, body: dict[str, Any]
) -> None:
    student, course = await new_student(admin), await new_course(admin)
    assert course["id"] == 1  # so the ids above name a real course: only the form is wrong
    before = (await admin.post(url(student["id"]), json={"course_id": course["id"]})).json()
    assert_problem(await admin.put(url(student["id"], form), json=body), 422, "validation-error")
    assert await courses_of(admin, student["id"]) == before


async def test_replace_of_unknown_student_is_404(admin: httpx.AsyncClient, form: str) -> None:
    assert_problem(await admin.put(url(999_999, form), json={"course_ids": []}), 404, "not-found")


# ---------------------------------------------------------------------------------------- DELETE


async def test_drop_is_204_then_404(admin: httpx.AsyncClient) -> None:
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin)
    await admin.post(url(student["id"]), json={"course_ids": [a["id"], b["id"]]})
    response = await admin.delete(f"{url(student['id'])}/{a['id']}")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert ids(await courses_of(admin, student["id"])) == [b["id"]]
    assert await enrolled(admin, [a["id"], b["id"]]) == {a["id"]: 0, b["id"]: 1}
    assert_problem(await admin.delete(f"{url(student['id'])}/{a['id']}"), 404, "not-found")


async def test_drop_course_never_enrolled_in_is_404(admin: httpx.AsyncClient) -> None:
    student, course = await new_student(admin), await new_course(admin)
    assert_problem(await admin.delete(f"{url(student['id'])}/{course['id']}"), 404, "not-found")
    assert_problem(await admin.delete(f"{url(student['id'])}/999999"), 404, "not-found")


async def test_drop_of_unknown_student_is_404(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin)
    assert_problem(await admin.delete(f"{url(999_999)}/{course['id']}"), 404, "not-found")


# ------------------------------------------------------------------------------- seats and times


async def test_enrolled_equals_roster_size_after_each_change(admin: httpx.AsyncClient) -> None:
    s1, s2 = await new_student(admin), await new_student(admin)
    a, b, c = await new_courses(admin, 3, capacity=2)
    all_ids = [a["id"], b["id"], c["id"]]
    changes = [
        admin.post(url(s1["id"]), json={"course_ids": [a["id"], b["id"]]}),
        admin.post(url(s2["id"], "enroll"), json={"course_id": a["id"]}),
        admin.put(url(s1["id"]), json={"course_ids": [b["id"], c["id"]]}),
        admin.put(url(s2["id"], "enroll"), json={"course_ids": [c["id"], b["id"]]}),
        admin.post(url(s1["id"]), json={"course_ids": [a["id"]]}),
        admin.delete(f"{url(s2['id'])}/{b['id']}"),
        admin.delete(f"/students/{s1['id']}"),
    ]
    for change in changes:
        assert (await change).status_code < 300
        await assert_seats_match_rosters(admin, all_ids)
    assert await enrolled(admin, all_ids) == {a["id"]: 0, b["id"]: 0, c["id"]: 1}


async def test_enrollment_changes_move_no_updated_at(admin: httpx.AsyncClient) -> None:
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin)
    await admin.post(url(student["id"]), json={"course_id": a["id"]})
    await admin.put(url(student["id"]), json={"course_ids": [b["id"]]})
    await admin.post(url(student["id"], "enroll"), json={"course_ids": [a["id"]]})
    await admin.delete(f"{url(student['id'])}/{b['id']}")
    assert (await admin.get(f"/students/{student['id']}")).json()["updated_at"] == student["updated_at"]
    for course in (a, b):
        assert (await admin.get(f"/courses/{course['id']}")).json()["updated_at"] == course["updated_at"]
