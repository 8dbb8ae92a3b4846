"""Snapshots of ententes are taken from the events and equal them; nothing that decides reads them (issue 9:
they are not chained), so `repository` and audits rebuild from the events alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.record.record import Record
from domain.ententes import commands as c
from domain.ententes.aggregate import entente_id
from domain.ententes.state import EntentePolicy, EntenteView
from tests.factories import service_entente
from usecases.ententes import Ententes

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_an_entente_loaded_from_its_snapshot_equals_the_one_replayed_from_events(
    store_env: dict[str, str],
) -> None:
    """Every 100th event a snapshot is stored; loading from it gives the same view, version by version,
    as replaying the hash-chained events alone (what an auditor's replay does)."""
    record = Record(store_env)
    ententes = Ententes(record, EntentePolicy(reminder_interval_days=1))
    ententes.draft(c.DraftEntente(by="s", code="SNAP", content=service_entente(effective=None), command_id="d"), T0)
    ententes.execute("SNAP", c.SubmitForSignature(by="s", command_id="s", signature_deadline=T0 + timedelta(days=360)),
                     T0)
    for day in (150, 250, 320):  # three saves, crossing snapshot versions 100, 200 and 300
        ententes.advance("SNAP", T0 + timedelta(days=day, hours=1))
    ententes.execute("SNAP", c.SignEntente(by="p", party_id="cisss-laval", version=1, signatory="DG",
                                             command_id="sig"), T0 + timedelta(days=321))
    assert record.snapshots is not None
    snapshot_versions = [s.originator_version for s in record.snapshots.get(entente_id("SNAP"))]
    assert snapshot_versions == [100, 200, 300]
    fresh = Record(store_env)
    for version in (99, 100, 101, 250, 300, 323):
        from_snapshot: EntenteView = fresh.from_snapshots.get(entente_id("SNAP"), version=version).view()
        from_events: EntenteView = fresh.events_only.get(entente_id("SNAP"), version=version).view()
        assert from_snapshot == from_events, version
    latest: EntenteView = fresh.from_snapshots.get(entente_id("SNAP")).view()
    assert fresh.repository.get(entente_id("SNAP")).view() == latest
    assert latest.event_count == 323 and latest.proposal is not None
    assert latest.proposal.reminders_sent == 320 and len(latest.proposal.signatures) == 1
    record.close()
    fresh.close()
