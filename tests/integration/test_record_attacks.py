"""Issue 9, "nothing unchained decides": rows written *directly in the database* (SQLite and PostgreSQL),
as someone with write access to it would, must not decide anything nor run anything.

- A forged snapshot row (snapshots are not hash-chained, and `audit verify` does not read them) that
  brings back a withdrawn consent: the decision still refuses, since the repository the use cases
  decide with rebuilds every aggregate from its chained events alone.
- A stored topic naming a module (`os:system`, or a module that marks its import): the read is
  refused with an error naming the event, nothing is imported, and the other aggregates still read.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.record.record import ForeignTopic, Record
from domain.disclosure.commands import WithdrawConsent
from domain.disclosure.consent import Consent, consent_id
from domain.disclosure.model import ConsentState, Outcome
from domain.disclosure.roles import PurposeKind, Role
from tests.disclosure_builders import AFTER, CONFIG, PARTNER, SUBJECT, active_entente, context, grant, request
from usecases.audit.trail import verify
from usecases.disclosure import Disclosures

PAYLOAD = "tests.integration.topic_payload"
MARK = "ARRIMAGE_TOPIC_PAYLOAD_RAN"


class Raw:
    """Direct SQL on the record's tables, bypassing the application (the attacker's view)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.pg = env["PERSISTENCE_MODULE"] == "adapters.record.postgres"
        self.conn: Any
        if self.pg:
            import psycopg

            self.conn = psycopg.connect(
                host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], dbname=env["POSTGRES_DBNAME"],
                user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"], autocommit=True,
            )
            s = env["POSTGRES_SCHEMA"]
            self.tables = {"events": f'"{s}".arrimage_events', "snapshots": f'"{s}".arrimage_snapshots'}
        else:
            self.conn = sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None)
            self.tables = {"events": "stored_events", "snapshots": "stored_snapshots"}

    def insert(self, table: str, oid: UUID, version: int, topic: str, state: bytes) -> None:
        sql = f"INSERT INTO {self.tables[table]} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)"
        self.conn.execute(sql.replace("?", "%s") if self.pg else sql,
                          (oid if self.pg else oid.hex, version, topic, state))

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def raw(store_env: dict[str, str], record: Record) -> Iterator[Raw]:
    r = Raw(store_env)
    yield r
    r.close()


def partner_request() -> Any:
    return request(Role.PARTNER_ORG, PurposeKind.CONTINUITY, recipient_id=PARTNER,
                   agreement_purpose="continuité de l'intervention de crise")


def partner_context() -> Any:
    """The person's consents loaded from the record (`consents=None`), under an entente in force."""
    return context().model_copy(update={"consents": None, "ententes": [active_entente()]})


def withdrawn_consent(record: Record) -> Disclosures:
    disclosures = Disclosures(record, CONFIG)
    disclosures.grant_consent(grant(), AFTER - timedelta(days=5))
    disclosures.withdraw_consent(WithdrawConsent(
        by=SUBJECT, command_id="w-1", subject_id=SUBJECT, consent_key="F-1", withdrawn_at=AFTER - timedelta(days=1),
    ), AFTER - timedelta(days=1))
    return disclosures


def forge_snapshot(record: Record, raw: Raw) -> None:
    """The consent as it was when granted (version 1), stored as a snapshot at version 2, the withdrawal's:
    what the library's repository would rebuild the consent from, instead of its events."""
    cid = consent_id(SUBJECT, "F-1")
    granted: Consent = record.events_only.get(cid, version=1)
    granted.__dict__["_version"] = 2
    snapshot = Consent.Snapshot.take(granted)
    snapshot.state.update({k: sorted(v) for k, v in snapshot.state.items() if isinstance(v, set)})
    stored = record.mapper.to_stored_event(snapshot)
    raw.insert("snapshots", cid, 2, stored.topic, stored.state)


def test_a_forged_snapshot_does_not_bring_back_a_withdrawn_consent(
    record: Record, raw: Raw, store_env: dict[str, str]
) -> None:
    """Before: the repository rebuilt the consent from the forged snapshot, `decide()` allowed the partner
    and `audit verify` said ok. Now the decision reads the chained events only and still refuses."""
    disclosures = withdrawn_consent(record)
    assert disclosures.decide(partner_request(), partner_context()).outcome is Outcome.REFUSED
    forge_snapshot(record, raw)
    assert verify(record).ok  # snapshots are outside the chain: verify cannot see the forgery

    fresh = Record(store_env)  # a process that never saw the consent (no cache)
    try:
        again = Disclosures(fresh, CONFIG)
        assert again.consent(SUBJECT, "F-1").state_at(AFTER) is ConsentState.WITHDRAWN
        decision = again.decide(partner_request(), partner_context())
        assert decision.outcome is Outcome.REFUSED
        assert fresh.repository.get(consent_id(SUBJECT, "F-1")).version == 2
    finally:
        fresh.close()


def craft_row(record: Record, raw: Raw, topic: str, originator_topic: str | None = None) -> UUID:
    """A stored event of a fresh aggregate whose topic (or, for a created event, whose aggregate's topic)
    names a module of the attacker's choosing."""
    oid = uuid4()
    state: dict[str, Any] = {"timestamp": {"_type_": "datetime_iso", "_data_": AFTER.isoformat()}}
    if originator_topic is not None:
        state["originator_topic"] = originator_topic
    raw.insert("events", oid, 1, topic, record.mapper.transcoder.encode(state))
    return oid


@pytest.mark.parametrize(("topic", "originator_topic"), [
    (f"{PAYLOAD}:Boom", None),
    ("os:system", None),
    ("domain.crisis.aggregate:CrisisCase.Opened", f"{PAYLOAD}:Boom"),
    ("domain.crisis.aggregate:CrisisCase.Opened", "subprocess:Popen"),
], ids=["payload-module", "os-system", "created-event-payload", "created-event-subprocess"])
def test_a_crafted_topic_is_refused_and_nothing_is_imported(
    record: Record, raw: Raw, store_env: dict[str, str], topic: str, originator_topic: str | None
) -> None:
    """Before: the library imported whatever module a stored topic named, on any read of that aggregate
    (`cases history`). Now topics resolve from the record's own event and aggregate classes only."""
    disclosures = withdrawn_consent(record)
    oid = craft_row(record, raw, topic, originator_topic)
    sys.modules.pop(PAYLOAD, None)
    os.environ.pop(MARK, None)

    fresh = Record(store_env)
    try:
        with pytest.raises(ForeignTopic) as refused:
            list(fresh.stream(oid))
        named = originator_topic or topic
        assert str(oid) in str(refused.value) and "v1" in str(refused.value) and named in str(refused.value)
        with pytest.raises(ForeignTopic):
            fresh.repository.get(oid)
        assert PAYLOAD not in sys.modules and MARK not in os.environ
        # Every other aggregate still reads.
        assert Disclosures(fresh, CONFIG).consent(SUBJECT, "F-1").state_at(AFTER) is ConsentState.WITHDRAWN
        assert disclosures.decide(partner_request(), partner_context()).outcome is Outcome.REFUSED
    finally:
        fresh.close()
    assert PAYLOAD not in sys.modules and MARK not in os.environ
