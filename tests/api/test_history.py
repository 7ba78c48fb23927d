"""Enrollment history (contract section 7): every change recorded with its cause, history pages,
and a student's courses and a course's roster as of any instant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from registrar.services import keys
from registrar.services.seed import SeedPlan, seed
from tests.helpers import all_pages, assert_problem, ids, new_course, new_student


async def history(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every event of a student or course, following small pages."""
    return await all_pages(client, f"{path}/history", limit=3, **params)


def changes(events: list[dict[str, Any]]) -> list[tuple[int, int, str, str]]:
    return [(e["student_id"], e["course_id"], e["change"], e["cause"]) for e in events]


async def admin_key_id(app: FastAPI) -> int:
    listed = await keys.list_keys(app.state.runtime.db)
    return int(next(k["id"] for k in listed if k["name"] == "test admin"))


async def test_enroll_and_drop_are_recorded_with_their_request_and_key(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    student, course = await new_student(admin), await new_course(admin)
    base = f"/students/{student['id']}/courses"
    enrolled = await admin.post(base, json={"course_id": course["id"]}, headers={"x-request-id": "enr-1"})
    dropped = await admin.delete(f"{base}/{course['id']}", headers={"x-request-id": "drop-1"})
    assert (enrolled.status_code, dropped.status_code) == (201, 204)

    events = await history(admin, f"/students/{student['id']}")

    assert changes(events) == [
        (student["id"], course["id"], "enrolled", "api"),
        (student["id"], course["id"], "dropped", "api"),
    ]
    assert [e["request_id"] for e in events] == ["enr-1", "drop-1"]
    assert {e["key_id"] for e in events} == {await admin_key_id(app)}
    assert events[0]["at"] == enrolled.json()[0]["enrolled_at"]
    assert events[1]["at"] >= events[0]["at"]
    assert events[0]["id"] < events[1]["id"]
    assert set(events[0]) == {
        "id",
        "at",
        "student_id",
        "course_id",
        "change",
        "cause",
        "request_id",
        "key_id",
    }


async def test_a_put_records_only_the_courses_that_joined_or_left(admin: httpx.AsyncClient) -> None:
    student = await new_student(admin)
    a, b, c = await new_course(admin), await new_course(admin), await new_course(admin)
    base = f"/students/{student['id']}/courses"
    await admin.put(base, json={"course_ids": [a["id"], b["id"]]})
    await admin.put(base, json={"course_ids": [b["id"], c["id"]]})
    await admin.put(base, json={"course_ids": [b["id"], c["id"]]})  # no change, no event

    events = await history(admin, f"/students/{student['id']}")

    assert [(e["course_id"], e["change"]) for e in events] == [
        (a["id"], "enrolled"),
        (b["id"], "enrolled"),
        (a["id"], "dropped"),
        (c["id"], "enrolled"),
    ]


async def test_a_refused_or_idle_request_records_nothing(admin: httpx.AsyncClient) -> None:
    student, full = await new_student(admin), await new_course(admin, capacity=0)
    base = f"/students/{student['id']}/courses"
    assert_problem(await admin.post(base, json={"course_id": full["id"]}), 409, "course-full")
    assert_problem(await admin.post(base, json={"course_ids": [10**9]}), 422, "unknown-courses")
    assert (await admin.put(base, json={"course_ids": []})).status_code == 200
    assert await history(admin, f"/students/{student['id']}") == []


async def test_deleting_a_student_records_its_drops_and_the_course_keeps_them(
    admin: httpx.AsyncClient,
) -> None:
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin)
    await admin.post(f"/students/{student['id']}/courses", json={"course_ids": [a["id"], b["id"]]})
    assert (await admin.delete(f"/students/{student['id']}")).status_code == 204

    course_events = await history(admin, f"/courses/{a['id']}")

    assert changes(course_events) == [
        (student["id"], a["id"], "enrolled", "api"),
        (student["id"], a["id"], "dropped", "student-deleted"),
    ]
    assert_problem(await admin.get(f"/students/{student['id']}/history"), 404, "not-found")


async def test_seeded_enrollments_are_recorded_without_request_or_key(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    await seed(app.state.runtime.db, SeedPlan(students=3, courses=2, per_student=2))
    students = (await admin.get("/students")).json()["items"]
    for student in students:
        events = await history(admin, f"/students/{student['id']}")
        assert [(e["change"], e["cause"], e["request_id"], e["key_id"]) for e in events] == [
            ("enrolled", "seed", None, None)
        ] * 2
        courses = (await admin.get(f"/students/{student['id']}/courses")).json()
        assert sorted(e["course_id"] for e in events) == ids(courses)
        assert {e["at"] for e in events} == {c["enrolled_at"] for c in courses}


async def test_history_pages_follow_event_ids(admin: httpx.AsyncClient) -> None:
    student, course = await new_student(admin), await new_course(admin)
    base = f"/students/{student['id']}/courses"
    for _ in range(4):
        await admin.post(base, json={"course_id": course["id"]})
        await admin.delete(f"{base}/{course['id']}")
    first = (await admin.get(f"/courses/{course['id']}/history", params={"limit": 5})).json()
    rest = (await admin.get(f"/courses/{course['id']}/history", params={"after": first["next_after"]})).json()
    assert len(first["items"]) == 5 and first["next_after"] == first["items"][-1]["id"]
    assert len(rest["items"]) == 3 and rest["next_after"] is None
    every = [e["id"] for e in first["items"] + rest["items"]]
    assert every == sorted(every) and len(set(every)) == 8


@pytest.mark.parametrize("path", ["/students/999999/history", "/courses/999999/history"])
async def test_history_of_what_does_not_exist_is_404(admin: httpx.AsyncClient, path: str) -> None:
    assert_problem(await admin.get(path), 404, "not-found")


async def test_a_reader_may_read_history(admin: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    student = await new_student(admin)
    assert (await reader.get(f"/students/{student['id']}/history")).json() == {
        "items": [],
        "next_after": None,
    }


# ------------------------------------------------------------------------------------------ as of


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_as_of_answers_the_roster_and_courses_as_they_stood(admin: httpx.AsyncClient) -> None:
    student, other = await new_student(admin), await new_student(admin)
    a, b = await new_course(admin), await new_course(admin)
    first = await admin.post(f"/students/{student['id']}/courses", json={"course_id": a["id"]})
    t1 = instant(first.json()[0]["enrolled_at"])
    await asyncio.sleep(0.002)
    await admin.post(f"/students/{other['id']}/courses", json={"course_id": a["id"]})
    await admin.put(f"/students/{student['id']}/courses", json={"course_ids": [b["id"]]})
    now = datetime.now(UTC)

    roster_then = (await admin.get(f"/courses/{a['id']}/students", params={"as_of": iso(t1)})).json()
    roster_now = (await admin.get(f"/courses/{a['id']}/students", params={"as_of": iso(now)})).json()
    courses_then = (await admin.get(f"/students/{student['id']}/courses", params={"as_of": iso(t1)})).json()
    before = (
        await admin.get(
            f"/students/{student['id']}/courses", params={"as_of": iso(t1 - timedelta(microseconds=1))}
        )
    ).json()

    assert roster_then == {
        "items": [
            {"id": student["id"], "name": student["name"], "email": student["email"], "enrolled_at": iso(t1)}
        ],
        "next_after": None,
    }
    assert ids(roster_now["items"]) == [other["id"]]
    assert courses_then == [{"id": a["id"], "code": a["code"], "title": a["title"], "enrolled_at": iso(t1)}]
    assert before == []  # the instant is inclusive: one microsecond earlier it had not happened


async def test_as_of_with_an_offset_means_the_same_instant(admin: httpx.AsyncClient) -> None:
    student, course = await new_student(admin), await new_course(admin)
    made = await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    at = instant(made.json()[0]["enrolled_at"])
    in_tokyo = at.astimezone(timezone(timedelta(hours=9)))
    answer = await admin.get(f"/students/{student['id']}/courses", params={"as_of": in_tokyo.isoformat()})
    assert ids(answer.json()) == [course["id"]]


async def test_as_of_still_to_come_answers_as_now(admin: httpx.AsyncClient) -> None:
    student, course = await new_student(admin), await new_course(admin)
    await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    future = {"as_of": "2999-01-01T00:00:00Z"}
    assert (await admin.get(f"/students/{student['id']}/courses", params=future)).json() == (
        await admin.get(f"/students/{student['id']}/courses")
    ).json()
    assert (await admin.get(f"/courses/{course['id']}/students", params=future)).json() == (
        await admin.get(f"/courses/{course['id']}/students")
    ).json()


async def test_as_of_shows_what_was_deleted_since_by_id_with_null_members(admin: httpx.AsyncClient) -> None:
    student, gone, course = await new_student(admin), await new_student(admin), await new_course(admin)
    old_course = await new_course(admin)
    made = await admin.post(f"/students/{gone['id']}/courses", json={"course_id": course["id"]})
    await admin.post(
        f"/students/{student['id']}/courses", json={"course_ids": [course["id"], old_course["id"]]}
    )
    then = iso(datetime.now(UTC))
    await asyncio.sleep(0.002)
    assert (await admin.delete(f"/students/{gone['id']}")).status_code == 204
    await admin.delete(f"/students/{student['id']}/courses/{old_course['id']}")
    assert (await admin.delete(f"/courses/{old_course['id']}")).status_code == 204

    roster = (await admin.get(f"/courses/{course['id']}/students", params={"as_of": then})).json()["items"]
    courses = (await admin.get(f"/students/{student['id']}/courses", params={"as_of": then})).json()

    by_id = {entry["id"]: entry for entry in roster}
    assert by_id[gone["id"]] == {
        "id": gone["id"],
        "name": None,
        "email": None,
        "enrolled_at": made.json()[0]["enrolled_at"],
    }
    assert by_id[student["id"]]["name"] == student["name"]
    assert ids(roster) == sorted([gone["id"], student["id"]])
    assert {c["id"]: (c["code"], c["title"]) for c in courses} == {
        course["id"]: (course["code"], course["title"]),
        old_course["id"]: (None, None),
    }


async def test_as_of_roster_pages_like_the_roster(app: FastAPI, admin: httpx.AsyncClient) -> None:
    await seed(app.state.runtime.db, SeedPlan(students=7, courses=1, per_student=1))
    course = (await admin.get("/courses")).json()["items"][0]
    later = {"as_of": iso(datetime.now(UTC))}
    first = (await admin.get(f"/courses/{course['id']}/students", params={"limit": 4, **later})).json()
    rest = (
        await admin.get(
            f"/courses/{course['id']}/students", params={"limit": 4, "after": first["next_after"], **later}
        )
    ).json()
    everyone = (await admin.get(f"/courses/{course['id']}/students")).json()["items"]
    assert first["items"] + rest["items"] == everyone
    assert (len(first["items"]), rest["next_after"]) == (4, None)


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-09-15",
        "2026-09-15T00:00:00",
        "2026-09-15 00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-09-15T25:00:00Z",
        "1700000000",
        "2026-09-15T00:00:00+2",
        "",
    ],
)
@pytest.mark.parametrize("path", ["/students/{s}/courses", "/courses/{c}/students"])
async def test_as_of_that_is_not_an_rfc3339_instant_is_422(
    admin: httpx.AsyncClient, value: str, path: str
) -> None:
    student, course = await new_student(admin), await new_course(admin)
    url = path.format(s=student["id"], c=course["id"])
    body = assert_problem(await admin.get(url, params={"as_of": value}), 422, "validation-error")
    assert body["errors"][0]["loc"] == ["query", "as_of"]


@pytest.mark.parametrize(
    "value", ["2026-09-15T00:00:00.123456789Z", "2026-09-15t00:00:00z", "2016-12-31T23:59:60Z"]
)
async def test_as_of_accepts_every_rfc3339_form(admin: httpx.AsyncClient, value: str) -> None:
    student = await new_student(admin)
    response = await admin.get(f"/students/{student['id']}/courses", params={"as_of": value})
    assert (response.status_code, response.json()) == (200, [])


async def test_as_of_for_a_student_that_does_not_exist_is_404(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/students/999999/courses", params={"as_of": "2026-01-01T00:00:00Z"})
    assert_problem(response, 404, "not-found")
    response = await admin.get("/courses/999999/students", params={"as_of": "2026-01-01T00:00:00Z"})
    assert_problem(response, 404, "not-found")


async def test_as_of_for_what_was_deleted_since_is_404_though_its_past_had_enrollments(
    admin: httpx.AsyncClient,
) -> None:
    student, course = await new_student(admin), await new_course(admin)
    await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    then = {"as_of": iso(datetime.now(UTC))}
    await asyncio.sleep(0.002)
    assert (await admin.delete(f"/students/{student['id']}/courses/{course['id']}")).status_code == 204
    assert (await admin.delete(f"/courses/{course['id']}")).status_code == 204
    assert (await admin.delete(f"/students/{student['id']}")).status_code == 204

    assert_problem(await admin.get(f"/courses/{course['id']}/students", params=then), 404, "not-found")
    assert_problem(await admin.get(f"/students/{student['id']}/courses", params=then), 404, "not-found")
