"""Every read of content is an access (issue 9), at the use-case level, on SQLite and PostgreSQL.

Before: `CrisisCases.view` / `history` (behind `cases show|history`) and `Disclosures.register` (behind
`audit register --person`, which printed the purpose and justification) read the record and recorded
nothing; the access log, the exceptions and the export were read by anyone. Now each read goes through
`usecases.audit.reads.Reads`: decided, registered (allowed or refused) in the person's register or in
the record-level reads log, and only what the decision allows is handed back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from adapters.record.record import Record
from domain.audit.reads import WITHHELD, CaseItem
from domain.audit.record_reads import ReadKind
from domain.disclosure.roles import PurposeKind, Role
from tests.audit_builders import CASE, PERSON, populate
from tests.disclosure_builders import SUBJECT
from usecases.audit.reads import Reader, Reads
from usecases.audit.replays import ReaderFacts
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def reads(record: Record) -> Reads:
    return Reads(record, Disclosures(record), CrisisCases(record))


def test_cases_show_is_an_access_registered_in_the_persons_register(record: Record) -> None:
    """LRSSS 103: the supervisor's `cases show` is one decision in the person's register, with the reader's
    role and purpose (audit, the supervisor's default), allowed on the audit rule (POL-AUDIT)."""
    populate(record)
    assert Disclosures(record).entries_about(PERSON) == []
    before = Disclosures(record).accesses()
    read = reads(record).case(CASE, CaseItem.STATE, Reader.of("sup-1", Role.SUPERVISOR), NOW)
    assert read.view is not None and read.view.case_code == CASE and read.history is None
    (access,) = Disclosures(record).accesses(subject_id=PERSON)
    assert (access.decision_id, access.actor_id, access.role, access.purpose, access.outcome.value,
            access.allowed, access.metadata_basis) == (
        read.decision.decision_id, "sup-1", Role.SUPERVISOR, PurposeKind.AUDIT, "autorise", ["etat du dossier"],
        "POL-AUDIT")
    assert access.decision_id.startswith(f"show:case:{CASE}@v1:")
    assert len(Disclosures(record).accesses()) == len(before) + 1


def test_a_refused_case_read_gets_nothing_and_leaves_a_refused_entry(record: Record) -> None:
    """Default deny (LRSSS 5): a partner organisation reading the case for continuity, with no entente in
    force covering it, gets neither the view nor the history; the refusal is recorded with its reason."""
    populate(record)
    reader = Reader.of("agent-cc", Role.PARTNER_ORG)
    shown = reads(record).case(CASE, CaseItem.STATE, reader, NOW)
    history = reads(record).case(CASE, CaseItem.EVENTS, reader, NOW)
    assert (shown.view, shown.history, history.view, history.history) == (None, None, None, None)
    rows = Disclosures(record).accesses(subject_id=PERSON)
    assert [(d.role, d.purpose, d.outcome.value, d.allowed) for d in rows] == [
        (Role.PARTNER_ORG, PurposeKind.CONTINUITY, "refuse", [])] * 2
    assert rows[0].refusal is not None and rows[0].refusal.code == shown.decision.refusal.code  # type: ignore[union-attr]


def test_the_auditor_reads_a_case_history_with_personal_content_masked(record: Record) -> None:
    """Disclosure-law 3.1 R3: the auditor reads the event list as audit metadata; the words about the person
    never come out of the seal."""
    populate(record)
    read = reads(record).case(CASE, CaseItem.EVENTS, Reader.of("aud-1", Role.AUDITOR), NOW)
    assert read.decision.allowed == ["journal des evenements"]
    assert read.history is not None
    (opened,) = read.history
    assert opened["event"] == "Opened" and opened["personal"] == "<2 champ(s) personnel(s)>"
    assert "idées suicidaires" not in repr(read.history)


def test_the_register_read_by_an_auditor_masks_the_words_and_is_registered(record: Record) -> None:
    """LSSSS 27.2 / LRSSS 265: the auditor reads the register's metadata; the purpose, intended use and
    justification (free text about the person) read `<retenu>`; the read is an access in that register."""
    populate(record)
    read = reads(record).register(SUBJECT, Reader.of("aud-1", Role.AUDITOR), NOW)
    assert read.entries is not None
    assert [(e["decision_id"], e["intended_use"], e["justification"]) for e in read.entries] == [
        ("req-1", WITHHELD, WITHHELD), ("urg-1", WITHHELD, WITHHELD)]
    assert (read.decision.outcome.value, read.decision.allowed) == ("partiel", ["registre des communications"])
    last = Disclosures(record).accesses(subject_id=SUBJECT)[-1]
    assert (last.decision_id, last.role, last.purpose) == (read.decision.decision_id, Role.AUDITOR, PurposeKind.AUDIT)
    # the read is not a communication: the entries are unchanged
    assert [e.decision_id for e in Disclosures(record).entries_about(SUBJECT)] == ["req-1", "urg-1"]


def test_the_person_reads_their_own_register_whole(record: Record) -> None:
    """LRSSS 265 with s. 18 (LSSSS 27.2): the person obtains the entries about them, words included, through
    the self-access basis (14 or over); another person in the usager role is refused and gets nothing."""
    populate(record)
    adult = ReaderFacts.model_validate({"subject": {"birth_date": date(1990, 1, 1)}})
    mine = reads(record).register(SUBJECT, Reader.of(SUBJECT, Role.USAGER, facts=adult), NOW)
    assert mine.entries is not None
    assert (mine.entries[0]["intended_use"], mine.entries[0]["justification"]) == (
        "prise en charge par l'équipe mobile", "consentement écrit")
    assert WITHHELD not in repr(mine.entries)
    other = reads(record).register(SUBJECT, Reader.of("u-other", Role.USAGER, facts=adult), NOW)
    assert other.entries is None and other.decision.outcome.value == "refuse"
    assert other.decision.refusal is not None and other.decision.refusal.code == "not_the_person"
    assert [d.outcome.value for d in Disclosures(record).accesses(subject_id=SUBJECT)][-2:] == ["autorise", "refuse"]


def test_reads_across_persons_are_registered_allowed_or_refused(record: Record) -> None:
    """The access log, the exceptions, an export: audit metadata, for auditors and supervisors reading for an
    audit; a listing of cases also for the care team's worklist. Each read is one entry of the record-level
    reads log, with its scope, whether allowed or refused."""
    populate(record)
    r = reads(record)
    audit = r.across(ReadKind.ACCESS_LOG, Reader.of("aud-1", Role.AUDITOR), NOW, {"since": "2026-11-01"})
    listing = r.across(ReadKind.CASE_LISTING, Reader.of("int-1", Role.INTERVENANT), NOW, {"closed": "true"})
    refused = r.across(ReadKind.EXPORT, Reader.of("int-1", Role.INTERVENANT), NOW + timedelta(seconds=1), {})
    assert (audit.allowed, audit.rule, listing.allowed, refused.allowed) == (True, "POL-AUDIT", True, False)
    assert refused.reason.startswith("export_d_audit is audit metadata, read by auditeur, superviseur for an audit")
    logged = reads(record).record_reads()
    assert [(x.kind, x.actor_id, x.role, x.purpose, x.outcome.value, x.scope) for x in logged] == [
        (ReadKind.ACCESS_LOG, "aud-1", Role.AUDITOR, PurposeKind.AUDIT, "autorise", {"since": "2026-11-01"}),
        (ReadKind.CASE_LISTING, "int-1", Role.INTERVENANT, PurposeKind.CARE, "autorise", {"closed": "true"}),
        (ReadKind.EXPORT, "int-1", Role.INTERVENANT, PurposeKind.CARE, "refuse", {}),
    ]
    assert [x.read_id for x in reads(record).record_reads(actor_id="aud-1")] == [audit.read_id]
