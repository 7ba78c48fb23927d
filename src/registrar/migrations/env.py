"""Alembic environment: one code path for both engines, online (a connection) or offline (--sql)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from registrar.models import Base

config = context.config
target_metadata = Base.metadata
url = config.get_main_option("sqlalchemy.url") or ""


def configure(connection: Connection | None = None) -> None:
    context.configure(
        connection=connection,
        url=None if connection is not None else url,
        target_metadata=target_metadata,
        render_as_batch=(connection.dialect.name if connection is not None else url).startswith("sqlite"),
        literal_binds=connection is None,
        compare_type=True,
        transaction_per_migration=False,
    )


def run_with(connection: Connection) -> None:
    configure(connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several hosts may start at once: one migrates, the others wait and find nothing to do.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7420001)")
        context.run_migrations()


if context.is_offline_mode():
    configure()
    with context.begin_transaction():
        context.run_migrations()
else:
    # registrar's runner (migrations/runner.py) hands over an open connection.
    run_with(config.attributes["connection"])
