"""(Re)write docs/openapi.yaml from the app's own OpenAPI document.

tests/test_openapi_file.py fails when the committed file differs from what the app serves.
Usage: .venv/bin/python scripts/write_openapi.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from registrar.app import create_app
from registrar.config import Settings

OPENAPI_FILE = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


def openapi_document() -> dict[str, Any]:
    # Building the app opens nothing: the database is only reached in its lifespan.
    settings = Settings(database_url="sqlite:///unused.db", _env_file=None)  # type: ignore[call-arg]
    return create_app(settings).openapi()


def openapi_yaml() -> str:
    return yaml.safe_dump(openapi_document(), sort_keys=False, allow_unicode=True)


def main() -> None:
    OPENAPI_FILE.parent.mkdir(exist_ok=True)
    OPENAPI_FILE.write_text(openapi_yaml(), encoding="utf-8", newline="\n")
    print(OPENAPI_FILE)


if __name__ == "__main__":
    main()
