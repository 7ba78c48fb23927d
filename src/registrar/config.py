"""Settings: environment variables REGISTRAR_*, also read from ./.env (the environment wins)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Engine = Literal["sqlite", "postgresql"]
POSTGRESQL_SCHEMES = {"postgresql", "postgres"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRAR_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./registrar.db"
    database_direct_url: str = ""
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    db_timeout: float = Field(default=5.0, gt=0)
    db_statement_timeout: float = Field(default=30.0, gt=0)
    key_cache_seconds: float = Field(default=1.0, ge=0, le=1.0)
    shutdown_grace: float = Field(default=10.0, gt=0)
    access_log: bool = True
    metrics: bool = True
    log_level: str = "INFO"
    trusted_proxies: str = ""
    idempotency_hours: float = Field(default=24.0, gt=0)
    redis_url: str = ""

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        """REGISTRAR_TRUSTED_PROXIES: comma-separated addresses or networks (CIDR)."""
        return [
            ip_network(part.strip(), strict=False) for part in self.trusted_proxies.split(",") if part.strip()
        ]

    @property
    def pooled(self) -> bool:
        """Whether REGISTRAR_DATABASE_URL names a transaction-mode pooler (PgBouncer) in front of
        the server that REGISTRAR_DATABASE_DIRECT_URL names."""
        if not self.database_direct_url or self.database_direct_url == self.database_url:
            return False
        if {_scheme(self.database_url), _scheme(self.database_direct_url)} - POSTGRESQL_SCHEMES:
            raise ValueError(
                "REGISTRAR_DATABASE_DIRECT_URL is for PostgreSQL behind a pooler: use postgresql:// in both"
            )
        return True

    def direct(self) -> Settings:
        """These settings with the database server itself as the database: for what a pooler in
        transaction mode cannot carry (migrations, first-start set-up, a listening connection)."""
        if not self.pooled:
            return self
        return self.model_copy(update={"database_url": self.database_direct_url, "database_direct_url": ""})

    @property
    def engine(self) -> Engine:
        scheme = _scheme(self.database_url)
        if scheme == "sqlite":
            return "sqlite"
        if scheme in POSTGRESQL_SCHEMES:
            return "postgresql"
        raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://")

    @property
    def sqlite_path(self) -> Path:
        """The file of a sqlite:///relative or sqlite:////absolute URL."""
        return Path(self.database_url.split(":///", 1)[1])

    @property
    def postgres_dsn(self) -> str:
        """The plain libpq URL asyncpg takes, whatever driver suffix the user wrote."""
        rest = self.database_url.split("://", 1)[1]
        return f"postgresql://{rest}"

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the driver SQLAlchemy (Alembic) should use."""
        if self.engine == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        return "postgresql+asyncpg://" + self.database_url.split("://", 1)[1]


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]
