"""The operator's command line: serve, migrate, keys, seed, import, export."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer

from registrar.config import Settings
from registrar.db import Database, open_database
from registrar.services import oneroster as oneroster_service

# Alembic, FastAPI (through registrar.problems) and the other services are imported by the
# commands that use them: loaded up front they cost every command some 35 MB of memory, a tenth
# of what a large OneRoster import may use.

T = TypeVar("T")

app = typer.Typer(
    help="registrar: students, courses and enrollments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
import_app = typer.Typer(help="Import rosters from other systems.", no_args_is_help=True)
app.add_typer(import_app, name="import")
export_app = typer.Typer(help="Export rosters for other systems.", no_args_is_help=True)
app.add_typer(export_app, name="export")


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
    from registrar.migrations import runner
    from registrar.services import keys as key_service
    from registrar.services.throttle import require_redis_support
    from registrar.supervisor import Supervisor, drain_seconds, listening_address, metrics_directory

    settings = Settings()
    if settings.redis_url:
        require_redis_support()  # before any worker starts, so the reason is one line
    configure(settings.log_level)
    runner.upgrade(settings)
    # Like the migrations, on the server itself even behind a pooler: setting up does not wait for
    # one of the pooler's few server connections while other hosts serve.
    token = with_database(key_service.create_first_admin_key, settings.direct())
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
        Supervisor(config, sockets=[listening_address(host, port)], metrics_dir=metrics_dir).run()


@app.command()
def migrate(
    to: Annotated[str | None, typer.Option("--to", help="Revision id, base or head (up or down)")] = None,
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL of the full upgrade instead")] = False,
) -> None:
    """Upgrade the database to the newest schema, or move it to --to REV."""
    from registrar.migrations import runner

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
    from registrar.services import keys as key_service

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
    from registrar.services import keys as key_service

    for key in with_database(key_service.list_keys):
        print("\t".join(_cell(key[c]) for c in ("id", "role", "name", "created_at", "revoked_at")))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="The key's id (see keys list)")],
) -> None:
    """Revoke a key: every worker refuses it within a second. Revoking twice is harmless."""
    from registrar.services import keys as key_service

    with_database(lambda db: key_service.revoke_key(db, key_id))


@app.command("seed")
def seed_command(
    students: Annotated[int, typer.Option(min=0, help="New students")] = 0,
    courses: Annotated[int, typer.Option(min=0, help="New courses, without a capacity limit")] = 0,
    per_student: Annotated[int, typer.Option(min=0, help="Distinct new courses per new student")] = 0,
) -> None:
    """Add demo or benchmark data in bulk: N students, M courses, each student in K of them."""
    from registrar.services.seed import SeedPlan, seed

    plan = SeedPlan(students, courses, per_student)
    plan.check()
    if not sys.stderr.isatty():
        with_database(lambda db: seed(db, plan))
        return
    with click.progressbar(length=students, label="seeding students", file=sys.stderr) as bar:
        with_database(lambda db: seed(db, plan, bar.update))


# An import or export is a batch, not a request: one statement over 500,000 enrollments, or the
# plan computed between two statements of its transaction, may take longer than the 30 s that
# REGISTRAR_DB_STATEMENT_TIMEOUT allows a request by default.
BATCH_STATEMENT_TIMEOUT = 600.0


def _batch() -> Settings:
    settings = Settings()
    longer = max(settings.db_statement_timeout, BATCH_STATEMENT_TIMEOUT)
    return settings.model_copy(update={"db_statement_timeout": longer})


@import_app.command("oneroster")
def import_oneroster(
    package: Annotated[Path, typer.Argument(help="A .zip, or a folder holding manifest.csv")],
    source: Annotated[str | None, typer.Option(help="The source's name (default: the manifest's)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan and report; write nothing")] = False,
    expect_plan: Annotated[
        str | None, typer.Option("--expect-plan", help="Apply only if the plan is still this digest")
    ] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Leave out rows in error")] = False,
    adopt: Annotated[bool, typer.Option(help="Map unmapped users and classes by e-mail and code")] = False,
    max_drop_percent: Annotated[
        float, typer.Option(min=0, max=100, help="Refuse to drop more of this source's enrollments")
    ] = 10.0,
    strict: Annotated[bool, typer.Option("--strict", help="Count warnings as errors")] = False,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here")] = None,
) -> None:
    """Import a OneRoster 1.1 or 1.2 CSV package: plan, then apply in one transaction."""
    options = oneroster_service.ImportOptions(
        source, dry_run, expect_plan, skip_invalid, adopt, max_drop_percent, strict
    )
    outcome = _import_with_progress(package, options)
    if report is not None:
        report.write_text(json.dumps(outcome.report(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    *lines, last = outcome.summary()
    for line in lines:
        print(line, file=sys.stderr)
    if outcome.failure is not None:
        print(f"registrar: {last}", file=sys.stderr)
        raise typer.Exit(1)
    print(last, file=sys.stderr)


def _import_with_progress(
    package: Path, options: oneroster_service.ImportOptions
) -> oneroster_service.Outcome:
    """Run the import, with a bar of its steps on stderr when stderr is a terminal (never in a
    log or a pipe, where it would only be noise)."""
    if not sys.stderr.isatty():
        return with_database(lambda db: oneroster_service.import_package(db, package, options), _batch())
    steps = oneroster_service.STEPS
    with click.progressbar(length=len(steps), label="importing", file=sys.stderr) as bar:

        def step(name: str) -> None:
            bar.label = name
            bar.update(1)

        return with_database(
            lambda db: oneroster_service.import_package(db, package, options, step), _batch()
        )


@export_app.command("oneroster")
def export_oneroster(
    out: Annotated[Path, typer.Argument(metavar="OUT.zip", help="Where to write the package")],
    source: Annotated[str, typer.Option(help="Keep the sourcedIds this source imported")] = "oneroster",
) -> None:
    """Export every student, course and enrollment as a OneRoster 1.2 bulk package."""
    from registrar.services.oneroster.export import export_package

    with_database(lambda db: export_package(db, out, source), _batch())


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
    except Exception as exc:
        print(_failure(exc), file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _failure(exc: Exception) -> str:
    """The one line that says why a command failed: a Problem's detail, else the first line."""
    from registrar.problems import Problem

    if isinstance(exc, Problem):
        return f"registrar: {exc.detail}"
    if isinstance(exc, ValueError):
        return f"registrar: {exc}".splitlines()[0]
    return f"registrar: {type(exc).__name__}: {exc}".splitlines()[0]
