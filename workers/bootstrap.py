"""The composition root: every process builds what it runs here, from one validated `Settings`.

`bootstrap()` reads the settings once (configuring logging and tracing once), or takes the settings a
test or an entry point gives; it returns a `Root` holding:

- the record, opened on first use (`create=True` for the worker and `up`, which make it; every other
  process only opens an existing one) and closed when the root closes;
- the use cases over it (ententes, crisis cases, disclosures, handoffs, audit replays and reads);
- Temporal: one connection made on first use, and the typed clients of the entente's and the crisis
  case's workflows (`adapters.temporal`).

The worker (`workers.worker`), `arrimage up` (`workers.embedded`), every CLI command (`cli.client.root`),
the demo, the benchmarks and the tests all build through here, so they cannot be wired differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.converter import DataConverter

from adapters.record.idempotency import IdempotencyStore
from adapters.record.keys import DEV_CHECKPOINT_KEYS, DEV_SUBJECT_KEKS, KeyConfigError, KeyRing, ring_or_default
from adapters.record.listings_runner import ListingsRunner
from adapters.record.record import NoRecord, Record
from adapters.telemetry import runtime as telemetry_runtime
from adapters.temporal import client as temporal
from adapters.temporal.case_keys import RecordCaseKeys, case_subjects
from adapters.temporal.cases import CaseClient
from adapters.temporal.client import Temporal
from adapters.temporal.codec import EncryptionCodec
from adapters.temporal.ententes import EntenteClient
from adapters.temporal.episodes import EpisodeClient
from adapters.webhooks.secret_box import SecretBox, webhook_ring
from domain.errors import DomainError
from usecases.audit.episode_reads import EpisodeReads
from usecases.audit.payload_reads import PayloadReads
from usecases.audit.proof_reads import ProofReads
from usecases.audit.reads import Reads
from usecases.audit.replays import Replays
from usecases.crisis import CrisisCases
from usecases.delivery import Deliveries
from usecases.directory import Services
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.episodes import ServiceEpisodes
from usecases.handoff import HandoffDisclosures
from usecases.person_facts import PersonFactsBook
from usecases.principals import Principals
from workers import doctor, logs, tracing
from workers.config import BadSettings, config_path, problems, read_config
from workers.settings import Settings

if TYPE_CHECKING:
    from adapters.gateway_client.client import GatewayClient
    from adapters.oidc.provider import OidcProvider

__all__ = [
    "BadSettings", "DevelopmentKeys", "KeyConfigError", "NoRecord", "Root", "ThroughGateway", "UseCases", "bootstrap",
    "checkpoint_keys", "data_converter", "load_settings", "open_record", "require_keys", "use_cases",
]


def load_settings() -> Settings:
    """The settings from the environment, `.env` and the ARRIMAGE_CONFIG file, validated; logging and tracing
    configured by them. A bad value is `BadSettings` naming every bad value, one line each, before anything
    starts (`workers.config`)."""
    try:
        settings = Settings()
    except ValidationError as err:
        path = config_path()
        raise BadSettings(problems(err, file=path, file_data=read_config(path, Settings.model_fields)
                                   if path is not None else None)) from None
    logs.configure(settings.log_level, settings.log_format)
    tracing.configure(settings.otel_exporter, settings.otel_endpoint, development=settings.development)
    return settings


class DevelopmentKeys(Exception):
    """Keys left to their public DEVELOPMENT defaults outside development mode: the process does not start."""

    def __init__(self, missing: list[str], public: list[str] | None = None) -> None:
        self.missing = missing
        self.public = public or []
        said = [f"{', '.join(missing)} not set"] if missing else []
        said += [f"{', '.join(self.public)} set to a public development key"] if self.public else []
        self.message = (
            f"refusing to start on public development keys: {'; '.join(said)} "
            "(set them, see deploy/arrimage.env.example; or ARRIMAGE_MODE=development for a test machine)"
        )
        super().__init__(self.message)


def require_keys(settings: Settings) -> None:
    """Outside development mode, every key ring must be configured with a key of its own: neither left
    empty nor given one of the public development keys (`DevelopmentKeys` otherwise). A machine that works
    through the gateway (ARRIMAGE_API_URL) needs none: its root opens neither the record nor Temporal."""
    if settings.api_url is not None:  # a person's machine: it works through the gateway and holds no key
        return
    missing, public = settings.missing_keys(), settings.public_keys()
    if (missing or public) and not settings.development:
        raise DevelopmentKeys(missing, public)


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The one data converter (pydantic + the payload codec), for clients, workers and replayers.

    Without settings, they are read from the environment (ARRIMAGE_PAYLOAD_KEYS), so the test fixtures and
    the replayer agree with a worker started in the same environment."""
    return temporal.data_converter(settings or Settings())


def checkpoint_keys(settings: Settings) -> KeyRing:
    """The Ed25519 seeds signing audit checkpoints (`KeyConfigError` when malformed; the public DEVELOPMENT
    keys when none is configured)."""
    return ring_or_default(settings.checkpoint_keys.get_secret_value(), DEV_CHECKPOINT_KEYS)


async def connect(settings: Settings) -> Client:
    return await temporal.connect(settings)


def open_record(settings: Settings | None = None, *, create: bool = False,
                env: Mapping[str, str] | None = None) -> Record:
    """The record where `settings` point (or on the eventsourcing environment `env`), for who holds it on its
    own (benchmarks, test fixtures); a root's is `Root.record`. Only the worker and `up` create it
    (`create=True`); every other opening is a read, refused with `NoRecord` where there is none."""
    if env is None:
        if settings is None:
            raise TypeError("open_record needs settings or env")
        env = settings.store_env(create=create)
    return Record(env)


@dataclass(frozen=True)
class UseCases:
    ententes: Ententes
    crisis_cases: CrisisCases
    disclosures: Disclosures
    handoffs: HandoffDisclosures
    deliveries: Deliveries  # partners' endpoints and the webhooks sent to them
    episodes: ServiceEpisodes  # épisodes de services: AAOR and consultations (issue 11)


def use_cases(record: Record, settings: Settings) -> UseCases:
    """The use cases over `record`, with the policy and the standards the settings name."""
    crisis_cases = CrisisCases(record, settings.standards())
    disclosures = Disclosures(record)
    handoffs = HandoffDisclosures(crisis_cases, disclosures)
    return UseCases(
        ententes=Ententes(record, settings.entente_policy),
        crisis_cases=crisis_cases,
        disclosures=disclosures,
        handoffs=handoffs,
        deliveries=Deliveries(record, webhook_box(record, settings), handoffs),
        episodes=ServiceEpisodes(record, settings.standards()),
    )


def webhook_box(record: Record, settings: Settings) -> SecretBox:
    """Seals and opens partners' signing secrets: ARRIMAGE_WEBHOOK_KEYS, or keys derived from the record's subject
    KEKs (`adapters.webhooks.secret_box.webhook_ring`; `KeyConfigError` when malformed)."""
    keks = ring_or_default(record.env.get("SUBJECT_KEKS"), DEV_SUBJECT_KEKS)
    return SecretBox(webhook_ring(settings.webhook_keys.get_secret_value(), keks))


class ThroughGateway(DomainError):
    """This machine works through the gateway (ARRIMAGE_API_URL): the command needs the record or Temporal
    itself, which only operators on the server open."""

    code = "operators_only"

    def __init__(self, what: str) -> None:
        super().__init__(f"this machine works through the gateway (ARRIMAGE_API_URL): {what} needs direct record "
                         "access, which is for operators on the server")


_metrics_served = False  # once per process (`Root.serve_metrics`): the Temporal runtime is the process's


class Root:
    """What one process runs on; a context manager closing what it opened (the record)."""

    def __init__(self, settings: Settings, *, create: bool = False, record_env: Mapping[str, str] | None = None,
                 client: Client | None = None) -> None:
        self.settings = settings
        self._create = create
        self._record_env = record_env
        self._record: Record | None = None
        self.temporal = Temporal(settings, client, cases=self.case_keys)

    # ------------------------------------------------------------------ the record and its use cases
    @property
    def record(self) -> Record:
        """Opened on first use: a read where no record is raises `NoRecord` (nothing is created); on a machine
        that works through the gateway, `ThroughGateway` (nothing opened)."""
        if self.settings.api_url is not None:
            raise ThroughGateway("this command")
        if self._record is None:
            self._record = open_record(self.settings, create=self._create, env=self._record_env)
        return self._record

    @cached_property
    def use_cases(self) -> UseCases:
        return use_cases(self.record, self.settings)

    @property
    def ententes(self) -> Ententes:
        return self.use_cases.ententes

    @property
    def crisis_cases(self) -> CrisisCases:
        return self.use_cases.crisis_cases

    @property
    def disclosures(self) -> Disclosures:
        return self.use_cases.disclosures

    @property
    def deliveries(self) -> Deliveries:
        """Partners' webhook endpoints (`partners endpoint`) and each subject's delivery log (`cases show`)."""
        return self.use_cases.deliveries

    @property
    def episodes(self) -> ServiceEpisodes:
        """Épisodes de services (AAOR, consultations; issue 11): reads from the record (`view`, `history`,
        `still_open`, `observations`); commands go through `episode_client`."""
        return self.use_cases.episodes

    @cached_property
    def listings_runner(self) -> ListingsRunner:
        """The thread that keeps the record's listings view caught up between reads (ARRIMAGE_VIEW_CATCHUP_SECONDS),
        for the long-running processes: the worker starts it (`workers.worker.run_worker`, and so `up`), and
        `arrimage gateway`; stopped with them, and when the root closes. Not started by the CLI's commands."""
        return ListingsRunner(self.record, self.settings.view_catchup_seconds)

    @cached_property
    def directory(self) -> Services:
        """The directory of services (issue 11): `arrimage directory`, read by referrals."""
        return Services(self.record)

    @cached_property
    def replays(self) -> Replays:
        return Replays(self.record, self.disclosures)

    @cached_property
    def person_facts(self) -> PersonFactsBook:
        """The facts disclosure decisions rest on, as events (issue 11): `arrimage audit fact`, read by replays."""
        return PersonFactsBook(self.record)

    @cached_property
    def principals(self) -> Principals:
        """Partners and people with their API keys (and people's OIDC tokens when a provider is configured):
        the gateway authenticates every request here."""
        provider = self.oidc_provider
        return Principals(self.record, oidc=provider.verify if provider is not None else None)

    @cached_property
    def oidc_provider(self) -> OidcProvider | None:
        """The identity provider people sign in with (ARRIMAGE_OIDC_ISSUER / _AUDIENCE), None when unset; its
        discovery document and keys are read on the first token, not here."""
        s = self.settings
        if not s.oidc:
            return None
        from adapters.oidc.provider import OidcProvider  # PyJWT: loaded by the processes that check tokens only

        return OidcProvider(s.oidc_issuer.strip(), s.oidc_audience.strip(), refresh_after=s.oidc_jwks_refresh_seconds)

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        """The gateway's answers to writes by Idempotency-Key, in the record's database."""
        return IdempotencyStore.of(self.record, self.settings.gateway_idempotency_lease_seconds)

    @cached_property
    def reads(self) -> Reads:
        """Every read of the record outside a replay (`cases show|history|list`, `audit register|accesses|
        exceptions|export`): decided and registered before anything is shown."""
        return Reads(self.record, self.disclosures, self.crisis_cases)

    @cached_property
    def episode_reads(self) -> EpisodeReads:
        """Reads of the épisodes de services (`episodes show|history|list`, `GET /v1/episodes/{code}`): decided and
        registered like a case's before anything is shown."""
        return EpisodeReads(self.reads, self.episodes)

    @cached_property
    def payload_reads(self) -> PayloadReads:
        """The codec server's decodes (`arrimage codec-server`): a workflow's payloads decided and registered before
        anything decoded is answered (`domain.audit.payload_reads`)."""
        return PayloadReads(self.reads, self.episodes, self.ententes)

    @cached_property
    def proof_reads(self) -> ProofReads:
        """The log's Merkle proofs and signed tree checkpoint for a reader in a role (`GET /v1/audit/checkpoint`,
        `/v1/audit/proofs/*`): decided, and registered as `reads` registers a read across persons."""
        return ProofReads(self.record, self.reads, checkpoint_keys(self.settings))

    @cached_property
    def payload_codec(self) -> EncryptionCodec:
        """The payload codec as the workers have it (the shared ring and the record's per-person keys), for the
        codec server to decode with, one workflow at a time (`EncryptionCodec.for_workflow`)."""
        codec = temporal.data_converter(self.settings, self.case_keys).payload_codec
        assert isinstance(codec, EncryptionCodec)
        return codec

    # ------------------------------------------------------------------ Temporal
    def use_client(self, client: Client) -> None:
        """Run on a client connected elsewhere (`up` waits for the server it started)."""
        self.temporal = Temporal(self.settings, client, cases=self.case_keys)
        self.__dict__.pop("entente_client", None)
        self.__dict__.pop("case_client", None)
        self.__dict__.pop("episode_client", None)

    @cached_property
    def gateway(self) -> GatewayClient | None:
        """The gateway this machine works through with a person's token (ARRIMAGE_API_URL, ARRIMAGE_TOKEN), or None:
        the CLI's person commands then call it instead of the record and Temporal."""
        if self.settings.api_url is None:
            return None
        from adapters.gateway_client.client import GatewayClient  # httpx: loaded by the machines that use it only

        return GatewayClient(str(self.settings.api_url), self.settings.token.get_secret_value())

    @cached_property
    def entente_client(self) -> EntenteClient:
        if self.settings.api_url is not None:
            raise ThroughGateway("this command")
        return EntenteClient(self.temporal, self.settings.entente_policy, lambda code: self.ententes.view(code))

    @cached_property
    def case_client(self) -> CaseClient:
        if self.settings.api_url is not None:
            raise ThroughGateway("this command")
        return CaseClient(self.temporal, self.settings.standards, lambda code: self.crisis_cases.view(code),
                          bind=lambda code, subject: case_subjects(self.record).bind(code, subject))

    @cached_property
    def episode_client(self) -> EpisodeClient:
        """The épisodes de services' workflows (`open`, `act`, `ask`), each bound to its person like a case."""
        if self.settings.api_url is not None:
            raise ThroughGateway("this command")
        return EpisodeClient(self.temporal, self.settings.standards, lambda code: self.episodes.view(code),
                             bind=lambda code, subject: case_subjects(self.record).bind(code, subject))

    def case_keys(self) -> RecordCaseKeys:
        """The record's case bindings and per-person keys, for the payload codec (asked on a case's first
        payload only: a process that never touches a case never opens the record for it)."""
        return RecordCaseKeys.of(self.record)

    # ------------------------------------------------------------------ configuration
    def serve_metrics(self) -> None:
        """Export the Temporal SDK's metrics and the engine's as ARRIMAGE_METRICS says (`adapters.telemetry.runtime`;
        `none`, the default, nothing): the processes that serve (`worker`, `gateway`, `up`) call it once, before
        their first connection to Temporal; the CLI's one-shot commands never do, so they bind no port."""
        global _metrics_served
        if _metrics_served or self.settings.metrics == "none":
            return
        s = self.settings
        telemetry_runtime.configure(s.metrics, otlp_endpoint=s.otel_endpoint, prometheus_address=s.prometheus_address,
                                    development=s.development)
        _metrics_served = True

    def readiness(self) -> dict[str, Any]:
        """What `arrimage doctor` reports: each key development/production, each connection TLS or not, the mode
        (`workers.doctor`; no key printed, nothing opened)."""
        return doctor.report(self.settings)

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        runner = self.__dict__.pop("listings_runner", None)
        if runner is not None:
            runner.stop()  # before the record it reads is closed
        record, self._record = self._record, None
        self.__dict__.pop("use_cases", None)
        self.__dict__.pop("replays", None)
        self.__dict__.pop("person_facts", None)
        self.__dict__.pop("principals", None)
        provider = self.__dict__.pop("oidc_provider", None)
        if provider is not None:
            provider.close()
        self.__dict__.pop("idempotency", None)
        self.__dict__.pop("reads", None)
        self.__dict__.pop("episode_reads", None)
        self.__dict__.pop("payload_reads", None)
        self.__dict__.pop("proof_reads", None)
        gateway = self.__dict__.pop("gateway", None)
        if gateway is not None:
            gateway.close()
        if record is not None:
            record.close()

    def __enter__(self) -> Root:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def bootstrap(settings: Settings | None = None, *, create: bool = False, record_env: Mapping[str, str] | None = None,
              client: Client | None = None, check_keys: bool = True) -> Root:
    """The root of one process. Without `settings`, they are read from the environment and logging and
    tracing are configured (`load_settings`); given ones (a test's, an entry point's) are used as they are.
    `create`: the worker and `up` create the record; `record_env`: another eventsourcing environment
    (tests, benchmarks); `client`: a Temporal client connected elsewhere. Outside development mode, a missing
    key refuses (`DevelopmentKeys`) unless `check_keys=False` (`arrimage doctor`, which reports it). The worker
    and `up` (`create`) log a warning when the payload key's rotation is due (`doctor.payload_key_age`)."""
    settings = settings or load_settings()
    if check_keys:
        require_keys(settings)
    if create:
        for warning in doctor.payload_key_age(settings, date.today())[1]:
            logs.get("arrimage.keys").warning("payload_key_rotation_due", detail=warning)
    return Root(settings, create=create, record_env=record_env, client=client)
