"""A record an auditor reads, built with the domain's own use cases the way the activities build it: an
entente drafted then activated, a crisis case, a consent and a communication under it, an emergency
disclosure without consent (LRSSS 74); and the installed `arrimage audit` pointed at it
(tests/e2e/test_audit_cli.py, test_cli_errors.py; tests/integration/test_audit_replay.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.record.record import Record
from domain.crisis import commands as cc
from domain.crisis.model import Intake, IntakeService, RiskEstimates, RiskLevel, UrgencyLevel
from domain.disclosure import commands as dc
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes import commands as ac
from tests import disclosure_builders as disclosure
from tests.crisis_builders import crisis_content as content
from tests.e2e.harness import ARRIMAGE, Result, store_cli_env
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes

CASE = "C-ABCDEFGH23"
PERSON = "p-7f3a9c2e"  # the crisis case's person
CSSS = "cisss-laval"
ENTENTE = "ENT-LAV-01"
T0 = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)


@dataclass
class Store:
    path: Path
    env: dict[str, str]
    drafted_only: datetime  # a moment after the entente's draft and before anything else happened to it
    record_env: dict[str, str] = field(default_factory=dict)  # the store's `Record` environment (empty: `path`)

    def record(self) -> Record:
        return Record(self.record_env or {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                          "SQLITE_DBNAME": str(self.path)})

    def run(self, *args: str) -> Result:
        proc = subprocess.run([ARRIMAGE, "audit", *args], env=self.env, capture_output=True, text=True, timeout=120)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.code == 0, result
        return result

    def accesses(self, *args: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.ok("accesses", "--json", *args).json()
        return rows

    def close_case(self) -> None:
        """The supervisor closes the case, as before erasing its person (`audit shred` refuses while it is
        open)."""
        record = self.record()
        try:
            CrisisCases(record).execute(CASE, cc.SupervisorClose(
                by="superviseur-1", actor_org=CSSS, reason="la personne demande l'effacement"), T0 + timedelta(hours=1))
        finally:
            record.close()

    def event_count(self) -> int:
        if not self.record_env:
            with sqlite3.connect(self.path) as conn:
                return int(conn.execute("SELECT count(*) FROM stored_events").fetchone()[0])
        from tests.tamper_builders import Raw  # either store, as the attacker's SQL reaches it

        raw = Raw(self.record_env)
        try:
            return int(raw.x("SELECT count(*) FROM {events}")[0][0])
        finally:
            raw.close()


def open_case(cases: CrisisCases) -> None:
    cases.open(cc.OpenCase(
        by="intervenant-1", actor_org=CSSS, command_id="o-1", case_code=CASE, responsible_org=CSSS,
        territory="laval", subject_id=PERSON, personal={"reason": "idées suicidaires", "person_ref": "ps-12"},
        intake=Intake(service=IntakeService.INFO_SOCIAL, urgency=UrgencyLevel.HIGH, face_to_face_needed=True,
                      risks=RiskEstimates(suicide=RiskLevel.HIGH), p38_considered=True),
    ), T0)


def build(tmp_path: Path, store_env: dict[str, str] | None = None) -> Store:
    """An entente drafted then activated; a crisis case; a consent and a communication under it
    (registered); an emergency disclosure without consent (LRSSS 74). In `tmp_path`/record.sqlite, or in the
    store of `store_env` (a SQLite file or a PostgreSQL schema: conftest's `store_env`)."""
    sqlite = store_env.get("SQLITE_DBNAME") if store_env else None
    path = Path(sqlite) if sqlite else tmp_path / "record.sqlite"
    store_env = store_env or {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    record = Record(store_env)
    drafted_only = populate(record)
    record.close()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")},
        **store_cli_env(store_env), "ARRIMAGE_DATA_DIR": str(tmp_path), "ARRIMAGE_USER": "auditrice",
        "ARRIMAGE_ROLE": "auditeur",  # every read of the record is made in a declared role (issue 9)
        "ARRIMAGE_LOG_LEVEL": "WARNING", "ARRIMAGE_LOG_FORMAT": "console", "COLUMNS": "250",
        "ARRIMAGE_MODE": "development",
    }
    return Store(path=path, env=env, drafted_only=drafted_only, record_env=store_env)


def populate(record: Record) -> datetime:
    """`build`'s facts in `record` (any store); returns the moment after the entente's draft."""
    ententes = Ententes(record)
    text = content("cc-laval")
    ententes.draft(ac.DraftEntente(by="dsp", code=ENTENTE, content=text), T0)
    drafted_only = datetime.now(UTC)
    ententes.execute(ENTENTE, ac.SubmitForSignature(by="dsp"), T0)
    for party in text.party_ids:
        ententes.execute(ENTENTE, ac.SignEntente(by=party, party_id=party, version=1, signatory="D.G."), T0)
    ententes.advance(ENTENTE, T0)
    open_case(CrisisCases(record))
    disclosures = Disclosures(record, disclosure.CONFIG)
    disclosures.grant_consent(disclosure.grant(), disclosure.AFTER)
    ctx = disclosure.context(consents=None).model_copy(
        update={"consents": None, "ententes": [disclosure.active_entente()]}
    )
    disclosures.decide_and_record(disclosure.request(
        Role.PARTNER_ORG, PurposeKind.CONTINUITY, by="agent-cc", recipient_id=disclosure.PARTNER, command_id="req-1",
        agreement_purpose="continuité de l'intervention de crise", items=["motif", "niveau d'urgence"],
        intended_use="prise en charge par l'équipe mobile", justification="consentement écrit",
    ), ctx, disclosure.AFTER)
    disclosures.emergency_disclosure(dc.DiscloseInEmergency(
        by="intervenant-7", command_id="urg-1", subject_id=disclosure.SUBJECT, recipient_id=disclosure.PARTNER,
        recipient_role=Role.PARTNER_ORG, items=["motif", "estimation du risque"],
        attestations=disclosure.EMERGENCY_CONDITIONS,
        particulars=disclosure.particulars(disclosure.AFTER + timedelta(days=1)),
    ), disclosure.context(), disclosure.AFTER + timedelta(days=1))
    return drafted_only
