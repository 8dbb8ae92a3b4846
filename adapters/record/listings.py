"""Listings as materialised views: the ententes' codes, the crisis cases and épisodes opened (and closed) and the
person each is about, each person's consents, the disclosure registers and their entries by kind and moment, the
principals' accounts, and the reads logged across persons (the record-level reads log, the ententes' access logs) by
reader and moment, kept by eventsourcing's projection machinery instead of scanning the notification log on every
read (issue 12).

- `Listings` is a library `Projection`: its `process_event` writes one row of a view *and* its tracking
  record (eventsourcing `Tracking`: the notification id it comes from) in one transaction of the view's
  `TrackingRecorder`, so an event is counted once or not at all (the single-row tracking upsert refuses a
  position that does not advance: a second reader of the same events fails and writes nothing).
- The views are the library's SQLite and PostgreSQL tracking recorders with the listing tables beside the
  tracking table, in the record's own database (`SQLiteListings`, `PostgresListings`).
- `catch_up` brings a view up to the head of the record before a list is read: it selects only the
  notifications after the tracked position (by the notification id's index), so a read costs the events
  recorded since the last one, not the whole log; a view that nobody read while events were recorded (a
  restart, the CLI which has no long-running process) catches up at its next read.
- The long-running processes (the worker, `arrimage up`, `arrimage gateway`) keep their view caught up between
  reads: a thread runs the same `catch_up` every `ARRIMAGE_VIEW_CATCHUP_SECONDS` (1 s; 0: none) under the lock
  a read takes (`adapters.record.listings_runner`), so that the first read after a burst of writes (routing a
  crisis case, inside an activity) finds the view at the head; an error is logged and the next round starts
  again from the tracked position. The catch-up before each read stays: it is what keeps every process (the
  CLI) exactly as complete as the scan. The library's `ProjectionRunner` (a subscription: LISTEN/NOTIFY on
  PostgreSQL, none on SQLite) is not the runner: it would open the sealed parts, and one unreadable row or
  dropped connection ends it (the runner's module says more).

A listing says *which* aggregates there are, never what they hold: routing (the ententes to consider) and a
disclosure decision (the person's consents) take their list from it, caught up first so that it is exactly as
complete as the scan, and load each aggregate from its hash-chained events (`Record.construct_repository`): the
decision is made on those. A log of reads is listed by the events that hold its reads (aggregate id and version,
indexed by reader and moment): a period's reads are an index range, each then read from the events table by its key
(`logged`), not from the view. It holds no personal content (ids, codes, moments, kinds and a closed flag, from the
events' parts in clear: the opaque subject id of a consent, register, case or épisode, an account's id and kind but
not its name, a reader's id and the moment of a read but not its scope or reason; nothing sealed is opened), so a
person whose key is destroyed is still listed, and their aggregates still load without their content. Its rows come
only from topics of the record's allow-list (`TOPICS`), decoded by the record's mapper.

A person's open cases and épisodes (the erasure's check, `usecases.audit.trail`) come from the view's rows of the
cases and épisodes, each with the person its `Opened` event names in clear and the closed flag its closing event
sets: the same answer as the scan, by an index on the person. The `case_subjects` table (the payload codec's case →
person binding) is not used for it: the workflow client writes it only for the cases it starts, outside the hash
chain, and it knows no closing.

Routing's candidates (`entente_candidates`): each entente's row says whether it *may* be in force, from its
lifecycle events only: set by `Activated` (the only event that makes an entente active), cleared by `Revoked` and
`Expired` (the ends the calendar records; no other event ends an active entente, and an abandoned one was never
activated). The view never reads a date: an entente past its end date or its revocation's effective date whose
end is not yet recorded stays a candidate, and the domain (`in_force_at`, on the aggregate loaded from its
chained events) decides, exactly as on the full list. Routing (`crisis_offers`, `askable`) and the partner's
standing (`in_force_at`) only ever route or admit on an active entente, so the ones left out could not change
the decision.

Narrowed to the case (`entente_candidates(parties=…, crisis_in=…)`): each entente's row keeps the routing keys of
its version in force — its parties (`party`) and the territories of its mobile crisis offers (`crise`) — taken from
the content of the version `Activated` or `AmendmentInForce` names (each version's keys kept from the events that
carry its content: `Drafted`, `DraftRevised`, `AmendmentProposed`). Routing asks for the ententes in force with
the case's CSSS as a party and a mobile crisis offer in its territory (`crisis_offers` routes on no other), a
partner's standing for those with both organisations as parties (`letting_ententes`): a superset of what the
domain decides on, never fewer. A content the view cannot read gives the wildcard (`ANY`): always a candidate.

By organisation (shape 7): the ententes of which an organisation is a party in some version (`entente_codes(party=…)`,
a row per party of every version's content, from `Drafted`, `DraftRevised` and `AmendmentProposed`, the only events
that carry one: the version in force and the one proposed are among them), and the cases an organisation may be a
party to or hold a Task of (`cases(party=…)`, from the events that name an organisation: `Opened` its responsible
CSSS and its intake, `TeamAsked` the team's organisation (the team that intervenes is one asked), `FollowUpStarted`
the provider, `ReferralSent` the receiving service and the organisation referring). Rows are only ever added: an
organisation once named stays a candidate, a superset of `case_parties`, of a Task's owner and requester and of the
parties of an entente's content in force or proposed; the gateway's listings and the FHIR Task search load those
aggregates only and decide on them, as on every aggregate of the scan. An organisation the view cannot read gives
the wildcard (`ANY`).
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing import postgres as pg
from eventsourcing import sqlite as lite
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import (
    IntegrityError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from adapters.record.record import TOPICS, ForeignTopic, Record, _named
from adapters.record.sealing import PersonalDataMapper
from domain.audit.entente_reads import EntenteReads
from domain.audit.record_reads import RecordReadEntry
from domain.crisis.aggregate import CrisisCase
from domain.disclosure.consent import Consent
from domain.disclosure.register import DisclosureRegister
from domain.ententes.aggregate import Entente, entente_id
from domain.ententes.model import EntenteContent, ServiceCode
from domain.episodes.aggregate import ServiceEpisode
from domain.principals.aggregate import Account

log = logging.getLogger(__name__)
_SQLITE = {"cases": "listing_cases", "episodes": "listing_episodes"}  # the SQLite tables of opened/closed listings
# The kinds of a disclosure register's entries kept in the view, each at its own moment: an access decided (the
# decision's moment), a communication (communicated_at), a refusal (notified_at), an emergency disclosure
# (occurred_at).
ENTRY_KINDS = ("access", "communication", "refusal", "emergency")
# An entente's routing keys: (kind, key). ANY, a key no code can be (`domain.values.Code`), matches every key of its
# kind: the keys of a version the view could not read, so that an entente is never left out for want of them.
PARTY, CRISE, ANY = "party", "crise", "*"
Keys = list[tuple[str, str]]
WILDCARD: Keys = [(PARTY, ANY), (CRISE, ANY)]


def routing_keys(content: Any) -> Keys:
    """The keys routing and a partner's standing narrow on, from an entente version's content (an event's dict):
    its parties, and the territories of its mobile crisis offers (`domain.crisis.routing.crisis_offers`)."""
    try:
        parsed = EntenteContent.model_validate(content)
    except (ValueError, TypeError):  # a content the model refuses (ValidationError): never left out
        return list(WILDCARD)
    keys = {(PARTY, p) for p in parsed.party_ids}
    keys |= {(CRISE, t) for offer in parsed.services if offer.service is ServiceCode.INTERVENTION_CRISE_MOBILE
             for t in offer.territories}
    return sorted(keys)


def _narrowing(parties: Iterable[str], crisis_in: str | None) -> Keys:
    """The keys an entente must each have (or their kind's `ANY`) to be a candidate."""
    wanted = [(PARTY, p) for p in dict.fromkeys(parties)]
    return wanted + ([(CRISE, crisis_in)] if crisis_in is not None else [])


def micros(moment: datetime | str) -> int:
    """A moment as microseconds since the epoch, UTC (a naive moment taken as UTC): ordered as the moments."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class ListingsView(TrackingRecorder):
    """What a listings view records and answers (one implementation per store, below)."""

    def entente_drafted(self, code: str, tracking: Tracking, entente: UUID | None = None,
                        keys: Keys | None = None) -> None:
        """An entente drafted (`entente`: its aggregate id, by default the one its code makes; `keys`: its version
        1's routing keys, `WILDCARD` if not given)."""
        raise NotImplementedError

    def entente_version(self, entente: UUID, version: int, keys: Keys, tracking: Tracking) -> None:
        """The routing keys of a version of an entente's content (a draft revised, an amendment or a renewal)."""
        raise NotImplementedError

    def entente_lifecycle(self, entente: UUID, candidate: bool, tracking: Tracking, version: int | None = None) -> None:
        """An entente activated (`candidate`: it may now be in force; `version`: the one in force, its routing keys
        the entente's; a version without keys in the view, -1 when the event names none, gives `WILDCARD`) or its end
        recorded (no longer)."""
        raise NotImplementedError

    def entente_in_force(self, entente: UUID, version: int, tracking: Tracking) -> None:
        """An amendment in force: its version's routing keys replace those of the version before."""
        raise NotImplementedError

    def entente_candidates(self, parties: Iterable[str] = (), crisis_in: str | None = None) -> list[str]:
        """The codes of the ententes activated and whose end is not recorded, in the order they were drafted; with
        `parties`, only those whose version in force has each as a party, with `crisis_in`, a mobile crisis offer
        in that territory (or a version the view could not read)."""
        raise NotImplementedError

    def case_opened(self, case: UUID, code: str, at: datetime, tracking: Tracking, kind: str = "cases",
                    subject_id: str | None = None, parties: Iterable[str] = ()) -> None:
        """A crisis case (`kind` "cases") or an épisode de services ("episodes") opened, about `subject_id` (the
        opaque id its `Opened` event names in clear; None: an event without one, listed for nobody); `parties`: the
        organisations a case's `Opened` event names (`case_parties`)."""
        raise NotImplementedError

    def case_parties(self, case: UUID, parties: Iterable[str], tracking: Tracking) -> None:
        """Organisations an event of the crisis case names (a team's, a follow-up's provider, a referral's receiving
        service and referrer; `ANY`: one the view could not read): the case is listed for each, from then on."""
        raise NotImplementedError

    def open_of(self, subject_id: str, kind: str = "cases") -> list[str]:
        """The codes of the person's cases (or épisodes) not closed, in the order they were opened."""
        raise NotImplementedError

    def principal_registered(self, account: UUID, kind: str, tracking: Tracking) -> None:
        """A principal's account registered (its aggregate id and kind: nothing else of it)."""
        raise NotImplementedError

    def principals(self, kind: str | None = None) -> list[UUID]:
        """The accounts registered (of `kind`), in the order they were registered."""
        raise NotImplementedError

    def read_logged(self, log: str, event: tuple[UUID, int], actor_id: str, moment: datetime | str,
                    tracking: Tracking) -> None:
        """A read logged across persons (`log` "record": a `RecordReadEntry`, "entente": an `EntenteReads` read):
        the event that holds it (aggregate id, version), who read and when."""
        raise NotImplementedError

    def reads(self, log: str, actor_id: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> list[tuple[UUID, int]]:
        """The events holding the reads of `log` by `actor_id` in [since, until), by moment then position."""
        raise NotImplementedError

    def case_closed(self, case: UUID, tracking: Tracking, kind: str = "cases") -> None:
        raise NotImplementedError

    def consent_granted(self, consent: UUID, subject_id: str, consent_key: str, tracking: Tracking) -> None:
        raise NotImplementedError

    def register_opened(self, register: UUID, subject_id: str, tracking: Tracking) -> None:
        raise NotImplementedError

    def register_entry(self, subject_id: str, kind: str, moment: datetime | str, entry_id: str,
                       tracking: Tracking) -> None:
        """An entry of a person's disclosure register (`ENTRY_KINDS`), at its own moment."""
        raise NotImplementedError

    def entente_codes(self, party: str | None = None) -> list[str]:
        """The codes of the ententes, in the order they were drafted; `party`: only those of which it is a party in
        some version's content (or a content the view could not read)."""
        raise NotImplementedError

    def cases(self, *, open_only: bool, kind: str = "cases", subject_id: str | None = None,
              party: str | None = None) -> list[tuple[str, datetime]]:
        """(code, opening moment) of the cases (or épisodes; `open_only`: not closed), in the order they were
        opened; `subject_id`: only the person's (by the index on the person of `open_of`); `party` (crisis cases
        only, `subject_id` then unused): only the cases an event of which names that organisation, or one the view
        could not read (`case_parties`)."""
        raise NotImplementedError

    def consent_keys(self, subject_id: str) -> list[str]:
        """The keys of the person's consents, in the order they were granted."""
        raise NotImplementedError

    def register_subjects(self) -> list[str]:
        """The subject of every disclosure register, in the order the registers were opened."""
        raise NotImplementedError

    def subjects_with(self, kinds: tuple[str, ...], since: datetime | None = None,
                      until: datetime | None = None) -> set[str]:
        """The subjects whose register holds an entry of one of `kinds` at a moment in [since, until)."""
        raise NotImplementedError

    def create_table(self) -> None:
        raise NotImplementedError

    def reset(self, application_name: str) -> None:
        """Empty the view and forget its position (a view ahead of its record: see `catch_up`)."""
        raise NotImplementedError

    def batch(self) -> Any:
        """A context in which every write (rows and tracking) goes into one transaction, committed at its end."""
        raise NotImplementedError


class _Batching:
    """`batch` and `_writing` of both stores: the writes of a batch share its one transaction (this thread's
    cursor); a write outside a batch has its own."""

    datastore: Any
    _local: threading.local

    @contextmanager
    def batch(self) -> Iterator[None]:
        with self.datastore.transaction(commit=True) as c:
            self._local.cursor = c
            try:
                yield
            finally:
                self._local.cursor = None

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        c = getattr(self._local, "cursor", None)
        if c is not None:
            yield c
        else:
            with self.datastore.transaction(commit=True) as c:
                yield c


class SQLiteListings(_Batching, lite.SQLiteTrackingRecorder, ListingsView):
    """The views in the record's SQLite file (the library's `tracking` table beside them)."""

    def __init__(self, datastore: lite.SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self._local = threading.local()

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS listing_ententes (position INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE)",
            "CREATE TABLE IF NOT EXISTS listing_entente_states (entente_id TEXT PRIMARY KEY, position INTEGER NOT "
            "NULL UNIQUE, code TEXT NOT NULL, candidate INTEGER NOT NULL DEFAULT 0)",
            "CREATE INDEX IF NOT EXISTS listing_entente_states_candidate ON listing_entente_states "
            "(candidate, position)",
            "CREATE TABLE IF NOT EXISTS listing_entente_versions (entente_id TEXT NOT NULL, version INTEGER NOT NULL, "
            "keys TEXT NOT NULL, PRIMARY KEY (entente_id, version))",
            "CREATE TABLE IF NOT EXISTS listing_entente_keys (kind TEXT NOT NULL, key TEXT NOT NULL, entente_id TEXT "
            "NOT NULL, PRIMARY KEY (kind, key, entente_id))",
            "CREATE INDEX IF NOT EXISTS listing_entente_keys_entente ON listing_entente_keys (entente_id)",
            "CREATE TABLE IF NOT EXISTS listing_cases (position INTEGER PRIMARY KEY, case_id TEXT NOT NULL UNIQUE, "
            "code TEXT NOT NULL, opened_at TEXT NOT NULL, closed INTEGER NOT NULL DEFAULT 0)",
            "CREATE INDEX IF NOT EXISTS listing_cases_open ON listing_cases (closed, position)",
            "CREATE TABLE IF NOT EXISTS listing_episodes (position INTEGER PRIMARY KEY, case_id TEXT NOT NULL "
            "UNIQUE, code TEXT NOT NULL, opened_at TEXT NOT NULL, closed INTEGER NOT NULL DEFAULT 0)",
            "CREATE INDEX IF NOT EXISTS listing_episodes_open ON listing_episodes (closed, position)",
            "CREATE TABLE IF NOT EXISTS listing_consents (position INTEGER PRIMARY KEY, consent_id TEXT NOT NULL "
            "UNIQUE, subject_id TEXT NOT NULL, consent_key TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS listing_consents_subject ON listing_consents (subject_id, position)",
            "CREATE TABLE IF NOT EXISTS listing_registers (position INTEGER PRIMARY KEY, register_id TEXT NOT NULL "
            "UNIQUE, subject_id TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS listing_register_entries (position INTEGER PRIMARY KEY, subject_id TEXT NOT "
            "NULL, kind TEXT NOT NULL, moment INTEGER NOT NULL, entry_id TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS listing_register_entries_moment ON listing_register_entries "
            "(kind, moment, subject_id)",
            # Shape 6: each case's and épisode's person, the principals, the reads logged across persons.
            "CREATE TABLE IF NOT EXISTS listing_subject_cases (kind TEXT NOT NULL, subject_id TEXT NOT NULL, "
            "position INTEGER NOT NULL, PRIMARY KEY (kind, subject_id, position))",
            "CREATE TABLE IF NOT EXISTS listing_principals (position INTEGER PRIMARY KEY, account_id TEXT NOT NULL "
            "UNIQUE, kind TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS listing_principals_kind ON listing_principals (kind, position)",
            "CREATE TABLE IF NOT EXISTS listing_reads (position INTEGER PRIMARY KEY, log TEXT NOT NULL, "
            "originator_id TEXT NOT NULL, version INTEGER NOT NULL, actor_id TEXT NOT NULL, moment INTEGER NOT NULL)",
            "CREATE INDEX IF NOT EXISTS listing_reads_moment ON listing_reads (log, moment, position)",
            "CREATE INDEX IF NOT EXISTS listing_reads_actor ON listing_reads (log, actor_id, moment, position)",
            # Shape 7: the organisations each case and each entente names (by the case's or entente's position).
            "CREATE TABLE IF NOT EXISTS listing_case_parties (org_id TEXT NOT NULL, position INTEGER NOT NULL, "
            "PRIMARY KEY (org_id, position))",
            "CREATE TABLE IF NOT EXISTS listing_entente_parties (party TEXT NOT NULL, position INTEGER NOT NULL, "
            "PRIMARY KEY (party, position))",
        ]

    def reset(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM listing_ententes")
            c.execute("DELETE FROM listing_entente_states")
            c.execute("DELETE FROM listing_entente_versions")
            c.execute("DELETE FROM listing_entente_keys")
            c.execute("DELETE FROM listing_cases")
            c.execute("DELETE FROM listing_episodes")
            for table in ("listing_consents", "listing_registers", "listing_register_entries",
                          "listing_subject_cases", "listing_principals", "listing_reads", "listing_case_parties",
                          "listing_entente_parties"):
                c.execute(f"DELETE FROM {table}")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (application_name,))

    def entente_drafted(self, code: str, tracking: Tracking, entente: UUID | None = None,
                        keys: Keys | None = None) -> None:
        ident = (entente or entente_id(code)).hex
        with self._writing() as c:
            c.execute("INSERT INTO listing_ententes VALUES (?, ?)", (tracking.notification_id, code))
            c.execute("INSERT INTO listing_entente_states VALUES (?, ?, ?, 0)", (ident, tracking.notification_id, code))
            c.execute("INSERT OR REPLACE INTO listing_entente_versions VALUES (?, 1, ?)",
                      (ident, json.dumps(WILDCARD if keys is None else keys)))
            self._parties(c, ident, WILDCARD if keys is None else keys)
            self._insert_tracking(c, tracking)

    def entente_version(self, entente: UUID, version: int, keys: Keys, tracking: Tracking) -> None:
        with self._writing() as c:
            c.execute("INSERT OR REPLACE INTO listing_entente_versions VALUES (?, ?, ?)",
                      (entente.hex, version, json.dumps(keys)))
            self._parties(c, entente.hex, keys)
            self._insert_tracking(c, tracking)

    @staticmethod
    def _parties(c: Any, ident: str, keys: Keys) -> None:
        c.executemany("INSERT OR IGNORE INTO listing_entente_parties SELECT ?, position FROM listing_entente_states "
                      "WHERE entente_id = ?", [(key, ident) for kind, key in keys if kind == PARTY])

    def entente_lifecycle(self, entente: UUID, candidate: bool, tracking: Tracking, version: int | None = None) -> None:
        with self._writing() as c:
            c.execute("UPDATE listing_entente_states SET candidate = ? WHERE entente_id = ?",
                      (int(candidate), entente.hex))
            if version is not None:
                self._in_force(c, entente, version)
            self._insert_tracking(c, tracking)

    def entente_in_force(self, entente: UUID, version: int, tracking: Tracking) -> None:
        with self._writing() as c:
            self._in_force(c, entente, version)
            self._insert_tracking(c, tracking)

    @staticmethod
    def _in_force(c: Any, entente: UUID, version: int) -> None:
        c.execute("SELECT keys FROM listing_entente_versions WHERE entente_id = ? AND version = ?",
                  (entente.hex, version))
        row = c.fetchone()
        keys = json.loads(row[0]) if row is not None else WILDCARD
        c.execute("DELETE FROM listing_entente_keys WHERE entente_id = ?", (entente.hex,))
        c.executemany("INSERT OR IGNORE INTO listing_entente_keys VALUES (?, ?, ?)",
                      [(kind, key, entente.hex) for kind, key in keys])

    def entente_candidates(self, parties: Iterable[str] = (), crisis_in: str | None = None) -> list[str]:
        wanted = _narrowing(parties, crisis_in)
        where = "".join(" AND entente_id IN (SELECT entente_id FROM listing_entente_keys WHERE kind = ? AND key IN "
                        "(?, ?))" for _ in wanted)
        args = [x for kind, key in wanted for x in (kind, key, ANY)]
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT code FROM listing_entente_states WHERE candidate = 1{where} ORDER BY position", args)
            return [row[0] for row in c.fetchall()]

    def case_opened(self, case: UUID, code: str, at: datetime, tracking: Tracking, kind: str = "cases",
                    subject_id: str | None = None, parties: Iterable[str] = ()) -> None:
        with self._writing() as c:
            c.execute(f"INSERT INTO {_SQLITE[kind]} VALUES (?, ?, ?, ?, 0)",
                      (tracking.notification_id, case.hex, code, at.isoformat()))
            if subject_id is not None:
                c.execute("INSERT INTO listing_subject_cases VALUES (?, ?, ?)",
                          (kind, subject_id, tracking.notification_id))
            c.executemany("INSERT OR IGNORE INTO listing_case_parties VALUES (?, ?)",
                          [(org, tracking.notification_id) for org in parties])
            self._insert_tracking(c, tracking)

    def case_parties(self, case: UUID, parties: Iterable[str], tracking: Tracking) -> None:
        with self._writing() as c:
            c.executemany("INSERT OR IGNORE INTO listing_case_parties SELECT ?, position FROM listing_cases "
                          "WHERE case_id = ?", [(org, case.hex) for org in parties])
            self._insert_tracking(c, tracking)

    def open_of(self, subject_id: str, kind: str = "cases") -> list[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT c.code FROM listing_subject_cases s JOIN {_SQLITE[kind]} c ON c.position = s.position "
                      "WHERE s.kind = ? AND s.subject_id = ? AND c.closed = 0 ORDER BY s.position", (kind, subject_id))
            return [row[0] for row in c.fetchall()]

    def principal_registered(self, account: UUID, kind: str, tracking: Tracking) -> None:
        with self._writing() as c:
            c.execute("INSERT INTO listing_principals VALUES (?, ?, ?)", (tracking.notification_id, account.hex, kind))
            self._insert_tracking(c, tracking)

    def principals(self, kind: str | None = None) -> list[UUID]:
        where, args = ("WHERE kind = ? ", (kind,)) if kind is not None else ("", ())
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT account_id FROM listing_principals {where}ORDER BY position", args)
            return [UUID(row[0]) for row in c.fetchall()]

    def read_logged(self, log: str, event: tuple[UUID, int], actor_id: str, moment: datetime | str,
                    tracking: Tracking) -> None:
        with self._writing() as c:
            c.execute("INSERT INTO listing_reads VALUES (?, ?, ?, ?, ?, ?)",
                      (tracking.notification_id, log, event[0].hex, event[1], actor_id, micros(moment)))
            self._insert_tracking(c, tracking)

    def reads(self, log: str, actor_id: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> list[tuple[UUID, int]]:
        low, high = _bounds(since, until)
        actor, args = ("AND actor_id = ? ", (actor_id,)) if actor_id is not None else ("", ())
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT originator_id, version FROM listing_reads WHERE log = ? {actor}AND moment >= ? "
                      "AND moment < ? ORDER BY moment, position", (log, *args, low, high))
            return [(UUID(row[0]), row[1]) for row in c.fetchall()]

    def case_closed(self, case: UUID, tracking: Tracking, kind: str = "cases") -> None:
        with self._writing() as c:
            c.execute(f"UPDATE {_SQLITE[kind]} SET closed = 1 WHERE case_id = ?", (case.hex,))
            self._insert_tracking(c, tracking)

    def consent_granted(self, consent: UUID, subject_id: str, consent_key: str, tracking: Tracking) -> None:
        with self._writing() as c:
            c.execute("INSERT INTO listing_consents VALUES (?, ?, ?, ?)",
                      (tracking.notification_id, consent.hex, subject_id, consent_key))
            self._insert_tracking(c, tracking)

    def register_opened(self, register: UUID, subject_id: str, tracking: Tracking) -> None:
        with self._writing() as c:
            c.execute("INSERT INTO listing_registers VALUES (?, ?, ?)",
                      (tracking.notification_id, register.hex, subject_id))
            self._insert_tracking(c, tracking)

    def register_entry(self, subject_id: str, kind: str, moment: datetime | str, entry_id: str,
                       tracking: Tracking) -> None:
        with self._writing() as c:
            c.execute("INSERT INTO listing_register_entries VALUES (?, ?, ?, ?, ?)",
                      (tracking.notification_id, subject_id, kind, micros(moment), entry_id))
            self._insert_tracking(c, tracking)

    def entente_codes(self, party: str | None = None) -> list[str]:
        with self.datastore.transaction(commit=False) as c:
            if party is None:
                c.execute("SELECT code FROM listing_ententes ORDER BY position")
            else:
                c.execute("SELECT code FROM listing_ententes WHERE position IN (SELECT position FROM "
                          "listing_entente_parties WHERE party IN (?, ?)) ORDER BY position", (party, ANY))
            return [row[0] for row in c.fetchall()]

    def consent_keys(self, subject_id: str) -> list[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT consent_key FROM listing_consents WHERE subject_id = ? ORDER BY position",
                      (subject_id,))
            return [row[0] for row in c.fetchall()]

    def register_subjects(self) -> list[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT subject_id FROM listing_registers ORDER BY position")
            return [row[0] for row in c.fetchall()]

    def subjects_with(self, kinds: tuple[str, ...], since: datetime | None = None,
                      until: datetime | None = None) -> set[str]:
        low, high = _bounds(since, until)
        marks = ", ".join("?" for _ in kinds)
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT DISTINCT subject_id FROM listing_register_entries WHERE kind IN ({marks}) "
                      "AND moment >= ? AND moment < ?", (*kinds, low, high))
            return {row[0] for row in c.fetchall()}

    def cases(self, *, open_only: bool, kind: str = "cases", subject_id: str | None = None,
              party: str | None = None) -> list[tuple[str, datetime]]:
        where = "WHERE closed = 0 " if open_only else ""
        with self.datastore.transaction(commit=False) as c:
            if party is not None:
                c.execute(f"SELECT code, opened_at FROM listing_cases WHERE {'closed = 0 AND ' if open_only else ''}"
                          "position IN (SELECT position FROM listing_case_parties WHERE org_id IN (?, ?)) "
                          "ORDER BY position", (party, ANY))
            elif subject_id is None:
                c.execute(f"SELECT code, opened_at FROM {_SQLITE[kind]} {where}ORDER BY position")
            else:
                c.execute(f"SELECT c.code, c.opened_at FROM listing_subject_cases s JOIN {_SQLITE[kind]} c ON "
                          "c.position = s.position WHERE s.kind = ? AND s.subject_id = ? "
                          f"{'AND c.closed = 0 ' if open_only else ''}ORDER BY s.position", (kind, subject_id))
            return [(row[0], datetime.fromisoformat(row[1])) for row in c.fetchall()]


class PostgresListings(_Batching, pg.PostgresTrackingRecorder, ListingsView):
    """The views in the record's PostgreSQL schema, named after the projection (`arrimage_listings_…`)."""

    def __init__(self, datastore: pg.PostgresDatastore, *,
                 tracking_table_name: str = "arrimage_listings_tracking", **kwargs: Any) -> None:
        # The library's factory names the tracking table after the projection (`Listings.name`): the listing
        # tables take the same prefix.
        super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
        prefix = tracking_table_name.removesuffix("_tracking")
        self._local = threading.local()
        schema = Identifier(datastore.schema)
        self.ententes = SQL("{0}.{1}").format(schema, Identifier(f"{prefix}_ententes"))
        self.entente_states = SQL("{0}.{1}").format(schema, Identifier(f"{prefix}_entente_states"))
        self.entente_versions = SQL("{0}.{1}").format(schema, Identifier(f"{prefix}_entente_versions"))
        self.entente_keys = SQL("{0}.{1}").format(schema, Identifier(f"{prefix}_entente_keys"))
        self.cases_table = SQL("{0}.{1}").format(schema, Identifier(f"{prefix}_cases"))
        self.tables = {kind: SQL("{0}.{1}").format(schema, Identifier(f"{prefix}_{kind}"))
                       for kind in ("cases", "episodes")}
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {0} (position bigint PRIMARY KEY, code text NOT NULL UNIQUE)").format(
                self.ententes),
            SQL("CREATE TABLE IF NOT EXISTS {0} (entente_id uuid PRIMARY KEY, position bigint NOT NULL UNIQUE, "
                "code text NOT NULL, candidate boolean NOT NULL DEFAULT false)").format(self.entente_states),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (candidate, position)").format(
                Identifier(f"{prefix}_entente_states_candidate"), self.entente_states),
            SQL("CREATE TABLE IF NOT EXISTS {0} (entente_id uuid NOT NULL, version integer NOT NULL, keys text NOT "
                "NULL, PRIMARY KEY (entente_id, version))").format(self.entente_versions),
            SQL("CREATE TABLE IF NOT EXISTS {0} (kind text NOT NULL, key text NOT NULL, entente_id uuid NOT NULL, "
                "PRIMARY KEY (kind, key, entente_id))").format(self.entente_keys),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (entente_id)").format(
                Identifier(f"{prefix}_entente_keys_entente"), self.entente_keys),
            SQL("CREATE TABLE IF NOT EXISTS {0} (position bigint PRIMARY KEY, case_id uuid NOT NULL UNIQUE, "
                "code text NOT NULL, opened_at text NOT NULL, closed boolean NOT NULL DEFAULT false)").format(
                self.cases_table),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (closed, position)").format(
                Identifier(f"{prefix}_cases_open"), self.cases_table),
            SQL("CREATE TABLE IF NOT EXISTS {0} (position bigint PRIMARY KEY, case_id uuid NOT NULL UNIQUE, "
                "code text NOT NULL, opened_at text NOT NULL, closed boolean NOT NULL DEFAULT false)").format(
                self.tables["episodes"]),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (closed, position)").format(
                Identifier(f"{prefix}_episodes_open"), self.tables["episodes"]),
        ]
        for kind in ("consents", "registers", "register_entries"):
            self.tables[kind] = SQL("{0}.{1}").format(schema, Identifier(f"{prefix}_{kind}"))
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {0} (position bigint PRIMARY KEY, consent_id uuid NOT NULL UNIQUE, "
                "subject_id text NOT NULL, consent_key text NOT NULL)").format(self.tables["consents"]),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (subject_id, position)").format(
                Identifier(f"{prefix}_consents_subject"), self.tables["consents"]),
            SQL("CREATE TABLE IF NOT EXISTS {0} (position bigint PRIMARY KEY, register_id uuid NOT NULL UNIQUE, "
                "subject_id text NOT NULL)").format(self.tables["registers"]),
            SQL("CREATE TABLE IF NOT EXISTS {0} (position bigint PRIMARY KEY, subject_id text NOT NULL, "
                "kind text NOT NULL, moment bigint NOT NULL, entry_id text NOT NULL)").format(
                self.tables["register_entries"]),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (kind, moment, subject_id)").format(
                Identifier(f"{prefix}_register_entries_moment"), self.tables["register_entries"]),
        ]
        # Shape 6: each case's and épisode's person, the principals, the reads logged across persons.
        for kind in ("subject_cases", "principals", "reads"):
            self.tables[kind] = SQL("{0}.{1}").format(schema, Identifier(f"{prefix}_{kind}"))
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {0} (kind text NOT NULL, subject_id text NOT NULL, position bigint NOT "
                "NULL, PRIMARY KEY (kind, subject_id, position))").format(self.tables["subject_cases"]),
            SQL("CREATE TABLE IF NOT EXISTS {0} (position bigint PRIMARY KEY, account_id uuid NOT NULL UNIQUE, "
                "kind text NOT NULL)").format(self.tables["principals"]),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (kind, position)").format(
                Identifier(f"{prefix}_principals_kind"), self.tables["principals"]),
            SQL("CREATE TABLE IF NOT EXISTS {0} (position bigint PRIMARY KEY, log text NOT NULL, originator_id uuid "
                "NOT NULL, version integer NOT NULL, actor_id text NOT NULL, moment bigint NOT NULL)").format(
                self.tables["reads"]),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (log, moment, position)").format(
                Identifier(f"{prefix}_reads_moment"), self.tables["reads"]),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (log, actor_id, moment, position)").format(
                Identifier(f"{prefix}_reads_actor"), self.tables["reads"]),
        ]
        # Shape 7: the organisations each case and each entente names (by the case's or entente's position).
        for kind in ("case_parties", "entente_parties"):
            self.tables[kind] = SQL("{0}.{1}").format(schema, Identifier(f"{prefix}_{kind}"))
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {0} (org_id text NOT NULL, position bigint NOT NULL, PRIMARY KEY "
                "(org_id, position))").format(self.tables["case_parties"]),
            SQL("CREATE TABLE IF NOT EXISTS {0} (party text NOT NULL, position bigint NOT NULL, PRIMARY KEY "
                "(party, position))").format(self.tables["entente_parties"]),
        ]

    def reset(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {0}").format(self.ententes))
            curs.execute(SQL("DELETE FROM {0}").format(self.entente_states))
            curs.execute(SQL("DELETE FROM {0}").format(self.entente_versions))
            curs.execute(SQL("DELETE FROM {0}").format(self.entente_keys))
            curs.execute(SQL("DELETE FROM {0}").format(self.cases_table))
            for kind in ("episodes", "consents", "registers", "register_entries", "subject_cases", "principals",
                         "reads", "case_parties", "entente_parties"):
                curs.execute(SQL("DELETE FROM {0}").format(self.tables[kind]))
            curs.execute(SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
                Identifier(self.datastore.schema), Identifier(self.tracking_table_name)), (application_name,))

    def entente_drafted(self, code: str, tracking: Tracking, entente: UUID | None = None,
                        keys: Keys | None = None) -> None:
        ident = entente or entente_id(code)
        with self._writing() as curs:
            curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s)").format(self.ententes),
                         (tracking.notification_id, code))
            curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s, %s, false)").format(self.entente_states),
                         (ident, tracking.notification_id, code))
            self._version(curs, ident, 1, WILDCARD if keys is None else keys)
            self._insert_tracking(curs, tracking)

    def entente_version(self, entente: UUID, version: int, keys: Keys, tracking: Tracking) -> None:
        with self._writing() as curs:
            self._version(curs, entente, version, keys)
            self._insert_tracking(curs, tracking)

    def _version(self, curs: Any, entente: UUID, version: int, keys: Keys) -> None:
        curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s, %s) ON CONFLICT (entente_id, version) DO UPDATE SET "
                         "keys = EXCLUDED.keys").format(self.entente_versions), (entente, version, json.dumps(keys)))
        for kind, key in keys:
            if kind == PARTY:
                curs.execute(SQL("INSERT INTO {0} SELECT %s, position FROM {1} WHERE entente_id = %s ON CONFLICT DO "
                                 "NOTHING").format(self.tables["entente_parties"], self.entente_states),
                             (key, entente))

    def entente_lifecycle(self, entente: UUID, candidate: bool, tracking: Tracking, version: int | None = None) -> None:
        with self._writing() as curs:
            curs.execute(SQL("UPDATE {0} SET candidate = %s WHERE entente_id = %s").format(self.entente_states),
                         (candidate, entente))
            if version is not None:
                self._in_force(curs, entente, version)
            self._insert_tracking(curs, tracking)

    def entente_in_force(self, entente: UUID, version: int, tracking: Tracking) -> None:
        with self._writing() as curs:
            self._in_force(curs, entente, version)
            self._insert_tracking(curs, tracking)

    def _in_force(self, curs: Any, entente: UUID, version: int) -> None:
        curs.execute(SQL("SELECT keys FROM {0} WHERE entente_id = %s AND version = %s").format(self.entente_versions),
                     (entente, version))
        row = curs.fetchone()
        keys = json.loads(row["keys"]) if row is not None else WILDCARD
        curs.execute(SQL("DELETE FROM {0} WHERE entente_id = %s").format(self.entente_keys), (entente,))
        for kind, key in keys:
            curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s, %s) ON CONFLICT DO NOTHING").format(self.entente_keys),
                         (kind, key, entente))

    def entente_candidates(self, parties: Iterable[str] = (), crisis_in: str | None = None) -> list[str]:
        wanted = _narrowing(parties, crisis_in)
        where = SQL("").join(SQL(" AND entente_id IN (SELECT entente_id FROM {0} WHERE kind = %s AND key IN (%s, %s))")
                             .format(self.entente_keys) for _ in wanted)
        args = [x for kind, key in wanted for x in (kind, key, ANY)]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT code FROM {0} WHERE candidate{1} ORDER BY position").format(
                self.entente_states, where), args)
            return [row["code"] for row in curs.fetchall()]

    def case_opened(self, case: UUID, code: str, at: datetime, tracking: Tracking, kind: str = "cases",
                    subject_id: str | None = None, parties: Iterable[str] = ()) -> None:
        with self._writing() as curs:
            curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s, %s, %s, false)").format(self.tables[kind]),
                         (tracking.notification_id, case, code, at.isoformat()))
            if subject_id is not None:
                curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s, %s)").format(self.tables["subject_cases"]),
                             (kind, subject_id, tracking.notification_id))
            for org in dict.fromkeys(parties):
                curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s) ON CONFLICT DO NOTHING").format(
                    self.tables["case_parties"]), (org, tracking.notification_id))
            self._insert_tracking(curs, tracking)

    def case_parties(self, case: UUID, parties: Iterable[str], tracking: Tracking) -> None:
        with self._writing() as curs:
            for org in dict.fromkeys(parties):
                curs.execute(SQL("INSERT INTO {0} SELECT %s, position FROM {1} WHERE case_id = %s ON CONFLICT DO "
                                 "NOTHING").format(self.tables["case_parties"], self.cases_table), (org, case))
            self._insert_tracking(curs, tracking)

    def open_of(self, subject_id: str, kind: str = "cases") -> list[str]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT c.code FROM {0} s JOIN {1} c ON c.position = s.position WHERE s.kind = %s "
                             "AND s.subject_id = %s AND NOT c.closed ORDER BY s.position").format(
                self.tables["subject_cases"], self.tables[kind]), (kind, subject_id))
            return [row["code"] for row in curs.fetchall()]

    def principal_registered(self, account: UUID, kind: str, tracking: Tracking) -> None:
        with self._writing() as curs:
            curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s, %s)").format(self.tables["principals"]),
                         (tracking.notification_id, account, kind))
            self._insert_tracking(curs, tracking)

    def principals(self, kind: str | None = None) -> list[UUID]:
        where, args = (SQL("WHERE kind = %s "), (kind,)) if kind is not None else (SQL(""), ())
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT account_id FROM {0} {1}ORDER BY position").format(
                self.tables["principals"], where), args)
            return [row["account_id"] for row in curs.fetchall()]

    def read_logged(self, log: str, event: tuple[UUID, int], actor_id: str, moment: datetime | str,
                    tracking: Tracking) -> None:
        with self._writing() as curs:
            curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s, %s, %s, %s, %s)").format(self.tables["reads"]),
                         (tracking.notification_id, log, event[0], event[1], actor_id, micros(moment)))
            self._insert_tracking(curs, tracking)

    def reads(self, log: str, actor_id: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> list[tuple[UUID, int]]:
        low, high = _bounds(since, until)
        actor, args = (SQL("AND actor_id = %s "), (actor_id,)) if actor_id is not None else (SQL(""), ())
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT originator_id, version FROM {0} WHERE log = %s {1}AND moment >= %s "
                             "AND moment < %s ORDER BY moment, position").format(self.tables["reads"], actor),
                         (log, *args, low, high))
            return [(row["originator_id"], row["version"]) for row in curs.fetchall()]

    def case_closed(self, case: UUID, tracking: Tracking, kind: str = "cases") -> None:
        with self._writing() as curs:
            curs.execute(SQL("UPDATE {0} SET closed = true WHERE case_id = %s").format(self.tables[kind]), (case,))
            self._insert_tracking(curs, tracking)

    def consent_granted(self, consent: UUID, subject_id: str, consent_key: str, tracking: Tracking) -> None:
        with self._writing() as curs:
            curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s, %s, %s)").format(self.tables["consents"]),
                         (tracking.notification_id, consent, subject_id, consent_key))
            self._insert_tracking(curs, tracking)

    def register_opened(self, register: UUID, subject_id: str, tracking: Tracking) -> None:
        with self._writing() as curs:
            curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s, %s)").format(self.tables["registers"]),
                         (tracking.notification_id, register, subject_id))
            self._insert_tracking(curs, tracking)

    def register_entry(self, subject_id: str, kind: str, moment: datetime | str, entry_id: str,
                       tracking: Tracking) -> None:
        with self._writing() as curs:
            curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s, %s, %s, %s)").format(self.tables["register_entries"]),
                         (tracking.notification_id, subject_id, kind, micros(moment), entry_id))
            self._insert_tracking(curs, tracking)

    def entente_codes(self, party: str | None = None) -> list[str]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            if party is None:
                curs.execute(SQL("SELECT code FROM {0} ORDER BY position").format(self.ententes))
            else:
                curs.execute(SQL("SELECT code FROM {0} WHERE position IN (SELECT position FROM {1} WHERE party IN "
                                 "(%s, %s)) ORDER BY position").format(self.ententes, self.tables["entente_parties"]),
                             (party, ANY))
            return [row["code"] for row in curs.fetchall()]

    def consent_keys(self, subject_id: str) -> list[str]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT consent_key FROM {0} WHERE subject_id = %s ORDER BY position").format(
                self.tables["consents"]), (subject_id,))
            return [row["consent_key"] for row in curs.fetchall()]

    def register_subjects(self) -> list[str]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT subject_id FROM {0} ORDER BY position").format(self.tables["registers"]))
            return [row["subject_id"] for row in curs.fetchall()]

    def subjects_with(self, kinds: tuple[str, ...], since: datetime | None = None,
                      until: datetime | None = None) -> set[str]:
        low, high = _bounds(since, until)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT DISTINCT subject_id FROM {0} WHERE kind = ANY(%s) AND moment >= %s "
                             "AND moment < %s").format(self.tables["register_entries"]), (list(kinds), low, high))
            return {row["subject_id"] for row in curs.fetchall()}


    def cases(self, *, open_only: bool, kind: str = "cases", subject_id: str | None = None,
              party: str | None = None) -> list[tuple[str, datetime]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            if party is not None:
                curs.execute(SQL("SELECT code, opened_at FROM {0} WHERE {1}position IN (SELECT position FROM {2} "
                                 "WHERE org_id IN (%s, %s)) ORDER BY position").format(
                    self.cases_table, SQL("NOT closed AND ") if open_only else SQL(""), self.tables["case_parties"]),
                    (party, ANY))
            elif subject_id is None:
                where = SQL("WHERE NOT closed ") if open_only else SQL("")
                curs.execute(SQL("SELECT code, opened_at FROM {0} {1}ORDER BY position").format(
                    self.tables[kind], where))
            else:
                curs.execute(SQL("SELECT c.code, c.opened_at FROM {0} s JOIN {1} c ON c.position = s.position "
                                 "WHERE s.kind = %s AND s.subject_id = %s {2}ORDER BY s.position").format(
                    self.tables["subject_cases"], self.tables[kind],
                    SQL("AND NOT c.closed ") if open_only else SQL("")), (kind, subject_id))
            return [(row["code"], datetime.fromisoformat(row["opened_at"])) for row in curs.fetchall()]


def _bounds(since: datetime | None, until: datetime | None) -> tuple[int, int]:
    """[since, until) in `micros`, open ends as the widest bigint range."""
    return (micros(since) if since is not None else -(2**63),
            micros(until) if until is not None else 2**63 - 1)


class Listings(Projection[ListingsView]):
    """The projection: which events make which rows. Topics under their module now and the ones they had."""

    name = "arrimage_listings"  # the library names the view's tables after it (`PostgresListings`)
    topics: tuple[str, ...] = tuple(
        topic for cls in (Entente.Drafted, Entente.Activated, Entente.Revoked,  # type: ignore[attr-defined]
                          Entente.DraftRevised, Entente.AmendmentProposed,  # type: ignore[attr-defined]
                          Entente.AmendmentInForce,  # type: ignore[attr-defined]
                          Entente.Expired, CrisisCase.Opened, CrisisCase.CaseClosed,  # type: ignore[attr-defined]
                          ServiceEpisode.Opened, ServiceEpisode.EpisodeClosed,  # type: ignore[attr-defined]
                          Consent.Granted, DisclosureRegister.Opened,  # type: ignore[attr-defined]
                          DisclosureRegister.AccessDecided,  # type: ignore[attr-defined]
                          DisclosureRegister.CommunicationRegistered,  # type: ignore[attr-defined]
                          DisclosureRegister.RefusalIssued,  # type: ignore[attr-defined]
                          DisclosureRegister.EmergencyDisclosureRecorded,  # type: ignore[attr-defined]
                          Account.Registered, RecordReadEntry.Registered,  # type: ignore[attr-defined]
                          EntenteReads.Read,  # type: ignore[attr-defined]
                          CrisisCase.TeamAsked, CrisisCase.FollowUpStarted,  # type: ignore[attr-defined]
                          CrisisCase.ReferralSent)  # type: ignore[attr-defined]
        for topic in _named(get_topic(cls))
    )

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """An event of another topic: only its position is tracked (by `catch_up`, after its page)."""

    @process_event.register
    def _(self, domain_event: Entente.Drafted, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.entente_drafted(domain_event.code, tracking, domain_event.originator_id,
                                  routing_keys(getattr(domain_event, "content", None)))

    # Each version's routing keys from the event that carries its content; the version in force's become the
    # entente's when it is activated or an amendment takes effect.
    @process_event.register
    def _(self, domain_event: Entente.DraftRevised, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.entente_version(domain_event.originator_id, getattr(domain_event, "version", -1),
                                  routing_keys(getattr(domain_event, "content", None)), tracking)

    @process_event.register
    def _(self, domain_event: Entente.AmendmentProposed, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.entente_version(domain_event.originator_id, getattr(domain_event, "version", -1),
                                  routing_keys(getattr(domain_event, "content", None)), tracking)

    @process_event.register
    def _(self, domain_event: Entente.AmendmentInForce, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.entente_in_force(domain_event.originator_id, getattr(domain_event, "version", -1), tracking)

    # An entente's lifecycle: activated, it may be in force (a candidate for routing); its end recorded, no longer.
    @process_event.register
    def _(self, domain_event: Entente.Activated, tracking: Tracking) -> None:  # type: ignore[name-defined]
        # An event without the version it put in force (none is recorded so; a row altered under the record): the
        # wildcard, never left out.
        self.view.entente_lifecycle(domain_event.originator_id, True, tracking, getattr(domain_event, "version", -1))

    @process_event.register
    def _(self, domain_event: Entente.Revoked, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.entente_lifecycle(domain_event.originator_id, False, tracking)

    @process_event.register
    def _(self, domain_event: Entente.Expired, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.entente_lifecycle(domain_event.originator_id, False, tracking)

    @process_event.register
    def _(self, domain_event: CrisisCase.Opened, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.case_opened(domain_event.originator_id, domain_event.case_code, domain_event.at, tracking,
                              subject_id=getattr(domain_event, "subject_id", None),
                              parties=[_org(getattr(domain_event, "responsible_org", None)),
                                       _org(getattr(domain_event, "intake_org", None))])

    # The organisations a case's events name (`domain.principals.access.case_parties`, a Task's owner and
    # requester): the team asked (the one that intervenes is one of them), a follow-up's provider, a referral's
    # receiving service and the organisation referring. One the view cannot read: `ANY`, never left out.
    @process_event.register
    def _(self, domain_event: CrisisCase.TeamAsked, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.case_parties(domain_event.originator_id,
                               [_org(getattr(domain_event, "candidate", None), "team", "org_id")], tracking)

    @process_event.register
    def _(self, domain_event: CrisisCase.FollowUpStarted, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.case_parties(domain_event.originator_id, [_org(getattr(domain_event, "provider", None))], tracking)

    @process_event.register
    def _(self, domain_event: CrisisCase.ReferralSent, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.case_parties(domain_event.originator_id,
                               [_org(getattr(domain_event, "receiving", None), "org_id"),
                                _org(getattr(domain_event, "actor_org", None))], tracking)

    @process_event.register
    def _(self, domain_event: CrisisCase.CaseClosed, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.case_closed(domain_event.originator_id, tracking)

    @process_event.register
    def _(self, domain_event: ServiceEpisode.Opened, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.case_opened(domain_event.originator_id, domain_event.episode_code, domain_event.at, tracking,
                              kind="episodes", subject_id=getattr(domain_event, "subject_id", None))

    @process_event.register
    def _(self, domain_event: ServiceEpisode.EpisodeClosed, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.case_closed(domain_event.originator_id, tracking, kind="episodes")

    # A person's consents and disclosure register: the opaque subject id, the consent's key, the entry's kind, id
    # and moment, all in clear in the events (their `personal` part is never opened).
    @process_event.register
    def _(self, domain_event: Consent.Granted, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.consent_granted(domain_event.originator_id, domain_event.subject_id, domain_event.consent_key,
                                  tracking)

    @process_event.register
    def _(self, domain_event: DisclosureRegister.Opened, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.register_opened(domain_event.originator_id, domain_event.subject_id, tracking)

    @process_event.register
    def _(self, domain_event: DisclosureRegister.AccessDecided,  # type: ignore[name-defined]
          tracking: Tracking) -> None:
        decision = domain_event.decision
        self.view.register_entry(domain_event.subject_id, "access", decision["moment"],
                                 decision["decision_id"], tracking)

    @process_event.register
    def _(self, domain_event: DisclosureRegister.CommunicationRegistered,  # type: ignore[name-defined]
          tracking: Tracking) -> None:
        self.view.register_entry(domain_event.subject_id, "communication", domain_event.communicated_at,
                                 domain_event.decision_id, tracking)

    @process_event.register
    def _(self, domain_event: DisclosureRegister.RefusalIssued,  # type: ignore[name-defined]
          tracking: Tracking) -> None:
        self.view.register_entry(domain_event.subject_id, "refusal", domain_event.notified_at,
                                 domain_event.decision_id, tracking)

    @process_event.register
    def _(self, domain_event: DisclosureRegister.EmergencyDisclosureRecorded,  # type: ignore[name-defined]
          tracking: Tracking) -> None:
        self.view.register_entry(domain_event.subject_id, "emergency", domain_event.occurred_at,
                                 domain_event.disclosure_id, tracking)

    # The principals (account id and kind), and the reads logged across persons: the event holding each read, its
    # reader's id and moment (the read's scope, rule and reason stay in the event, read from it).
    @process_event.register
    def _(self, domain_event: Account.Registered, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.principal_registered(domain_event.originator_id, str(domain_event.kind), tracking)

    @process_event.register
    def _(self, domain_event: RecordReadEntry.Registered, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self._read("record", domain_event, tracking)

    @process_event.register
    def _(self, domain_event: EntenteReads.Read, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self._read("entente", domain_event, tracking)

    def _read(self, log: str, domain_event: Any, tracking: Tracking) -> None:
        try:
            read = domain_event.read
            actor, moment = str(read["actor_id"]), read["moment"]
            micros(moment)
        except (KeyError, TypeError, ValueError) as unreadable:
            # A read without its reader or moment (a row altered under the record): not an event the record wrote,
            # left out by `catch_up` as any unreadable row, so that every other list still reads.
            raise AttributeError(f"a logged read without its reader or moment ({unreadable!r})") from unreadable
        self.view.read_logged(log, (domain_event.originator_id, domain_event.originator_version), actor, moment,
                              tracking)


def _org(value: Any, *path: str) -> str:
    """The organisation an event names (`value`, or inside it by `path`), `ANY` where it cannot be read."""
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value if isinstance(value, str) and value else ANY


# The shape of the views: raised when a listing is added, so that a view built before is rebuilt with it (kept as a
# tracking row of its own: 1 ententes and cases, 2 épisodes de services added, 3 consents and registers added, 4 the
# ententes' lifecycle added: routing's candidates, 5 the routing keys of each entente's version in force added, 6 each
# case's and épisode's person, the principals and the reads logged across persons added, 7 the organisations each case
# and entente names added: the gateway's listings and the FHIR Task search by organisation).
VERSION, VERSION_KEY = 7, "__arrimage_listings_version__"

# The view of each persistence module that has one (the in-memory store of unit tests has none: its lists scan).
VIEWS: dict[str, type[ListingsView]] = {
    "adapters.record.sqlite": SQLiteListings,
    "adapters.record.postgres": PostgresListings,
}
_OPEN: weakref.WeakKeyDictionary[Record, tuple[Listings, threading.Lock]] = weakref.WeakKeyDictionary()
_OPENING = threading.Lock()


def listings(record: Record) -> Listings | None:
    """The record's listings projection over its view (tables created if missing), or None where the store has
    no view (in memory). One per record, shared by its threads."""
    with _OPENING:
        if record in _OPEN:
            return _OPEN[record][0]
        view_class = VIEWS.get(type(record.factory).__module__)
        if view_class is None:
            return None
        datastore: Any = record.factory.datastore  # type: ignore[attr-defined]
        tracking = f"{record.name.lower()}_listings_tracking"
        view: ListingsView = (PostgresListings(datastore, tracking_table_name=tracking)
                              if view_class is PostgresListings else SQLiteListings(datastore))
        if _shape(view) != VERSION:
            # Made (or brought to this shape) only when it is not already: on PostgreSQL, each `CREATE INDEX IF NOT
            # EXISTS` takes its table's SHARE lock even when the index is there, and deadlocked with a page being
            # written by another process (a worker's runner) while a process opened its view.
            view.create_table()
        if view.max_tracking_id(VERSION_KEY) != VERSION:
            # A view of an earlier shape (a listing added since): its position says nothing of the new listing's
            # events; rebuilt from nothing at the next catch-up. Another process doing the same wins the marker.
            view.reset(record.name)
            with suppress(IntegrityError):
                view.insert_tracking(Tracking(VERSION_KEY, VERSION))
        projection = Listings(view)
        _OPEN[record] = (projection, threading.Lock())
        return projection


def _shape(view: ListingsView) -> int | None:
    """The shape of the view in the store (`VERSION_KEY`'s tracking row), None where it has no tracking table."""
    try:
        return view.max_tracking_id(VERSION_KEY)
    except (OperationalError, ProgrammingError):  # no such table (SQLite: OperationalError)
        return None


def caught_up(record: Record, page: int = 2_000) -> Listings | None:
    """The record's listings, brought up to the record's head first (see the module's docstring); None where the
    store has no view, or where the view cannot be written (a read-only file or database user): the caller then
    scans, as before the views existed."""
    try:
        projection = listings(record)
        if projection is None:
            return None
        with _OPEN[record][1]:
            catch_up(record, projection, page)
    except (OperationalError, ProgrammingError) as err:
        log.warning("listings view not usable (%s): the list is read by scanning the record", type(err).__name__)
        return None
    return projection


def catch_up(record: Record, projection: Listings, page: int = 2_000, stop: threading.Event | None = None) -> int:
    """Process the notifications after the view's tracked position up to the record's head, one transaction per
    page (each event's row with its tracking; then the page's end tracked, so that events of other topics are
    never read again). Another process catching up at the same moment makes one of the two fail on the tracking
    record (nothing of its page is written); it then starts again from the position the other reached.
    `stop` set: returns before the next page (the runner stopping). Returns the number of events processed here."""
    view = projection.view
    mapper = record.mapper
    decode = mapper.to_domain_event_sealed if isinstance(mapper, PersonalDataMapper) else mapper.to_domain_event
    processed = 0
    head = record.recorder.max_notification_id() or 0
    conflicts = 0
    while True:
        position = view.max_tracking_id(record.name) or 0
        if position > head:
            # Another process caught up to a head recorded after ours was read: the record is further on too.
            head = record.recorder.max_notification_id() or 0
        if position > head:
            # The view is ahead of its record: the record was restored from an older backup without its view,
            # or rows were removed. What it lists may no longer be in the record: it is rebuilt from nothing.
            view.reset(record.name)
            continue
        if position == head or (stop is not None and stop.is_set()):
            return processed
        batch = record.recorder.select_notifications(
            start=position + 1, limit=page, stop=head, topics=projection.topics)
        end = batch[-1].id if len(batch) == page else head
        try:
            with view.batch():
                for n in batch:
                    stored = StoredEvent(originator_id=n.originator_id, originator_version=n.originator_version,
                                         topic=n.topic, state=n.state)
                    try:
                        event = decode(stored)
                        TOPICS.check_named(stored, event)  # a created event naming a class not the record's own
                        projection.process_event(event, Tracking(record.name, n.id))
                    except (ForeignTopic, AttributeError) as unreadable:
                        # A row that is not an event the record wrote (inserted or altered under the record):
                        # reading its aggregate is refused anyway, and `audit verify` names it. Left out of
                        # the lists, tracked so it is not read again, and said: every other list still reads.
                        log.warning("listings: notification %s not listed (%s); run `arrimage audit verify`",
                                    n.id, type(unreadable).__name__)
                        view._insert_tracking(_cursor(view), Tracking(record.name, n.id))  # type: ignore[attr-defined]
                if not batch or batch[-1].id < end:
                    view._insert_tracking(_cursor(view), Tracking(record.name, end))  # type: ignore[attr-defined]
        except IntegrityError:
            conflicts += 1
            if conflicts > 100:
                raise
            continue
        processed += len(batch)


def logged(record: Record, events: Iterable[tuple[UUID, int]]) -> list[Any]:
    """The events a listing names (aggregate id, version), each read by its primary key and decoded by the record's
    mapper, as `Record.events_of` decodes them: a listing's answer without walking the notification log."""
    return [event for originator, version in events
            for event in record.events.get(originator, gt=version - 1, lte=version)]


def _cursor(view: ListingsView) -> Any:
    return view._local.cursor  # type: ignore[attr-defined]

