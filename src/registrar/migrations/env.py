"""Alembic environment: one code path for both engines, online (a connection) or offline (--sql)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import context
from sqlalchemy import Connection, make_url

from registrar.models import Base

config = context.config
target_metadata = Base.metadata
url = config.get_main_option("sqlalchemy.url") or ""


def on_this_engine(dialect: str) -> Callable[..., bool]:
    """Alembic's include_object: leaves the model's indexes of other engines (`models.only_on`)
    out of the comparison with this database."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return reflected or type_ != "index" or obj.info.get("only_on", dialect) == dialect

    return include


def configure(connection: Connection | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else make_url(url).get_backend_name()
    context.configure(
        connection=connection,
        url=None if connection is not None else url,
        target_metadata=target_metadata,
        render_as_batch=dialect == "sqlite",
        include_object=on_this_engine(dialect),
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
