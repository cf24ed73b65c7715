"""All configuration, from one place: `CPIP_` environment variables or an optional `.env` file."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development values are public by construction: production refuses to start with any of them.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - public on purpose
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
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRET_KEY),
        description="Keys API key hashes, webhook secrets at rest, manual indicator input signatures and export "
                    "links; everything new is made under this key")
    previous_secret_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Former CPIP_SECRET_KEY values (a JSON list), still accepted to verify and decrypt what was made "
                    "under them, during a rotation's grace period (docs/deployment.md, key rotation)")
    audit_hmac_key: SecretStr = SecretStr(DEV_AUDIT_HMAC_KEY)
    audit_signing_key: SecretStr = Field(
        default=SecretStr(DEV_AUDIT_SIGNING_KEY), description="Ed25519 private key seed, base64 (32 bytes)"
    )
    oidc_server_url: str = "http://127.0.0.1:8180/"
    oidc_realm: str = "cpip"
    oidc_audience: str = "cpip-gateway"
    oidc_leeway_seconds: int = 30
    oidc_jwks_refetch_seconds: float = Field(
        default=30.0, description="At most one JWKS refetch (for an unknown kid) per this many seconds"
    )
    api_key_max_days: int = Field(default=365, description="Longest lifetime an open-data API key may have")
    open_data_anonymous_rate: str = Field(
        default="60/minute", description="Per-IP limit for anonymous open-data reads (limits syntax)"
    )
    open_data_api_key_rate: str = Field(default="600/minute", description="Per-key limit for open-data reads")
    audit_flush_max_events: int = Field(default=256, description="Most audit events one group commit writes")
    audit_flush_linger_ms: float = Field(
        default=0.0, description="Extra wait for more audit events before a group commit (0: commit at once)"
    )
    audit_write_timeout_seconds: float = Field(
        default=5.0, description="A request whose audit event is not committed within this fails with 503"
    )
    audit_seal_interval_seconds: int = Field(default=60, description="Time slot of the periodic audit seal job")
    audit_timezone: str = Field(default="Asia/Shanghai", description="Local time of the audit anomaly report")
    audit_working_hours: str = Field(
        default="08:30-18:00",
        description="Working hours (HH:MM-HH:MM) on working days of the official holiday calendar, for the anomaly "
                    "report"
    )
    search_backend: SearchBackend = SearchBackend.embedded
    elasticsearch_url: str | None = None
    catalogue_search_index: str = Field(
        default="cpip-catalogue", description="Elasticsearch alias the catalogue is searched through"
    )
    open_data_license: str = Field(
        default="https://creativecommons.org/licenses/by/4.0/",
        description="Licence of open catalogue entries that name none (DCAT dct:license)",
    )
    redis_url: str | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    export_dir: Path = PROJECT_ROOT / "var" / "exports"
    worker_concurrency: int = 1
    job_lease_seconds: int = 60
    quality_city_code: str = Field(
        default="320100", description="GB/T 2260 code of the city; its admin_division feature is the boundary "
                                      "geometries must lie in (quality checks)")
    quality_timezone: str = Field(default="Asia/Shanghai",
                                  description="Local calendar for 'not in the future' quality checks")
    quality_chunk_rows: int = Field(default=100_000, ge=1000,
                                    description="Rows per pandas batch when a table is checked outside the database")
    quality_run_interval_seconds: int = Field(default=86_400, ge=60,
                                              description="Period of the scheduled whole-table quality run")
    # Exchange (issue 6): reply limits, grant defaults, delivery.
    exchange_reply_days: int = Field(default=5, ge=1, description="Working days to answer a 有条件共享 application")
    exchange_reply_days_unpublished: int = Field(
        default=10, ge=1, description="Working days to answer when the resource is not yet published")
    exchange_default_requests_per_day: int = Field(default=10_000, ge=1, description="Grant quota unless approved")
    exchange_default_records_per_day: int = Field(default=1_000_000, ge=1, description="Grant quota unless approved")
    exchange_page_max: int = Field(default=1000, ge=1, description="Most records one query page returns")
    exchange_feed_retention_days: int = Field(default=90, ge=1, description="Change-feed entries kept this long")
    exchange_export_ttl_seconds: int = Field(default=86_400, ge=60, description="How long an export link works")
    exchange_webhook_max_attempts: int = Field(default=8, ge=1, description="Deliveries dead-lettered after this")
    exchange_webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="Per webhook delivery")
    webhook_allow_private_targets: bool = Field(
        default=False, description="Let webhooks target private/loopback addresses (and http:// on loopback); "
                                   "development and tests only")
    holiday_calendar_file: Path | None = Field(
        default=None, description="JSON/YAML supplement of official holiday notices for years the "
                                  "chinesecalendar package lacks (see docs/holiday-calendar.example.yaml)")

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

    @property
    def verification_secret_keys(self) -> tuple[str, ...]:
        """`secret_key`, then each previous key: what stored hashes, signatures and ciphertexts are checked or
        opened with. Only the first may make anything new, so that the previous keys can later be dropped."""
        keys = [self.secret_key.get_secret_value(), *(k.get_secret_value() for k in self.previous_secret_keys)]
        return tuple(dict.fromkeys(keys))  # a key listed twice would only double the work of every check

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
        for position, previous in enumerate(self.previous_secret_keys):
            # Still accepted for verification, so a weak one would let anyone forge what it signs.
            if previous.get_secret_value() in DEVELOPMENT_SECRETS or len(previous.get_secret_value()) < 32:
                problems.append(f"CPIP_PREVIOUS_SECRET_KEYS[{position}] is a development or too short secret")
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
