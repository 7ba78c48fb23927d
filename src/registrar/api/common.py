"""What every router shares: path ids, dependencies, and the JSON response."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request
from pydantic import AfterValidator, BeforeValidator
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from registrar.db import Database
from registrar.schemas import MAX_ID, parse_instant
from registrar.services.common import Caller


def _at_most(bound: str) -> str:
    """A regex for the decimal numbers 1..bound without leading zeros."""
    shorter = rf"[1-9]\d{{0,{len(bound) - 2}}}"
    same_length = [bound]
    for i, digit in enumerate(bound):
        if digit != "0":
            first = "1" if i == 0 else "0"
            top = str(int(digit) - 1)
            if int(top) >= int(first):
                same_length.append(rf"{bound[:i]}[{first}-{top}]\d{{{len(bound) - i - 1}}}")
    return "(?:" + "|".join([shorter, *same_length]) + ")"


class EntityIdConvertor(Convertor[int]):
    """Path ids are integers in 1..2^63-1; anything else matches no route, so it is a 404 before
    authentication, as the contract orders it."""

    regex = _at_most(str(MAX_ID))

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", EntityIdConvertor())
assert re.fullmatch(EntityIdConvertor.regex, str(MAX_ID))
assert not re.fullmatch(EntityIdConvertor.regex, str(MAX_ID + 1))


async def database(request: Request) -> Database:
    db: Database = request.app.state.runtime.db
    return db


async def caller(request: Request) -> Caller:
    key = getattr(request.state, "key", None)
    return Caller(key_id=key.id if key else None, request_id=getattr(request.state, "request_id", None))


Db = Annotated[Database, Depends(database)]
CallerOf = Annotated[Caller, Depends(caller)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page")]
After = Annotated[int, Query(ge=0, le=MAX_ID, description="Only items with a larger id (0: from the start)")]


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the driver.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Filter = Annotated[
    str | None,
    AfterValidator(_no_nul),
    Query(description="Exact match, ignoring case", json_schema_extra={"pattern": "^[^\\x00]*$"}),
]


AsOf = Annotated[
    datetime | None,
    BeforeValidator(parse_instant),
    Query(
        description="Answer as things stood at this instant (RFC 3339, with Z or an offset); "
        "an instant still to come answers as now",
        examples=["2026-09-15T00:00:00Z"],
    ),
]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """orjson straight to bytes: the service built plain dicts, so there is nothing to validate."""
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), status, headers, "application/json")
