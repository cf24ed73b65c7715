"""All configuration, from one place: `CPIP_` environment variables or an optional `.env` file."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development values are public by construction: production refuses to start with any of them.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_AUDIT_HMAC_KEY = "dev-insecure-audit-hmac-key-change-me"
# A fixed Ed25519 seed (base64 of 32 bytes) so development checkpoints verify across restarts.
DEV_AUDIT_SIGNING_KEY = "ZGV2LWluc2VjdXJlLWVkMjU1MTktc2VlZC0zMmJ5dGU="
DEVELOPMENT_SECRETS = frozenset({DEV_SECRET_KEY, DEV_AUDIT_HMAC_KEY, DEV_AUDIT_SIGNING_KEY})

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class SearchBackend(StrEnum):
    embedded = "embedded"
    elasticsearch = "elasticsearch"


class ConfigurationError(RuntimeError):
    """The settings would make the platform unsafe or unable to run."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CPIP_", env_file=".env", extra="ignore")

    env: Environment = Environment.development
    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'cpip.db'}",
        description="Async SQLAlchemy URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://…",
    )
    database_pool_size: int = 10
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    audit_hmac_key: SecretStr = SecretStr(DEV_AUDIT_HMAC_KEY)
    audit_signing_key: SecretStr = Field(
        default=SecretStr(DEV_AUDIT_SIGNING_KEY), description="Ed25519 private key seed, base64 (32 bytes)"
    )
    oidc_server_url: str = "http://127.0.0.1:8180/"
    oidc_realm: str = "cpip"
    oidc_audience: str = "cpip-gateway"
    oidc_leeway_seconds: int = 30
    search_backend: SearchBackend = SearchBackend.embedded
    elasticsearch_url: str | None = None
    redis_url: str | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    export_dir: Path = PROJECT_ROOT / "var" / "exports"
    worker_concurrency: int = 1
    job_lease_seconds: int = 60

    @model_validator(mode="after")
    def _normalise(self) -> Settings:
        if not self.oidc_server_url.endswith("/"):
            # python-keycloak joins paths onto server_url and needs the trailing slash.
            self.oidc_server_url += "/"
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sync_database_url(self) -> str:
        """The same database for batch work, through a synchronous driver."""
        return sync_url(self.database_url)

    def check_safe_to_start(self) -> None:
        """Refuse production with development secrets or the embedded database."""
        if self.env is not Environment.production:
            return
        problems: list[str] = []
        if self.is_sqlite:
            problems.append("CPIP_DATABASE_URL points at SQLite; production needs PostgreSQL")
        for name in ("secret_key", "audit_hmac_key", "audit_signing_key"):
            value: SecretStr = getattr(self, name)
            if value.get_secret_value() in DEVELOPMENT_SECRETS or len(value.get_secret_value()) < 32:
                problems.append(f"CPIP_{name.upper()} is a development or too short secret")
        if problems:
            raise ConfigurationError("refusing to start in production: " + "; ".join(problems))


def sync_url(url: str) -> str:
    if url.startswith("sqlite+aiosqlite"):
        return "sqlite" + url[len("sqlite+aiosqlite") :]
    if url.startswith("postgresql+asyncpg"):
        return "postgresql+psycopg" + url[len("postgresql+asyncpg") :]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
