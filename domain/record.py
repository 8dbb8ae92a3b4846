"""The legal record: one `eventsourcing` application over one event store.

Every aggregate (entente, crisis case, consent…) is stored here, in one
notification log, so that the audit trail can order and chain every fact of
the store. SQLite by default, PostgreSQL in production: the choice is made by
the environment mapping the caller builds from its settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application, Repository
from eventsourcing.domain import DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import ApplicationRecorder, JSONTranscoder, Mapper, StoredEvent, Transcoding
from eventsourcing.utils import get_topic, strtobool

from domain.audit.keys import DEV_SUBJECT_KEKS, ring_or_default
from domain.audit.personal import PersonalDataMapper, SubjectKeyStore
from domain.audit.store import chaining_recorder, subject_key_store
from domain.ententes.aggregate import Entente
from domain.group_commit import GroupCommit

# (module now, module it had) for aggregates whose module moved: their stored topics are never
# rewritten, so reads by topic ask for both (`resolve_topic` maps the old ones: see the modules).
MOVED_MODULES = [("domain.ententes.aggregate", "domain.agreements.aggregate")]


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class NoRecord(Exception):
    """A read found no record where the settings point: nothing was created, nothing can be read."""

    SQLITE_HINT = "run from the folder where `arrimage up` runs, or set ARRIMAGE_DATA_DIR / ARRIMAGE_SQLITE_PATH"
    POSTGRES_HINT = (
        "check ARRIMAGE_POSTGRES_DBNAME / ARRIMAGE_POSTGRES_SCHEMA, or start `arrimage up` or `arrimage worker` "
        "once to create it"
    )

    def __init__(self, where: str, hint: str = SQLITE_HINT) -> None:
        self.where = where
        self.message = f"no record at {where}: {hint}"
        super().__init__(self.message)


def _must_exist(env: Mapping[str, str] | None) -> bool:
    """`CREATE_TABLE=n` (what `Settings.store_env()` gives every read) means: open an existing record only."""
    value = (env or {}).get("CREATE_TABLE")
    return value is not None and not strtobool(value)


def _sqlite_file(env: Mapping[str, str]) -> Path | None:
    """The SQLite file a read would open, or None (in-memory, URI, another store)."""
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.sqlite":
        return None
    name = env.get("SQLITE_DBNAME", "")
    return None if not name or name.startswith("file:") or ":memory:" in name else Path(name)


class Record(Application[UUID]):
    """The store. Two seams are ours (see `domain.audit`):

    - the recorder chains every event by hash in the insert's own transaction
      (SQLite and PostgreSQL; the in-memory store of unit tests is not chained);
    - the mapper seals each event's `personal` dict with its `subject_id`'s key,
      so erasure is the destruction of that key (env `SUBJECT_KEKS`, i.e.
      `ARRIMAGE_SUBJECT_KEKS`, wraps those keys; a public dev default otherwise).
    """

    name = "arrimage"
    subject_keys: SubjectKeyStore
    group_commit: GroupCommit
    # Ententes only: they carry no personal content (crisis cases and registers do, sealed
    # per person in their events, and are never snapshotted). Snapshots are not chained,
    # so `events_only` (audit replays) ignores them.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[UUID]], int]] = {Entente: 100}

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._must_exist = _must_exist(env)
        path = _sqlite_file(env or {})
        # Checked before connecting: opening a SQLite file that is not there creates it.
        if self._must_exist and path is not None and not path.is_file():
            raise NoRecord(str(path.absolute()))
        super().__init__(env=dict(env) if env is not None else None)

    def _require_postgres_tables(self) -> None:
        """A read of PostgreSQL: the events table must be there (checked before anything else connects, since
        the subject key store creates its own table)."""
        from eventsourcing.postgres import PostgresFactory

        factory = self.factory
        if not (self._must_exist and isinstance(factory, PostgresFactory)):
            return
        datastore = factory.datastore
        with datastore.get_connection() as conn:
            row = conn.execute(
                "SELECT 1 AS found FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                (datastore.schema, f"{factory.env.name.lower()}_events"),
            ).fetchone()
        if row is None:
            datastore.close()
            where = f"PostgreSQL database {self.env.get('POSTGRES_DBNAME', '?')}, schema {datastore.schema}"
            raise NoRecord(where, NoRecord.POSTGRES_HINT)

    def construct_mapper(self) -> Mapper[UUID]:
        self._require_postgres_tables()
        kek = ring_or_default(self.env.get("SUBJECT_KEKS"), DEV_SUBJECT_KEKS)
        self.subject_keys = subject_key_store(self.factory, kek)
        return PersonalDataMapper(
            transcoder=self.construct_transcoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
            keys=self.subject_keys,
        )

    def construct_recorder(self) -> ApplicationRecorder:
        recorder = chaining_recorder(self.factory) or super().construct_recorder()
        # Concurrent saves (activity threads) share a transaction: see `domain.group_commit`.
        self.group_commit = GroupCommit.install(recorder)
        return recorder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    @cached_property
    def events_only(self) -> Repository[UUID]:
        """A repository that rebuilds from the hash-chained events alone, never from a snapshot:
        what an auditor's replay must rely on."""
        return Repository(event_store=self.events)

    def events_of(self, event_class: type[Any]) -> Iterator[Any]:
        """Every event of one class across the store, in notification order, read from the
        notification log by topic (no aggregate is loaded), under its topic and the ones it had."""
        topic = get_topic(event_class)
        topics = [topic, *(old + topic[len(new):] for new, old in MOVED_MODULES if topic.startswith(new + ":"))]
        start = 1
        while True:
            batch = self.recorder.select_notifications(start=start, limit=500, topics=topics)
            if not batch:
                return
            for n in batch:
                yield self.mapper.to_domain_event(StoredEvent(
                    originator_id=n.originator_id, originator_version=n.originator_version, topic=n.topic,
                    state=n.state,
                ))
            start = batch[-1].id + 1

    def stream(self, originator_id: UUID, *, lte: int | None = None) -> Iterator[DomainEventProtocol[UUID]]:
        """The events of one aggregate in order (up to version `lte`)."""
        return iter(self.events.get(originator_id, lte=lte))


def event_payload(ev: DomainEventProtocol[UUID]) -> dict[str, Any]:
    """An event's own attributes, without the envelope."""
    skip = {"originator_id", "originator_version", "timestamp", "originator_topic"}
    return {k: v for k, v in ev.__dict__.items() if k not in skip}


def event_name(ev: DomainEventProtocol[UUID]) -> str:
    return type(ev).__qualname__.split(".")[-1]
