"""The enrollment audit line (contract section 4): one JSON line per change, ids only, none when
nothing changed."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from registrar.logs import JsonLines
from registrar.services import keys
from tests.helpers import new_course, new_student

AUDIT = "registrar.enrollments"


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=AUDIT)
    return caplog


def audit_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == AUDIT]


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: getattr(record, k) for k in ("action", "student_id", "added", "removed", "request_id", "key_id")
    }


async def admin_key_id(app: FastAPI) -> int:
    listed = await keys.list_keys(app.state.runtime.db)
    return int(next(k["id"] for k in listed if k["name"] == "test admin"))


async def test_enroll_writes_one_line_with_ids_request_and_key(
    app: FastAPI, admin: httpx.AsyncClient, audit: pytest.LogCaptureFixture
) -> None:
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin)
    audit.clear()
    response = await admin.post(
        f"/students/{student['id']}/courses",
        json={"course_ids": [b["id"], a["id"], b["id"]]},
        headers={"x-request-id": "enroll-req-1"},
    )
    assert response.status_code == 201
    [record] = audit_records(audit)
    assert fields(record) == {
        "action": "enroll",
        "student_id": student["id"],
        "added": [a["id"], b["id"]],
        "removed": [],
        "request_id": "enroll-req-1",
        "key_id": await admin_key_id(app),
    }


async def test_replace_writes_one_line_with_added_and_removed(
    admin: httpx.AsyncClient, audit: pytest.LogCaptureFixture
) -> None:
    student, a, b, c = (
        await new_student(admin),
        await new_course(admin),
        await new_course(admin),
        await new_course(admin),
    )
    await admin.post(f"/students/{student['id']}/courses", json={"course_ids": [a["id"], b["id"]]})
    audit.clear()
    response = await admin.put(
        f"/students/{student['id']}/enroll",
        json={"course_ids": [c["id"], b["id"]]},
        headers={"x-request-id": "replace-req"},
    )
    assert response.status_code == 200
    [record] = audit_records(audit)
    assert record.added == [c["id"]]  # type: ignore[attr-defined]
    assert record.removed == [a["id"]]  # type: ignore[attr-defined]
    assert record.request_id == "replace-req"  # type: ignore[attr-defined]
    assert record.student_id == student["id"]  # type: ignore[attr-defined]


async def test_drop_writes_one_line(admin: httpx.AsyncClient, audit: pytest.LogCaptureFixture) -> None:
    student, course = await new_student(admin), await new_course(admin)
    await admin.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    audit.clear()
    response = await admin.delete(f"/students/{student['id']}/courses/{course['id']}")
    assert response.status_code == 204
    [record] = audit_records(audit)
    assert (record.added, record.removed) == ([], [course["id"]])  # type: ignore[attr-defined]
    assert record.request_id == response.headers["x-request-id"]  # type: ignore[attr-defined]


async def test_deleting_enrolled_student_writes_one_line(
    admin: httpx.AsyncClient, audit: pytest.LogCaptureFixture
) -> None:
    student, a, b = await new_student(admin), await new_course(admin), await new_course(admin)
    await admin.post(f"/students/{student['id']}/courses", json={"course_ids": [a["id"], b["id"]]})
    audit.clear()
    assert (await admin.delete(f"/students/{student['id']}")).status_code == 204
    [record] = audit_records(audit)
    assert (record.student_id, record.removed) == (student["id"], [a["id"], b["id"]])  # type: ignore[attr-defined]


async def test_requests_that_change_nothing_write_no_line(
    admin: httpx.AsyncClient, audit: pytest.LogCaptureFixture
) -> None:
    student, held, full = (
        await new_student(admin),
        await new_course(admin),
        await new_course(admin, capacity=0),
    )
    loner = await new_student(admin)
    base = f"/students/{student['id']}"
    await admin.post(f"{base}/courses", json={"course_id": held["id"]})
    audit.clear()
    responses = [
        await admin.post(f"{base}/courses", json={"course_ids": [held["id"], held["id"]]}),
        await admin.put(f"{base}/courses", json={"course_ids": [held["id"]]}),
        await admin.post(f"{base}/enroll", json={"course_ids": [full["id"]]}),
        await admin.put(f"{base}/courses", json={"course_ids": [held["id"], 900_001]}),
        await admin.post(f"{base}/courses", json={"course_ids": []}),
        await admin.delete(f"{base}/courses/{full['id']}"),
        await admin.put(f"/students/{loner['id']}/courses", json={"course_ids": []}),
        await admin.delete(f"/students/{loner['id']}"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 409, 422, 422, 404, 200, 204]
    assert audit_records(audit) == []


async def test_log_lines_hold_no_name_email_or_token(
    admin: httpx.AsyncClient, admin_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    student = await new_student(admin, name="Zelda Secretname", email="zelda.secret@example.edu")
    course = await new_course(admin)
    base = f"/students/{student['id']}"
    await admin.post(f"{base}/courses", json={"course_id": course["id"]})
    await admin.put(f"{base}/courses", json={"course_ids": []})
    await admin.post(f"{base}/courses", json={"course_id": course["id"]})
    await admin.delete(f"{base}/courses/{course['id']}")
    await admin.delete(base)
    lines = [JsonLines().format(r) for r in caplog.records]
    assert len([r for r in caplog.records if r.name == AUDIT]) == 4
    for line in lines:
        assert "\n" not in line
        orjson.loads(line)
        for secret in ("Secretname", "zelda.secret", admin_token):
            assert secret not in line
