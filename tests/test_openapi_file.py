"""docs/openapi.yaml is the app's OpenAPI document, and that document says what the contract says:
every endpoint, the /enroll aliases deprecated, every error a problem, examples for enrollment.
Regenerate the file with `.venv/bin/python scripts/write_openapi.py`."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from scripts.write_openapi import OPENAPI_FILE, openapi_document, openapi_yaml

REGENERATE = "docs/openapi.yaml is stale: run .venv/bin/python scripts/write_openapi.py"
CONTRACT_OPERATIONS = {
    ("post", "/students"),
    ("get", "/students"),
    ("get", "/students/{student_id}"),
    ("patch", "/students/{student_id}"),
    ("delete", "/students/{student_id}"),
    ("post", "/courses"),
    ("get", "/courses"),
    ("get", "/courses/{course_id}"),
    ("patch", "/courses/{course_id}"),
    ("delete", "/courses/{course_id}"),
    ("get", "/courses/{course_id}/students"),
    ("get", "/students/{student_id}/courses"),
    ("post", "/students/{student_id}/courses"),
    ("put", "/students/{student_id}/courses"),
    ("delete", "/students/{student_id}/courses/{course_id}"),
    ("post", "/students/{student_id}/enroll"),
    ("put", "/students/{student_id}/enroll"),
    ("get", "/students/{student_id}/history"),
    ("get", "/courses/{course_id}/history"),
    ("post", "/students/{student_id}/waitlist"),
    ("get", "/students/{student_id}/waitlist"),
    ("delete", "/students/{student_id}/waitlist/{course_id}"),
    ("get", "/courses/{course_id}/waitlist"),
    ("get", "/healthz"),
}
ENROLLMENT_OPERATIONS = [
    ("post", "/students/{student_id}/courses"),
    ("put", "/students/{student_id}/courses"),
    ("post", "/students/{student_id}/enroll"),
    ("put", "/students/{student_id}/enroll"),
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method, path): op for path, ops in document["paths"].items() for method, op in ops.items()}


def test_committed_openapi_file_is_the_apps_document(document: dict[str, Any]) -> None:
    committed = OPENAPI_FILE.read_text(encoding="utf-8")
    assert yaml.safe_load(committed) == document, REGENERATE
    assert committed == openapi_yaml(), REGENERATE


def test_every_contract_endpoint_is_documented(document: dict[str, Any]) -> None:
    assert set(operations(document)) >= CONTRACT_OPERATIONS


def test_only_the_enroll_aliases_are_deprecated(document: dict[str, Any]) -> None:
    deprecated = {key for key, op in operations(document).items() if op.get("deprecated") is True}
    assert deprecated == {("post", "/students/{student_id}/enroll"), ("put", "/students/{student_id}/enroll")}


def test_every_error_response_is_a_problem(document: dict[str, Any]) -> None:
    errors = [
        (key, status, response)
        for key, op in operations(document).items()
        for status, response in op["responses"].items()
        if status.startswith(("4", "5"))
    ]
    assert len(errors) > len(CONTRACT_OPERATIONS)
    for key, status, response in errors:
        assert list(response.get("content", {})) == ["application/problem+json"], (key, status)


def test_protected_operations_document_401_and_open_ones_do_not(document: dict[str, Any]) -> None:
    for (method, path), op in operations(document).items():
        assert ("401" in op["responses"]) == (path != "/healthz"), (method, path)


@pytest.mark.parametrize(("method", "path"), ENROLLMENT_OPERATIONS)
def test_enrollment_endpoints_have_request_examples(document: dict[str, Any], method: str, path: str) -> None:
    body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
    examples = body.get("examples") or {}
    assert examples, (method, path)
    for example in examples.values():
        assert "course_ids" in example["value"] or "course_id" in example["value"]


def test_every_post_and_put_documents_the_idempotency_key_and_its_problems(document: dict[str, Any]) -> None:
    writes = {key: op for key, op in operations(document).items() if key[0] in ("post", "put")}
    assert len(writes) == 7
    for key, op in writes.items():
        [header] = [p for p in op["parameters"] if p["in"] == "header"]
        assert header["name"] == "Idempotency-Key", key
        assert header["required"] is False
        assert "idempotency-key-in-use" in op["responses"]["409"]["description"], key
        assert "idempotency-key-reused" in op["responses"]["422"]["description"], key
    for key, op in operations(document).items():
        if key[0] not in ("post", "put"):
            assert all(p["name"] != "Idempotency-Key" for p in op.get("parameters", [])), key
