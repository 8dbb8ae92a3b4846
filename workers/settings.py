"""One validated settings object, read once at each entry point and passed down.

Every field can be set by an environment variable `ARRIMAGE_<FIELD>` (nested:
`ARRIMAGE_ENTENTE_POLICY__REVIEW_GRACE_DAYS=45`), a `.env` file, or the TOML file ARRIMAGE_CONFIG names (field
names in lower case; the environment wins over the file). A bad value is refused at start with every other bad
value, one line each (`workers.config`); a rule between fields is a field validator on the later field, so that
it is reported beside the others rather than after them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, HttpUrl, SecretStr, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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
from domain.audit.note import NoteError
from domain.audit.witnessing import WitnessEndpoint, parse_witnesses
from domain.ententes.state import EntentePolicy
from domain.principals.oidc import check_provider_url
from domain.standards.config import StandardsConfig
from workers.config import config_path, read_config


class ConfigFile(PydanticBaseSettingsSource):
    """The TOML file ARRIMAGE_CONFIG names, below the environment and `.env` (`workers.config.read_config`)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the whole file is read at once by __call__

    def __call__(self) -> dict[str, Any]:
        path = config_path()
        return read_config(path, self.settings_cls.model_fields) if path is not None else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ARRIMAGE_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest first: given values (tests, entry points), the environment, `.env`, the ARRIMAGE_CONFIG file."""
        return init_settings, env_settings, dotenv_settings, ConfigFile(settings_cls), file_secret_settings

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
    # Temporal Cloud's API key (sent as a bearer token, over TLS only; TLS then on by default even in
    # development mode). Empty: none (mTLS with TLS_CERT/TLS_KEY, or a self-hosted frontend without auth).
    temporal_api_key: SecretStr = Field(default=SecretStr(""), description="Temporal Cloud API key")
    # `arrimage doctor` warns past this gap between this machine's clock and the Temporal server's (or
    # PostgreSQL's now()): timers fire on the server's clock, the record's timestamps are this machine's.
    clock_skew_seconds: float = Field(default=2.0, gt=0, description="clock gap allowed before doctor warns")

    # The partner gateway (`arrimage gateway`, and beside the worker in `arrimage up`): where it listens, and
    # each principal's request rate (a token bucket in the gateway's memory: per process, not shared).
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=0, le=65535)
    gateway_rate: float = Field(default=20.0, gt=0, description="requests per second per principal, sustained")
    gateway_burst: int = Field(default=40, ge=1, description="requests per principal at once")
    # A write's Idempotency-Key reserved by a gateway process that died mid-request (nothing answered, nothing
    # released it): after this many seconds the same request retried runs again, under the same update ids.
    gateway_idempotency_lease_seconds: float = Field(default=120.0, gt=0, description="seconds before a write "
                                                     "left unanswered by a dead gateway may be run again")
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
    # The Temporal SDK's metrics and the engine's own (adapters.telemetry): pushed to the collector at otel_endpoint
    # (otlp), served at http://<prometheus_address>/metrics (prometheus), or none (the default, `up` included).
    metrics: Literal["none", "otlp", "prometheus"] = "none"
    prometheus_address: str = Field(default="127.0.0.1:9464", pattern=r"^[^:\s]*:\d{1,5}$",
                                    description="host:port the Prometheus endpoint listens on")
    # On SIGTERM/SIGINT the worker stops polling and gives in-flight activities this long to finish before it
    # cancels them (Temporal retries a cancelled one on another worker; activities are idempotent).
    graceful_shutdown_seconds: float = Field(default=30.0, ge=0)
    # Workflow tasks one worker runs at once (Temporal's max_concurrent_workflow_tasks; the SDK's default is 100).
    # A replay of a workflow evicted from the cache holds the GIL for its whole history: with many due at one
    # instant (a mass wake-up of reviews), fewer at once finish inside the 10-s task timeout and the SDK's 2-s
    # deadlock detector instead of all timing out together (benchmarks/README.md, load run: 500 reviews due at once,
    # 450 evicted: 100 slots collapsed at 256 in 240 s, 16 slots all in 37 s; crisis cases/s unchanged). At least 2.
    workflow_task_slots: int = Field(default=16, ge=2, description="workflow tasks one worker runs at once")
    # Workflows a worker keeps in memory between their tasks (Temporal's max_cached_workflows; 0: none, every
    # task replays its whole history). About 0.5 MiB per entente and 1.0 MiB per crisis case (benchmarks/README.md,
    # issue 12): the SDK's 1,000 full of cases is ~1.1-1.2 GiB of worker RSS, 500 keeps it under ~0.8 GiB.
    workflow_cache_size: int = Field(default=500, ge=0, description="workflows kept in a worker's memory")
    # A liveness probe's file: while the worker runs, its event loop rewrites this file every few seconds
    # (`workers.worker.HEARTBEAT_SECONDS`); a stale or missing file means a stuck or stopped worker. Unset: none.
    worker_health_file: Path | None = Field(default=None, description="rewritten every 5 s while the worker runs")
    # The listings view kept caught up between reads in the worker and the gateway (a thread running the read-time
    # catch-up this often, `adapters.record.listings_runner`); 0: none, each read catches the view up itself.
    view_catchup_seconds: float = Field(default=1.0, ge=0, description="seconds between two catch-ups of the "
                                        "listings view in the worker and the gateway (0: none)")

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
    # The witnesses `arrimage audit publish` sends the record's tree checkpoints to (c2sp.org/tlog-witness):
    # entries `<witness verifier key>=<http(s) submission URL>`, separated by commas or spaces. Empty: none.
    witnesses: str = Field(default="", description="witnesses of the record's checkpoints: <vkey>=<url>, …")
    # The client certificate (PEM chain, key) `audit publish` presents to witnesses that require one (`audit witness
    # serve --tls-client-ca`). Unset: none. The witnesses' own certificates are checked against the public roots,
    # or SSL_CERT_FILE.
    witness_tls_cert: Path | None = None
    witness_tls_key: Path | None = None

    @field_validator("api_url", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    # Rules between fields, each on the later field (the earlier one is in `info.data` when it validated), so a
    # process is refused with all of them at once. Each message: what is wrong; how to fix it.
    @field_validator("oidc_issuer")
    @classmethod
    def _issuer_https(cls, value: str) -> str:
        if value.strip():
            try:
                check_provider_url(value.strip(), "the issuer")
            except ValueError as err:
                raise ValueError(f"{err}; set the provider's https:// issuer URL") from None
        return value

    @field_validator("oidc_audience")
    @classmethod
    def _oidc_together(cls, value: str, info: ValidationInfo) -> str:
        if "oidc_issuer" in info.data and bool(info.data["oidc_issuer"].strip()) != bool(value.strip()):
            raise ValueError("ARRIMAGE_OIDC_ISSUER and ARRIMAGE_OIDC_AUDIENCE go together, one is set without the "
                             "other; set both, or neither")
        return value

    @field_validator("temporal_api_key")
    @classmethod
    def _api_key_over_tls(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if value.get_secret_value().strip() and info.data.get("temporal_tls") is False:
            raise ValueError("an API key is sent over TLS only, and ARRIMAGE_TEMPORAL_TLS is false; set "
                             "ARRIMAGE_TEMPORAL_TLS=true (or unset it), or remove the API key")
        return value

    @field_validator("gateway_tls_cert", "gateway_tls_key", "gateway_tls_client_ca", "witness_tls_cert",
                     "witness_tls_key")
    @classmethod
    def _a_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no file {value}; give the path of a PEM file readable by this service account")
        return value

    @field_validator("gateway_tls_key")
    @classmethod
    def _tls_together(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if "gateway_tls_cert" in info.data and (info.data["gateway_tls_cert"] is None) != (value is None):
            raise ValueError("ARRIMAGE_GATEWAY_TLS_CERT and ARRIMAGE_GATEWAY_TLS_KEY go together, one is set without "
                             "the other; set both, or neither")
        return value

    @field_validator("gateway_tls_client_ca")
    @classmethod
    def _client_ca_needs_tls(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and info.data.get("gateway_tls_cert", "") is None:
            raise ValueError("needs the gateway's own TLS_CERT and TLS_KEY; set ARRIMAGE_GATEWAY_TLS_CERT and "
                             "ARRIMAGE_GATEWAY_TLS_KEY")
        return value

    @field_validator("witnesses")
    @classmethod
    def _witnesses(cls, value: str) -> str:
        try:
            parse_witnesses(value)
        except NoteError as err:
            raise ValueError(f"{err.message}; give <witness verifier key>=<https URL>, separated by commas") from None
        return value

    @field_validator("witness_tls_key")
    @classmethod
    def _witness_tls_together(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if "witness_tls_cert" in info.data and (info.data["witness_tls_cert"] is None) != (value is None):
            raise ValueError("ARRIMAGE_WITNESS_TLS_CERT and ARRIMAGE_WITNESS_TLS_KEY go together, one is set without "
                             "the other; set both, or neither")
        return value

    def witness_list(self) -> tuple[WitnessEndpoint, ...]:
        """ARRIMAGE_WITNESSES, parsed (validated when the settings were read)."""
        return parse_witnesses(self.witnesses)

    @field_validator("gateway_tls_client_required")
    @classmethod
    def _required_needs_ca(cls, value: bool, info: ValidationInfo) -> bool:
        if value and "gateway_tls_client_ca" in info.data and info.data["gateway_tls_client_ca"] is None:
            raise ValueError("needs ARRIMAGE_GATEWAY_TLS_CLIENT_CA (and the gateway's own TLS_CERT and TLS_KEY); "
                             "set the client CA, or set this to false")
        return value

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
        """ARRIMAGE_TEMPORAL_TLS when set; otherwise on in production mode, and with an API key (Cloud)."""
        if self.temporal_tls is not None:
            return self.temporal_tls
        return not self.development or bool(self.temporal_api_key.get_secret_value().strip())

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
