"""Connections and transactions for both engines, built from Settings; all SQL in `queries`."""

from __future__ import annotations

from registrar.config import Settings
from registrar.db.core import Database, Dialect, Row, Sql, Transaction, UniqueViolation


async def open_database(settings: Settings) -> Database:
    if settings.engine == "postgresql":
        from registrar.db.postgres import PostgresDatabase

        return await PostgresDatabase.open(settings)
    from registrar.db.sqlite import SqliteDatabase

    return await SqliteDatabase.open(settings)


__all__ = ["Database", "Dialect", "Row", "Sql", "Transaction", "UniqueViolation", "open_database"]
