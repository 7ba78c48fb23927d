"""Alembic, driven from Settings: upgrade, move to a revision, print SQL, read the current revision."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.ext.asyncio import create_async_engine

from registrar.config import Settings

T = TypeVar("T")
HERE = Path(__file__).resolve().parent


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", settings.direct().sqlalchemy_url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


def on_connection(settings: Settings, work: Callable[[Connection], T]) -> T:
    """Run `work` on a synchronous SQLAlchemy connection to the configured database, then commit.
    Behind a pooler, on the server itself (REGISTRAR_DATABASE_DIRECT_URL): SQLAlchemy's asyncpg
    driver keeps named prepared statements on its connection, which a pooler in transaction mode
    does not carry from one transaction to the next."""
    settings = settings.direct()
    if settings.engine == "sqlite":
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.sqlalchemy_url, poolclass=pool.NullPool)
        try:
            with engine.connect() as connection:
                result = work(connection)
                connection.commit()
                return result
        finally:
            engine.dispose()

    async def on_postgres() -> T:
        async_engine = create_async_engine(settings.sqlalchemy_url, poolclass=pool.NullPool)
        try:
            async with async_engine.connect() as connection:
                result = await connection.run_sync(work)
                await connection.commit()
                return result
        finally:
            await async_engine.dispose()

    return asyncio.run(on_postgres())


def current_revision(settings: Settings) -> str | None:
    return on_connection(settings, lambda c: MigrationContext.configure(c).get_current_revision())


def _run(settings: Settings, step: Callable[[Config], None]) -> None:
    cfg = alembic_config(settings)

    def work(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        step(cfg)

    on_connection(settings, work)


def upgrade(settings: Settings, to: str = "head") -> None:
    _run(settings, lambda cfg: command.upgrade(cfg, to))


def migrate_to(settings: Settings, target: str) -> None:
    """Upgrade or downgrade, whichever reaches `target` (a revision id, `base` or `head`)."""
    if target == "head":
        upgrade(settings)
        return
    script = ScriptDirectory.from_config(alembic_config(settings))
    if target != "base":
        script.get_revision(target)  # an unknown id fails here, before anything runs
    current = current_revision(settings)
    below_current = current is not None and (
        target == "base" or any(r.revision == target for r in script.iterate_revisions(current, "base"))
    )
    if below_current:
        _run(settings, lambda cfg: command.downgrade(cfg, target))
    else:
        upgrade(settings, target)


def upgrade_sql(settings: Settings, revisions: str = "head") -> str:
    """The SQL of an upgrade in the configured engine's dialect, without touching the database.
    `revisions` is `head` (everything) or a range such as `0001:0002`."""
    cfg = alembic_config(settings)
    buffer = io.StringIO()
    cfg.output_buffer = buffer
    command.upgrade(cfg, revisions, sql=True)
    return buffer.getvalue()


def revision_ids(settings: Settings) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(settings))
    return [r.revision for r in reversed(list(script.walk_revisions()))]
