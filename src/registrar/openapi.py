"""The OpenAPI document: FastAPI's, plus the bearer scheme and every error as a problem."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from registrar.auth import BEARER_SCHEME, ROLE_MEMBER, Role
from registrar.problems import (
    PROBLEM_MEDIA_TYPE,
    Forbidden,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InternalError,
    MalformedJson,
    NotFound,
    PayloadTooLarge,
    Problem,
    ProblemBody,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from registrar.schemas import MAX_ID

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Send the same key again with the same request within 24 hours to get the first "
    "response replayed instead of writing twice (the same key with another request: "
    "idempotency-key-reused; while the first is still running: idempotency-key-in-use).",
    "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = doc.setdefault("components", {})
        components.setdefault("securitySchemes", {})[BEARER_SCHEME] = {"type": "http", "scheme": "bearer"}
        schemas = components.setdefault("schemas", {})
        schemas["Problem"] = ProblemBody.model_json_schema()
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                if method in ("post", "put"):
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
                _document_problems(path, method, operation)
                _document_path_ids(operation)
        _exact_integer_bounds(doc)
        app.openapi_schema = doc
    return app.openapi_schema


def _document_path_ids(operation: dict[str, Any]) -> None:
    """Path ids match their route only in 1..2^63-1 (api/common.py); say so."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            parameter["schema"].update(minimum=1, maximum=MAX_ID)


def _exact_integer_bounds(node: Any) -> None:
    """FastAPI's OpenAPI model keeps bounds as floats, and a float cannot hold 2^63-1 (it becomes
    2^63, an id the service refuses): put the exact integers back."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for bound in ("minimum", "maximum"):
                if isinstance(node.get(bound), float):
                    node[bound] = MAX_ID if node[bound] >= MAX_ID else int(node[bound])
        for value in node.values():
            _exact_integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _exact_integer_bounds(value)


def _problems_of(path: str, method: str, operation: dict[str, Any]) -> list[type[Problem]]:
    """The problems any operation of this shape can answer with, besides its own."""
    role = operation.get(ROLE_MEMBER)
    found: list[type[Problem]] = [InternalError, ServiceUnavailable]
    if role != Role.PUBLIC.value:
        found += [Unauthorized, RateLimited]
    if role == Role.ADMIN.value:
        found.append(Forbidden)
    if "{" in path:
        found.append(NotFound)
    if "requestBody" in operation:
        found += [MalformedJson, PayloadTooLarge]
    if "requestBody" in operation or operation.get("parameters"):
        found.append(ValidationFailed)
    if method in ("post", "put"):
        found += [IdempotencyKeyInUse, IdempotencyKeyReused]
    return found


def _document_problems(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for problem in _problems_of(path, method, operation):
        entry = responses.setdefault(str(problem.status), {"description": ""})
        slugs = [s for s in entry["description"].split(", ") if s and s != "Validation Error"]
        if problem.slug not in slugs:
            slugs.append(problem.slug)
        entry["description"] = ", ".join(slugs)
    for status, entry in responses.items():
        if status.startswith(("4", "5")):
            entry["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    operation["responses"] = dict(sorted(responses.items()))
