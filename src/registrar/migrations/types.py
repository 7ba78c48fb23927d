"""Column types as the revisions wrote them, frozen here so later model changes cannot alter history."""

from __future__ import annotations

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.dialects import sqlite

TIMESTAMP = DateTime(timezone=True).with_variant(
    sqlite.DATETIME(  # type: ignore[no-untyped-call]
        storage_format="%(year)04d-%(month)02d-%(day)02dT%(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06dZ",
        regexp=r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d{6})Z",
    ),
    "sqlite",
)
ID = BigInteger().with_variant(Integer(), "sqlite")
