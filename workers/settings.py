"""One validated settings object, read once at each entry point and passed down.

Every field can be set by an environment variable `ARRIMAGE_<FIELD>` (nested:
`ARRIMAGE_ENTENTE_POLICY__REVIEW_GRACE_DAYS=45`) or a `.env` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, HttpUrl, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.record.environment import PostgresAddress, private_file, record_env
from adapters.record.keys import (
    DEV_CHECKPOINT_KEYS,
    DEV_PAYLOAD_KEYS,
    DEV_SUBJECT_KEKS,
    KeyConfigError,
    KeyRing,
    parse_key_ring,
)
from adapters.standards_file import load_standards
from domain.ententes.state import EntentePolicy
from domain.principals.oidc import check_provider_url
from domain.standards.config import StandardsConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ARRIMAGE_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    data_dir: Path = Field(default=Path("var"), description="SQLite files, Temporal's own database, keys")

    # production (default): every key configured, TLS to Temporal, no plaintext payload accepted. development:
    # the public development keys may stand in for missing ones (`arrimage up` sets it itself and says so).
    mode: Literal["production", "development"] = "production"

    # The legal record
    store: Literal["sqlite", "postgres"] = "sqlite"
    sqlite_path: Path | None = Field(default=None, description="default: <data_dir>/record.sqlite")
    postgres_host: str = "localhost"
    postgres_port: int = 5432
    postgres_dbname: str = "arrimage"
    postgres_user: str = "postgres"
    postgres_password: SecretStr = SecretStr("")
    postgres_schema: str = Field(default="", description="empty: the database's default schema")
    postgres_pool_size: int = 5
    # libpq's sslmode (disable, allow, prefer, require, verify-ca, verify-full); empty: libpq's default (prefer,
    # or PGSSLMODE). Production wants verify-full (PGSSLROOTCERT names the CA).
    postgres_sslmode: str = ""

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "arrimage"
    temporal_ui_port: int = 8233
    # `up` starts its own dev server and refuses a port already listened on; true: run the worker on the
    # server already at `temporal_address` instead (`arrimage up --temporal existing`).
    temporal_existing: bool = False
    # TLS to Temporal: unset means on in production mode, off in development mode. CA: the server's CA (PEM,
    # empty: the system's roots); cert + key: this client's certificate for mTLS; server name: SNI/verification
    # name when it differs from the address's host.
    temporal_tls: bool | None = None
    temporal_tls_ca: Path | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_server_name: str = ""

    # The partner gateway (`arrimage gateway`, and beside the worker in `arrimage up`): where it listens, and
    # each principal's request rate (a token bucket in the gateway's memory: per process, not shared).
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=0, le=65535)
    gateway_rate: float = Field(default=20.0, gt=0, description="requests per second per principal, sustained")
    gateway_burst: int = Field(default=40, ge=1, description="requests per principal at once")
    # Failed authentications per client address (a wrong or unknown key or token): past the burst, that address
    # waits (429) before its credentials are even checked, so guessing costs the gateway no scrypt run.
    gateway_auth_failure_rate: float = Field(default=0.5, gt=0, description="failed authentications a second")
    gateway_auth_failure_burst: int = Field(default=30, ge=1, description="failed authentications at once")
    # HTTPS on the gateway (cert + key, PEM); with a client CA it asks every client for a certificate issued by
    # that CA (mutual TLS: `partners tls` binds a partner's keys to its certificate); required: a client without
    # one is refused during the handshake (otherwise only bound partners need one).
    gateway_tls_cert: Path | None = None
    gateway_tls_key: Path | None = None
    gateway_tls_client_ca: Path | None = None
    gateway_tls_client_required: bool = False
    # People signed in by the organisation's identity provider (OIDC): its issuer (https, discovery at
    # <issuer>/.well-known/openid-configuration) and the audience its tokens are issued for (this gateway).
    # Both or neither; unset: local tokens only (`arrimage users add`).
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_refresh_seconds: float = Field(default=10.0, ge=0, description="at least this between two reads "
                                             "of the provider's keys for an unknown key id")
    # A person's machine (a supervisor's, an auditor's): the gateway it works through and the person's token. Set,
    # the CLI's cases, ententes and audit reads go through the gateway, in the identity the token names; this
    # machine then opens neither the record nor Temporal and needs no key (deploy/README.md).
    api_url: HttpUrl | None = Field(default=None, description="the gateway's address, e.g. https://arrimage.example")
    token: SecretStr = Field(default=SecretStr(""), description="the person's token (`arrimage users add`)")

    # Observability
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str = "http://localhost:4317"

    # ARRIMAGE_AGREEMENT_POLICY__… is the name deployments used before *entente* was the one word.
    entente_policy: EntentePolicy = Field(
        default_factory=EntentePolicy,
        validation_alias=AliasChoices("ARRIMAGE_ENTENTE_POLICY", "ARRIMAGE_AGREEMENT_POLICY", "entente_policy"),
    )
    # The region's access standards (TOML or JSON), merged over the ministry's defaults.
    standards_file: Path | None = None

    def standards(self) -> StandardsConfig:
        return load_standards(self.standards_file) if self.standards_file else StandardsConfig()

    # Keys (rings "kid:<base64 32 bytes>,kid:<…>", the first is active; empty: public DEVELOPMENT keys)
    payload_keys: SecretStr = Field(default=SecretStr(""), description="Temporal payload codec (AES-GCM)")
    # Rotate the payload key on a schedule: its id ends with the day it came into use (p2026-12-01); past this
    # age, `arrimage doctor` and the worker's start-up warn (they do not refuse to start).
    payload_key_max_age_days: int = Field(default=90, ge=1)
    subject_keks: SecretStr = Field(default=SecretStr(""), description="wrap per-person keys of the record")
    checkpoint_keys: SecretStr = Field(default=SecretStr(""), description="Ed25519 seeds signing audit checkpoints")
    # Seals partners' webhook signing secrets in the record (adapters.webhooks.secret_box). Empty: keys derived
    # (HKDF, a label of their own) from ARRIMAGE_SUBJECT_KEKS, which production already requires; set it to
    # rotate them apart. Never one of the public development keys outside development mode.
    webhook_keys: SecretStr = Field(default=SecretStr(""), description="seal partners' webhook signing secrets")

    @field_validator("api_url", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _gateway_security(self) -> Settings:
        """OIDC and TLS settings that make sense together, refused at start rather than at the first request."""
        if bool(self.oidc_issuer.strip()) != bool(self.oidc_audience.strip()):
            raise ValueError("ARRIMAGE_OIDC_ISSUER and ARRIMAGE_OIDC_AUDIENCE go together: set both, or neither")
        if self.oidc_issuer.strip():
            check_provider_url(self.oidc_issuer.strip(), "ARRIMAGE_OIDC_ISSUER")
        if (self.gateway_tls_cert is None) != (self.gateway_tls_key is None):
            raise ValueError("ARRIMAGE_GATEWAY_TLS_CERT and ARRIMAGE_GATEWAY_TLS_KEY go together")
        if self.gateway_tls_cert is None and (self.gateway_tls_client_ca or self.gateway_tls_client_required):
            raise ValueError("ARRIMAGE_GATEWAY_TLS_CLIENT_CA needs the gateway's own TLS_CERT and TLS_KEY")
        if self.gateway_tls_client_required and self.gateway_tls_client_ca is None:
            raise ValueError("ARRIMAGE_GATEWAY_TLS_CLIENT_REQUIRED needs ARRIMAGE_GATEWAY_TLS_CLIENT_CA")
        for name in ("gateway_tls_cert", "gateway_tls_key", "gateway_tls_client_ca"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"ARRIMAGE_{name.upper()}: no file {path}")
        return self

    @property
    def oidc(self) -> bool:
        """People may sign in with the identity provider's tokens."""
        return bool(self.oidc_issuer.strip())

    @property
    def development(self) -> bool:
        return self.mode == "development"

    def missing_keys(self) -> list[str]:
        """The key variables left empty: each would fall back to its public DEVELOPMENT key."""
        rings = {"ARRIMAGE_PAYLOAD_KEYS": self.payload_keys, "ARRIMAGE_SUBJECT_KEKS": self.subject_keks,
                 "ARRIMAGE_CHECKPOINT_KEYS": self.checkpoint_keys}
        return [name for name, value in rings.items() if not value.get_secret_value().strip()]

    def public_keys(self) -> list[str]:
        """The key variables that hold one of the public DEVELOPMENT keys (pasted from a test machine):
        set, yet no secret."""
        rings = {"ARRIMAGE_PAYLOAD_KEYS": (self.payload_keys, DEV_PAYLOAD_KEYS),
                 "ARRIMAGE_SUBJECT_KEKS": (self.subject_keks, DEV_SUBJECT_KEKS),
                 "ARRIMAGE_CHECKPOINT_KEYS": (self.checkpoint_keys, DEV_CHECKPOINT_KEYS),
                 # optional (derived when empty), so never missing; pasted from a test machine, it is public
                 "ARRIMAGE_WEBHOOK_KEYS": (self.webhook_keys, KeyRing(
                     DEV_PAYLOAD_KEYS.keys + DEV_SUBJECT_KEKS.keys + DEV_CHECKPOINT_KEYS.keys))}
        found = []
        for name, (value, public) in rings.items():
            spec = value.get_secret_value().strip()
            if not spec:
                continue
            try:
                keys = {key for _, key in parse_key_ring(spec).keys}
            except KeyConfigError:
                continue  # malformed: refused where the ring is read, with its own message
            if keys & {key for _, key in public.keys}:
                found.append(name)
        return found

    def temporal_tls_on(self) -> bool:
        return self.temporal_tls if self.temporal_tls is not None else not self.development

    def store_env(self, *, create: bool = False) -> dict[str, str]:
        """The `eventsourcing` environment for the configured event store.

        Only `up` and `worker` create the record (`create=True`: the data directory, the file, the tables).
        Every other opening is a read of an existing record: `adapters.record.record.Record` then refuses with
        `NoRecord` instead of creating an empty one wherever the command happened to run.
        """
        keks = self.subject_keks.get_secret_value()
        if self.store == "postgres":
            address = PostgresAddress(
                host=self.postgres_host,
                port=self.postgres_port,
                dbname=self.postgres_dbname,
                user=self.postgres_user,
                password=self.postgres_password.get_secret_value(),
                schema=self.postgres_schema,
                pool_size=self.postgres_pool_size,
                sslmode=self.postgres_sslmode,
            )
            return record_env(postgres=address, create=create, subject_keks=keks)
        if create:
            private_file(self.record_path())
        return record_env(sqlite=self.record_path(), create=create, subject_keks=keks)

    def record_path(self) -> Path:
        return self.sqlite_path or self.data_dir / "record.sqlite"

    def describe_store(self) -> str:
        if self.store == "postgres":
            return f"postgresql://{self.postgres_user}@{self.postgres_host}:{self.postgres_port}/{self.postgres_dbname}"
        return str(self.record_path().resolve())
