"""(Re)write src/registrar/migrations/sql/: the PostgreSQL SQL of each revision alone, for DBAs.

One file per revision, named after its migration without the date (`0002_add_student_courses.sql`),
each the offline output of `alembic upgrade <previous>:<revision> --sql` (with the alembic_version
bookkeeping), trailing spaces trimmed. tests/test_sql_files.py fails when a file is missing or stale.
Usage: .venv/bin/python scripts/write_sql_files.py
"""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from registrar.config import Settings
from registrar.migrations import runner

SQL_DIR = Path(runner.__file__).resolve().parent / "sql"
POSTGRES = Settings(database_url="postgresql://u:p@localhost/db", _env_file=None)  # type: ignore[call-arg]


def file_name(revision: str) -> str:
    path = ScriptDirectory.from_config(runner.alembic_config(POSTGRES)).get_revision(revision).path
    return Path(path).stem.split("_", 3)[3] + ".sql"  # 2026_11_29_0001_students -> 0001_students


def revision_sql(previous: str, revision: str) -> str:
    text = runner.upgrade_sql(POSTGRES, f"{previous}:{revision}")
    return "\n".join(line.rstrip() for line in text.strip().splitlines()) + "\n"


def expected_files() -> dict[str, str]:
    """File name -> content, for every revision from the first to head."""
    revisions = runner.revision_ids(POSTGRES)
    previous = ["base", *revisions[:-1]]
    return {file_name(rev): revision_sql(prev, rev) for prev, rev in zip(previous, revisions, strict=True)}


def main() -> None:
    SQL_DIR.mkdir(exist_ok=True)
    files = expected_files()
    for stale in SQL_DIR.glob("*.sql"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (SQL_DIR / name).write_text(text, encoding="utf-8", newline="\n")
        print(SQL_DIR / name)


if __name__ == "__main__":
    main()
