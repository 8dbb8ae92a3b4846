"""Issue 9, « Free text outside `personal` survives a shred »: what was typed about a person (the reason of a
decline, a reassignment, an extension, a referral refusal, a hand-back, a closing) and what characterises them
(the intake's crisis type, risk estimates, P-38.001; the intervention's outcome: hospital emergency, a
transport under P-38.001, police called) used to be stored in clear beside the opaque subject id,
and still read — in the rows, `cases history`, `audit replay` — after the person's key was destroyed.

Now they are sealed with the person's key like `personal` (SQLite and PostgreSQL): no stored byte holds them,
the case still works and reads before the shred, and after it they read as erased everywhere while the
case still replays (its stages, deadlines and codes are kept in clear).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.record.record import Record
from adapters.record.sealing import UnsealableContent
from domain.audit.erasure import ERASED_TEXT, OpenCasesBeforeErasure
from domain.audit.replay import AggregateRef
from domain.crisis import commands as c
from domain.crisis.model import (
    CrisisType,
    EmergencyService,
    InterventionOutcome,
    PhoneDisposition,
    RiskLevel,
    TeamRef,
)
from domain.crisis.state import CaseStage
from domain.disclosure.roles import Role
from tests.crisis_builders import (
    CSSS,
    MIN,
    SUBJECT,
    T0,
    accept,
    activate,
    arrive,
    crisis_content,
    decline,
    open_cmd,
    outcome,
    referral,
    refuse_referral,
    request,
    sup,
)
from tests.tamper_builders import Raw
from usecases.audit.replays import Replays
from usecases.audit.trail import shred, verify
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes

NOW = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
MOBILE, REFERRED, HANDED = "C-SEALMOBILE", "C-SEALREFERA", "C-SEALHANDBK"
OTHER_TEAM = TeamRef(team_id="crise-laval-2", org_id=CSSS)
COMMUNITY = TeamRef(team_id="cc-laval", org_id="cc-laval")
# What people typed: each must be found nowhere in clear once stored.
TYPED = {
    "decline": "DECLIN-Jean-Tremblay-menace-son-frere",
    "reassign": "REASSIGN-Jean-connu-de-l-equipe-2",
    "extend": "EXTEND-Jean-hospitalise-en-attente",
    "supervisor_close": "SUPCLOSE-Jean-decede-rue-Principale",
    "refusal": "REFUS-Jean-deja-suivi-pour-psychose",
    "phone": "PHONE-Jean-rassure-par-sa-soeur",
    "hand_back": "HANDBACK-Jean-refuse-l-hebergement",
    "close": "CLOSE-Jean-stabilise-avec-lithium",
}
# The intake's characterisation, as stored before the change (the JSON of `Intake`).
CHARACTERISING = [b'"suicidaire"', b'"p38_considered"', b'"risks"',
                  # and the intervention's outcome, as `OutcomeRecorded` stored it
                  b'"application_p38"', b'"police"', b'"p38_applied":true']


def suicidal(code: str, command_id: str) -> c.OpenCase:
    """An intake that says « suicidal, high suicide risk, P-38.001 considered » about the person."""
    cmd = open_cmd(code, command_id=command_id)
    return cmd.model_copy(update={"intake": cmd.intake.model_copy(update={"crisis_type": CrisisType.SUICIDAIRE})})


def build_cases(cases: CrisisCases) -> None:
    """Three cases of one person, through every command whose reason is typed."""
    cases.open(suicidal(MOBILE, "o-1"), T0)
    cases.execute(MOBILE, request(), T0 + MIN)
    cases.execute(MOBILE, decline(reason=TYPED["decline"]), T0 + 2 * MIN)  # the only team: to a supervisor
    cases.execute(MOBILE, sup(c.Reassign, team=OTHER_TEAM, reason=TYPED["reassign"]), T0 + 3 * MIN)
    cases.execute(MOBILE, sup(c.ExtendDeadline, deadline_id="reponse_equipe.2", until=T0 + 20 * MIN,
                              reason=TYPED["extend"]), T0 + 4 * MIN)
    cases.execute(MOBILE, sup(c.SupervisorClose, reason=TYPED["supervisor_close"]), T0 + 5 * MIN)

    cases.open(suicidal(REFERRED, "o-2"), T0)
    cases.execute(REFERRED, referral(), T0 + MIN)
    cases.execute(REFERRED, refuse_referral(reason=TYPED["refusal"]), T0 + 2 * MIN)
    cases.execute(REFERRED, c.CloseAtPhone(by="intervenant-1", actor_org=CSSS, disposition=PhoneDisposition.ORIENTATION,
                                           reason=TYPED["phone"]), T0 + 3 * MIN)

    # A community team under an entente in force takes the third case, then hands it back.
    activate(Ententes(cases.record), "ENT-CC", crisis_content("cc-laval"))
    cases.open(suicidal(HANDED, "o-3"), T0)
    cases.execute(HANDED, request(), T0 + MIN)
    cases.execute(HANDED, decline(reason=TYPED["decline"]), T0 + 2 * MIN)
    cases.execute(HANDED, accept(COMMUNITY), T0 + 3 * MIN)
    cases.execute(HANDED, arrive(COMMUNITY.org_id), T0 + 30 * MIN)
    cases.execute(HANDED, outcome(InterventionOutcome.P38_APPLICATION, services=[EmergencyService.POLICE], p38=True,
                                  org=COMMUNITY.org_id), T0 + 60 * MIN)
    cases.execute(HANDED, c.HandBack(by="cc-1", actor_org=COMMUNITY.org_id, reason=TYPED["hand_back"]),
                  T0 + 61 * MIN)
    cases.execute(HANDED, c.CloseCase(by="intervenant-1", actor_org=CSSS, reason=TYPED["close"]), T0 + 62 * MIN)


def stored(raw: Raw) -> bytes:
    return b"".join(bytes(s) for (s,) in raw.x("SELECT state FROM {events}"))


def readings(record: Record, cases: CrisisCases, *, views: bool = False) -> str:
    """What readers not allowed content get of the three cases — their histories, an auditor's and a
    supervisor's audit replay — and, with `views`, the case views themselves."""
    out: list[Any] = []
    for code in (MOBILE, REFERRED, HANDED):
        out += [cases.view(code).model_dump(mode="json") if views else None, cases.history(code)]
        for role in (Role.AUDITOR, Role.SUPERVISOR):
            r = Replays(record).replay(AggregateRef.parse(f"case:{code}"), role=role, actor_id="a-1", moment=NOW)
            out.append(r.model_dump(mode="json"))
    return json.dumps(out, default=str, ensure_ascii=False)


def test_typed_reasons_and_the_characterisation_are_sealed_and_erased_with_the_key(
    record: Record, raw: Raw
) -> None:
    cases = CrisisCases(record)
    build_cases(cases)

    # Before the shred: the workflow logic and the content work as before…
    mobile = cases.view(MOBILE)
    assert [a.reason for a in mobile.attempts] == [TYPED["decline"], None]
    assert mobile.escalations[0].reason.startswith("aucune équipe n'a accepté")  # system text, in clear
    assert mobile.deadline("reponse_equipe.2").extensions[0].reason == TYPED["extend"]  # type: ignore[union-attr]
    assert (mobile.stage, mobile.closure.reason) == (CaseStage.CLOSED, TYPED["supervisor_close"])  # type: ignore[union-attr]
    assert (mobile.intake.crisis_type, mobile.intake.risks.suicide, mobile.intake.p38_considered) == (
        CrisisType.SUICIDAIRE, RiskLevel.HIGH, True)
    referred = cases.view(REFERRED)
    assert referred.referrals[0].refusal_reason == TYPED["refusal"]
    assert referred.closure.reason == f"orientation: {TYPED['phone']}"  # type: ignore[union-attr]
    assert cases.view(HANDED).closure.reason == TYPED["close"]  # type: ignore[union-attr]
    handed = cases.view(HANDED).intervention
    assert handed is not None and (handed.outcome, handed.emergency_services, handed.p38_applied) == (
        InterventionOutcome.P38_APPLICATION, [EmergencyService.POLICE], True)
    # …but nothing typed nor characterising is in any stored byte (it was, before the change).
    rows = stored(raw)
    for text in TYPED.values():
        assert text.encode() not in rows, text
    for code in CHARACTERISING:
        assert code not in rows, code
    assert b'"urgent"' in rows and b'"face_to_face_needed"' in rows  # the codes deadlines need stay in clear
    # Readers without content (an auditor, a supervisor's audit replay, the history) get none of it.
    shown = readings(record, cases)
    for text in TYPED.values():
        assert text not in shown, text

    shred(record, SUBJECT, by="responsable-acces", reason="decision D-2027-3", now=NOW)

    # After: every case still replays and lists; the typed text reads as erased, the codes remain.
    mobile = cases.view(MOBILE)
    assert [a.reason for a in mobile.attempts] == [ERASED_TEXT, None]
    assert mobile.deadline("reponse_equipe.2").extensions[0].reason == ERASED_TEXT  # type: ignore[union-attr]
    assert (mobile.stage, mobile.closure.reason) == (CaseStage.CLOSED, ERASED_TEXT)  # type: ignore[union-attr]
    assert (mobile.intake.crisis_type, mobile.intake.risks.suicide, mobile.intake.p38_considered) == (
        CrisisType.ERASED, RiskLevel.ERASED, None)
    assert mobile.intake.urgency.value == "urgent" and mobile.escalations[0].reason.startswith("aucune équipe")
    assert cases.view(REFERRED).referrals[0].refusal_reason == ERASED_TEXT
    assert cases.view(REFERRED).closure.reason == f"orientation: {ERASED_TEXT}"  # type: ignore[union-attr]
    assert cases.view(HANDED).closure.reason == ERASED_TEXT  # type: ignore[union-attr]
    handed = cases.view(HANDED).intervention
    assert handed is not None and (handed.outcome, handed.emergency_services, handed.p38_applied) == (
        InterventionOutcome.ERASED, [], None)
    assert cases.view(HANDED).stage is CaseStage.CLOSED
    assert [code for code, _ in cases.opened()] == [MOBILE, REFERRED, HANDED]
    history = cases.history(MOBILE)
    declined = next(row for row in history if row["event"] == "HandoffDeclined")
    assert declined["personal"] == ERASED_TEXT and history[0]["characterisation"] == ERASED_TEXT
    shown = readings(record, cases, views=True)
    for text in TYPED.values():
        assert text not in shown, text
    rows = stored(raw)
    assert not any(text.encode() in rows for text in TYPED.values())
    assert verify(record).ok is True  # every hash still verifies


def test_a_sealed_part_moved_onto_another_event_or_part_does_not_open(store_env: dict[str, str]) -> None:
    """The seal binds the case, the event's version and the part's name: the person's own ciphertext pasted
    onto another of their events, or from `characterisation` into `personal`, is refused (`UnsealableContent`),
    not read as that event's content."""
    record = Record(store_env)
    cases = CrisisCases(record)
    cases.open(suicidal(MOBILE, "o-1"), T0)
    cases.execute(MOBILE, request(), T0 + MIN)
    cases.execute(MOBILE, decline(reason=TYPED["decline"]), T0 + 2 * MIN)
    raw = Raw(store_env)
    states = {v: json.loads(bytes(s)) for v, s in raw.x("SELECT originator_version, state FROM {events}")}
    declined = next(v for v, s in states.items() if v > 1 and (s.get("personal") or {}).get("sealed"))

    def paste(version: int, state: dict[str, Any]) -> None:
        raw.x("UPDATE {events} SET state = ? WHERE originator_version = ?", json.dumps(state).encode(), version)

    try:
        moved = dict(states[1], personal=states[declined]["personal"])  # a decline's reason onto the opening
        paste(1, moved)
        with pytest.raises(UnsealableContent, match="does not open with its subject's key"):
            cases.view(MOBILE)
        swapped = dict(states[1], personal=states[1]["characterisation"])  # one part pasted over the other
        paste(1, swapped)
        with pytest.raises(UnsealableContent, match="does not open with its subject's key"):
            cases.view(MOBILE)
        paste(1, states[1])
        assert cases.view(MOBILE).attempts[0].reason == TYPED["decline"]  # the original still opens
    finally:
        raw.close()
        record.close()


def test_a_person_with_an_open_case_is_not_erased(record: Record, raw: Raw) -> None:
    """Erasing first would leave the case stuck (its workflow's payloads and the case's next commands need the
    person's key): refused, naming the case; nothing recorded, the key kept. Once closed, the erasure goes."""
    cases = CrisisCases(record)
    cases.open(open_cmd(MOBILE, command_id="o-1"), T0)
    before = raw.x("SELECT count(*) FROM {events}")[0][0]
    with pytest.raises(OpenCasesBeforeErasure) as refused:
        shred(record, SUBJECT, by="responsable-acces", reason="decision D-2027-5", now=NOW)
    assert refused.value.code == "open_cases"
    assert refused.value.message == (
        f"person {SUBJECT} still has 1 open crisis case(s): {MOBILE}; close them first "
        "(`arrimage cases close CODE --reason …`), then erase")
    assert raw.x("SELECT count(*) FROM {events}")[0][0] == before
    assert record.subject_keys.current_key_id(SUBJECT) is not None
    cases.execute(MOBILE, sup(c.SupervisorClose, reason="demande d'effacement"), T0 + MIN)
    assert shred(record, SUBJECT, by="responsable-acces", reason="decision D-2027-5", now=NOW).key_id is not None
    assert record.subject_keys.current_key_id(SUBJECT) is None


def test_system_texts_stay_in_clear_and_need_no_key(record: Record, raw: Raw) -> None:
    """A reason the engine wrote (an escalation, a missed deadline) is not about the person: it is stored in
    clear, and the calendar still records it after the person's key was destroyed."""
    cases = CrisisCases(record)
    cases.open(open_cmd(MOBILE, command_id="o-1"), T0)
    cases.execute(MOBILE, request(), T0 + MIN)
    # An erasure made while the case was open, as a version before `check_erasable` allowed: the key alone is
    # destroyed (`shred` now refuses while a case is open).
    record.subject_keys.destroy(SUBJECT, NOW.isoformat())
    view = cases.advance(MOBILE, T0 + timedelta(hours=2))
    assert view.stage is CaseStage.SUPERVISOR
    assert b"aucune \\u00e9quipe n'a accept\\u00e9" in stored(raw) or "aucune équipe".encode() in stored(raw)
