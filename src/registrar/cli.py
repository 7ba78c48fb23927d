"""The operator's command line: serve, migrate, keys, seed."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import click
import typer

from registrar.config import Settings
from registrar.db import Database, open_database
from registrar.migrations import runner
from registrar.problems import Problem
from registrar.services import keys as key_service
from registrar.services.seed import SeedPlan, seed

T = TypeVar("T")

app = typer.Typer(
    help="registrar: students, courses and enrollments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


class KeyRole(StrEnum):
    admin = "admin"
    reader = "reader"


def with_database(work: Callable[[Database], Awaitable[T]], settings: Settings | None = None) -> T:
    async def run() -> T:
        db = await open_database(settings or Settings())
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(run())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Apply pending migrations, create the first admin key on an empty key table, then serve."""
    import uvicorn

    from registrar.logs import configure, logging_config
    from registrar.supervisor import Supervisor, drain_seconds, metrics_directory

    settings = Settings()
    configure(settings.log_level)
    runner.upgrade(settings)
    token = with_database(key_service.create_first_admin_key, settings)
    if token:
        print(f"First admin key (printed this once only, keep it safe): {token}", flush=True)
    print(f"API docs: http://{host}:{port}/docs", flush=True)
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "log_config": logging_config(settings.log_level),
        "access_log": False,
        "timeout_graceful_shutdown": drain_seconds(settings.shutdown_grace),
        "server_header": False,
        # uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 and rewrite the client
        # address that failed logins count against; REGISTRAR_TRUSTED_PROXIES decides that instead.
        "proxy_headers": False,
    }
    if workers == 1:
        uvicorn.run("registrar.app:create_app", **options)
        return
    config = uvicorn.Config("registrar.app:create_app", **options)
    with metrics_directory() as metrics_dir:
        Supervisor(config, sockets=[config.bind_socket()], metrics_dir=metrics_dir).run()


@app.command()
def migrate(
    to: Annotated[str | None, typer.Option("--to", help="Revision id, base or head (up or down)")] = None,
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL of the full upgrade instead")] = False,
) -> None:
    """Upgrade the database to the newest schema, or move it to --to REV."""
    settings = Settings()
    if sql:
        sys.stdout.write(runner.upgrade_sql(settings))
    elif to:
        runner.migrate_to(settings, to)
    else:
        runner.upgrade(settings)


@keys_app.command("create")
def keys_create(
    role: Annotated[KeyRole, typer.Option(help="admin may do everything; reader may only read")],
    name: Annotated[str | None, typer.Option(help="A label to recognise the key by")] = None,
) -> None:
    """Create a key and print its token, alone, on stdout (the only time it is shown)."""
    token = with_database(lambda db: key_service.create_key(db, role.value, name))
    print(token)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value).replace("\t", " ").replace("\n", " ")


@keys_app.command("list")
def keys_list() -> None:
    """One key a line, tab-separated: id, role, name, created, revoked. Never a token."""
    for key in with_database(key_service.list_keys):
        print("\t".join(_cell(key[c]) for c in ("id", "role", "name", "created_at", "revoked_at")))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="The key's id (see keys list)")],
) -> None:
    """Revoke a key: every worker refuses it within a second. Revoking twice is harmless."""
    with_database(lambda db: key_service.revoke_key(db, key_id))


@app.command("seed")
def seed_command(
    students: Annotated[int, typer.Option(min=0, help="New students")] = 0,
    courses: Annotated[int, typer.Option(min=0, help="New courses, without a capacity limit")] = 0,
    per_student: Annotated[int, typer.Option(min=0, help="Distinct new courses per new student")] = 0,
) -> None:
    """Add demo or benchmark data in bulk: N students, M courses, each student in K of them."""
    plan = SeedPlan(students, courses, per_student)
    plan.check()
    if not sys.stderr.isatty():
        with_database(lambda db: seed(db, plan))
        return
    with click.progressbar(length=students, label="seeding students", file=sys.stderr) as bar:
        with_database(lambda db: seed(db, plan, bar.update))


def main() -> None:
    """Run the CLI; any failure is one line on stderr and a non-zero exit, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        print("registrar: aborted", file=sys.stderr)
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors (Typer bundles its own click)
        message = getattr(exc, "format_message", lambda: "")() or "a command is needed (see --help)"
        print(f"registrar: {message}".splitlines()[0], file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except Problem as exc:
        print(f"registrar: {exc.detail}", file=sys.stderr)
        sys.exit(1)
    except ValueError as exc:
        print(f"registrar: {exc}".splitlines()[0], file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        print(f"registrar: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
