"""Waitlists (contract section 8): the join rules in their order, positions, leaving, and promotion
in the transaction that frees the seat, on every path that frees one."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.helpers import assert_problem, ids, new_course, new_student

AUDIT = "registrar.enrollments"


async def full_course(
    client: httpx.AsyncClient, seats: int = 1, waitlist: int = 5
) -> tuple[dict[str, Any], list[int]]:
    """A course with `seats` seats, all taken, and room for `waitlist` on its waitlist."""
    course = await new_course(client, capacity=seats, waitlist_capacity=waitlist)
    holders = [(await new_student(client))["id"] for _ in range(seats)]
    for holder in holders:
        assert (
            await client.post(f"/students/{holder}/courses", json={"course_id": course["id"]})
        ).status_code == 201
    return course, holders


async def join(client: httpx.AsyncClient, student_id: int, course_id: int, **headers: str) -> httpx.Response:
    return await client.post(
        f"/students/{student_id}/waitlist", json={"course_id": course_id}, headers=headers
    )


async def waiting_line(client: httpx.AsyncClient, course_id: int) -> list[int]:
    response = await client.get(f"/courses/{course_id}/waitlist")
    assert response.status_code == 200, response.text
    return ids(response.json())


async def roster(client: httpx.AsyncClient, course_id: int) -> list[int]:
    return ids((await client.get(f"/courses/{course_id}/students", params={"limit": 1000})).json()["items"])


async def seats(client: httpx.AsyncClient, course_id: int) -> tuple[int, int]:
    course = (await client.get(f"/courses/{course_id}")).json()
    return course["enrolled"], course["waitlisted"]


# ---------------------------------------------------------------------------------- the courses


async def test_a_course_has_no_waitlist_unless_asked(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin)
    assert (course["waitlist_capacity"], course["waitlisted"]) == (0, 0)
    changed = await admin.patch(f"/courses/{course['id']}", json={"waitlist_capacity": 1000})
    assert changed.json()["waitlist_capacity"] == 1000


@pytest.mark.parametrize("value", [-1, 1001, None, "5", 2.5, True])
async def test_waitlist_capacity_out_of_range_or_null_is_422(admin: httpx.AsyncClient, value: Any) -> None:
    body = {"code": "WL1", "title": "Waitlisted", "waitlist_capacity": value}
    assert_problem(await admin.post("/courses", json=body), 422, "validation-error")
    course = await new_course(admin)
    assert_problem(
        await admin.patch(f"/courses/{course['id']}", json={"waitlist_capacity": value}),
        422,
        "validation-error",
    )


async def test_waitlisted_is_read_only(admin: httpx.AsyncClient) -> None:
    course = await new_course(admin)
    assert_problem(
        await admin.patch(f"/courses/{course['id']}", json={"waitlisted": 3}), 422, "validation-error"
    )


# ------------------------------------------------------------------------------------- joining


async def test_joining_a_full_course_answers_201_with_the_entry_and_its_location(
    admin: httpx.AsyncClient,
) -> None:
    course, _ = await full_course(admin)
    first, second = await new_student(admin), await new_student(admin)

    a = await join(admin, first["id"], course["id"])
    b = await join(admin, second["id"], course["id"])

    assert (a.status_code, b.status_code) == (201, 201)
    assert b.headers["location"] == f"/students/{second['id']}/waitlist/{course['id']}"
    assert set(b.json()) == {"course_id", "code", "title", "position", "joined_at"}
    assert (a.json()["position"], b.json()["position"]) == (1, 2)
    assert (b.json()["course_id"], b.json()["code"], b.json()["title"]) == (
        course["id"],
        course["code"],
        course["title"],
    )
    assert await seats(admin, course["id"]) == (1, 2)


async def test_joining_again_answers_200_with_the_same_entry(admin: httpx.AsyncClient) -> None:
    course, _ = await full_course(admin)
    student = await new_student(admin)
    first = await join(admin, student["id"], course["id"])
    again = await join(admin, student["id"], course["id"])
    assert (again.status_code, again.json()) == (200, first.json())
    assert await seats(admin, course["id"]) == (1, 1)


async def test_join_rules_answer_in_the_contracts_order(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)
    open_course = await new_course(admin, capacity=5, waitlist_capacity=5)
    no_list, _ = await full_course(admin, waitlist=0)
    enrolled_in, _ = await full_course(admin)
    holder = (await roster(admin, enrolled_in["id"]))[0]

    assert_problem(await join(admin, 999_999, open_course["id"]), 404, "not-found")
    unknown = assert_problem(await join(admin, student["id"], 999_999), 422, "unknown-courses")
    assert unknown["invalid_course_ids"] == [999_999]
    assert_problem(await join(admin, holder, enrolled_in["id"]), 409, "already-enrolled")
    assert_problem(await join(admin, student["id"], open_course["id"]), 409, "course-not-full")
    assert_problem(await join(admin, student["id"], no_list["id"]), 409, "waitlist-full")
    no_limit = await new_course(admin)
    assert_problem(await join(admin, student["id"], no_limit["id"]), 409, "course-not-full")
    assert (await admin.get(f"/students/{student['id']}/waitlist")).json() == []


async def test_a_full_waitlist_refuses_the_next_student(admin: httpx.AsyncClient) -> None:
    course, _ = await full_course(admin, waitlist=2)
    for _ in range(2):
        assert (await join(admin, (await new_student(admin))["id"], course["id"])).status_code == 201
    assert_problem(await join(admin, (await new_student(admin))["id"], course["id"]), 409, "waitlist-full")


async def test_course_full_names_the_full_courses_whose_waitlist_has_room(admin: httpx.AsyncClient) -> None:
    with_room, _ = await full_course(admin, waitlist=3)
    without, _ = await full_course(admin, waitlist=0)
    student = await new_student(admin)
    refused = await admin.post(
        f"/students/{student['id']}/courses", json={"course_ids": [without["id"], with_room["id"]]}
    )
    body = assert_problem(refused, 409, "course-full")
    assert body["full_course_ids"] == sorted([with_room["id"], without["id"]])
    assert body["waitlist_open_course_ids"] == [with_room["id"]]


async def test_a_reader_cannot_join_or_leave(admin: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    course, _ = await full_course(admin)
    student = await new_student(admin)
    assert_problem(await join(reader, student["id"], course["id"]), 403, "forbidden")
    assert_problem(
        await reader.delete(f"/students/{student['id']}/waitlist/{course['id']}"), 403, "forbidden"
    )
    assert (await reader.get(f"/courses/{course['id']}/waitlist")).status_code == 200


# ----------------------------------------------------------------------------- lists and leaving


async def test_positions_follow_join_order_and_move_up_as_those_ahead_leave(admin: httpx.AsyncClient) -> None:
    course, _ = await full_course(admin)
    line = [(await new_student(admin))["id"] for _ in range(4)]
    for student in line:
        await join(admin, student, course["id"])

    assert (await admin.delete(f"/students/{line[1]}/waitlist/{course['id']}")).status_code == 204

    listed = (await admin.get(f"/courses/{course['id']}/waitlist")).json()
    assert [(s["id"], s["position"]) for s in listed] == [(line[0], 1), (line[2], 2), (line[3], 3)]
    assert set(listed[0]) == {"id", "name", "email", "position", "joined_at"}
    mine = (await admin.get(f"/students/{line[3]}/waitlist")).json()
    assert [(e["course_id"], e["position"]) for e in mine] == [(course["id"], 3)]
    assert await seats(admin, course["id"]) == (1, 3)


async def test_a_students_waitlists_are_ordered_by_course_id(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)
    courses = [(await full_course(admin))[0] for _ in range(3)]
    for course in reversed(courses):
        await join(admin, student["id"], course["id"])
    listed = (await admin.get(f"/students/{student['id']}/waitlist")).json()
    assert [e["course_id"] for e in listed] == sorted(c["id"] for c in courses)
    assert {e["position"] for e in listed} == {1}


async def test_leaving_a_waitlist_one_is_not_on_is_404(admin: httpx.AsyncClient) -> None:
    course, _ = await full_course(admin)
    student = await new_student(admin)
    assert_problem(await admin.delete(f"/students/{student['id']}/waitlist/{course['id']}"), 404, "not-found")
    assert_problem(await admin.get("/students/999999/waitlist"), 404, "not-found")
    assert_problem(await admin.get("/courses/999999/waitlist"), 404, "not-found")


async def test_a_course_with_anyone_waiting_cannot_be_deleted(admin: httpx.AsyncClient) -> None:
    course, _ = await full_course(admin, seats=0)  # nobody enrolled, and still full
    student = await new_student(admin)
    await join(admin, student["id"], course["id"])
    refused = assert_problem(await admin.delete(f"/courses/{course['id']}"), 409, "course-has-enrollments")
    assert (refused["enrolled"], refused["waitlisted"]) == (0, 1)
    await admin.delete(f"/students/{student['id']}/waitlist/{course['id']}")
    assert (await admin.delete(f"/courses/{course['id']}")).status_code == 204


# ---------------------------------------------------------------------------------- promotion


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=AUDIT)
    return caplog


def promotions(caplog: pytest.LogCaptureFixture) -> list[tuple[int, list[int], str | None]]:
    return [
        (r.student_id, r.added, r.request_id)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == AUDIT and r.action == "promote"  # type: ignore[attr-defined]
    ]


async def history_of(client: httpx.AsyncClient, course_id: int) -> list[dict[str, Any]]:
    return (await client.get(f"/courses/{course_id}/history", params={"limit": 1000})).json()["items"]  # type: ignore[no-any-return]


async def test_a_drop_promotes_the_first_in_line_in_the_same_transaction(
    admin: httpx.AsyncClient, audit: pytest.LogCaptureFixture
) -> None:
    course, (holder,) = await full_course(admin)
    first, second = (await new_student(admin))["id"], (await new_student(admin))["id"]
    await join(admin, first, course["id"])
    await join(admin, second, course["id"])
    audit.clear()

    dropped = await admin.delete(
        f"/students/{holder}/courses/{course['id']}", headers={"x-request-id": "free-1"}
    )

    assert dropped.status_code == 204
    assert await roster(admin, course["id"]) == [first]
    assert await waiting_line(admin, course["id"]) == [second]
    assert (await admin.get(f"/students/{second}/waitlist")).json()[0]["position"] == 1
    assert await seats(admin, course["id"]) == (1, 1)
    assert promotions(audit) == [(first, [course["id"]], "free-1")]
    last = (await history_of(admin, course["id"]))[-2:]
    assert [(e["student_id"], e["change"], e["cause"], e["request_id"]) for e in last] == [
        (holder, "dropped", "api", "free-1"),
        (first, "enrolled", "waitlist", "free-1"),
    ]
    assert (await admin.get(f"/students/{first}/waitlist")).json() == []


async def test_a_put_that_leaves_a_course_promotes(admin: httpx.AsyncClient) -> None:
    course, (holder,) = await full_course(admin)
    other = await new_course(admin)
    waiting = (await new_student(admin))["id"]
    await join(admin, waiting, course["id"])
    assert (
        await admin.put(f"/students/{holder}/courses", json={"course_ids": [other["id"]]})
    ).status_code == 200
    assert await roster(admin, course["id"]) == [waiting]


async def test_deleting_a_student_promotes_and_removes_its_own_entries(admin: httpx.AsyncClient) -> None:
    course, (holder,) = await full_course(admin)
    elsewhere, _ = await full_course(admin)
    waiting = (await new_student(admin))["id"]
    await join(admin, waiting, course["id"])
    await join(admin, holder, elsewhere["id"])
    assert await seats(admin, elsewhere["id"]) == (1, 1)

    assert (await admin.delete(f"/students/{holder}")).status_code == 204

    assert await roster(admin, course["id"]) == [waiting]
    assert await seats(admin, elsewhere["id"]) == (1, 0)
    assert await waiting_line(admin, elsewhere["id"]) == []


async def test_raising_the_capacity_promotes_in_order_and_answers_the_course_after(
    admin: httpx.AsyncClient, audit: pytest.LogCaptureFixture
) -> None:
    course, _ = await full_course(admin, waitlist=10)
    line = [(await new_student(admin))["id"] for _ in range(4)]
    for student in line:
        await join(admin, student, course["id"])
    audit.clear()

    raised = await admin.patch(
        f"/courses/{course['id']}", json={"capacity": 3}, headers={"x-request-id": "raise-1"}
    )

    assert raised.status_code == 200
    assert (raised.json()["capacity"], raised.json()["enrolled"], raised.json()["waitlisted"]) == (3, 3, 2)
    assert await waiting_line(admin, course["id"]) == line[2:]
    assert [p[0] for p in promotions(audit)] == line[:2]
    events = [e for e in await history_of(admin, course["id"]) if e["cause"] == "waitlist"]
    assert [e["student_id"] for e in events] == line[:2]  # recorded in position order

    lifted = await admin.patch(f"/courses/{course['id']}", json={"capacity": None})
    assert (lifted.json()["enrolled"], lifted.json()["waitlisted"]) == (5, 0)
    assert await waiting_line(admin, course["id"]) == []


async def test_lowering_the_waitlist_capacity_removes_nobody(admin: httpx.AsyncClient) -> None:
    course, _ = await full_course(admin, waitlist=5)
    line = [(await new_student(admin))["id"] for _ in range(3)]
    for student in line:
        await join(admin, student, course["id"])
    lowered = await admin.patch(f"/courses/{course['id']}", json={"waitlist_capacity": 1})
    assert (lowered.json()["waitlist_capacity"], lowered.json()["waitlisted"]) == (1, 3)
    assert await waiting_line(admin, course["id"]) == line
    assert_problem(await join(admin, (await new_student(admin))["id"], course["id"]), 409, "waitlist-full")
    full = await admin.post(
        f"/students/{(await new_student(admin))['id']}/courses", json={"course_id": course["id"]}
    )
    assert assert_problem(full, 409, "course-full")["waitlist_open_course_ids"] == []


async def test_a_drop_with_nobody_waiting_promotes_nobody(admin: httpx.AsyncClient) -> None:
    course, (holder,) = await full_course(admin)
    await admin.delete(f"/students/{holder}/courses/{course['id']}")
    assert await seats(admin, course["id"]) == (0, 0)
    assert [e["cause"] for e in await history_of(admin, course["id"])] == ["api", "api"]
