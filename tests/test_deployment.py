"""The deployment files: compose runs registrar on PostgreSQL 15 with migrations on start, a health
check on /healthz and the data in a named volume. No Docker engine runs here, so the files are
checked for what they must say rather than run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


def test_compose_runs_registrar_beside_postgres_15() -> None:
    services = compose()["services"]
    assert services["db"]["image"] == "postgres:15"
    assert services["registrar"]["build"] == "."
    url = services["registrar"]["environment"]["REGISTRAR_DATABASE_URL"]
    assert url.startswith("postgresql://") and "@db:5432/" in url


def test_compose_keeps_the_data_in_a_named_volume() -> None:
    document = compose()
    volume, _, target = document["services"]["db"]["volumes"][0].partition(":")
    assert volume in document["volumes"] and target == "/var/lib/postgresql/data"


def test_compose_waits_for_a_healthy_database_and_checks_healthz() -> None:
    registrar = compose()["services"]["registrar"]
    assert registrar["depends_on"]["db"]["condition"] == "service_healthy"
    assert any("/healthz" in part for part in registrar["healthcheck"]["test"])


def test_image_serves_with_migrations_on_start() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"registrar", "serve"' in dockerfile  # serve migrates before any worker serves
    assert "/healthz" in dockerfile and "USER registrar" in dockerfile


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="no docker-compose client on this machine")
def test_compose_file_is_valid_for_the_docker_client() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
