"""The crisis handoff sends the intake to a community team only through the disclosure rules (issue 4).

Every community team asked gets the intake on the person's consent, or through the
emergency path of LSSSS 19.0.1 / LRSSS s. 74 with every condition attested, or not at
all; each sending is decided and registered (LSSSS 27.2 / LRSSS s. 265).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.crisis import commands as c
from domain.crisis.model import EMERGENCY_NOTE_FIELDS, HandoffSharing
from domain.disclosure.legal_bases import Condition
from domain.disclosure.model import Outcome
from domain.ententes.model import InformationSharing
from tests.crisis_builders import CSSS, T0, TEAM, activate, memory_record
from tests.crisis_builders import crisis_content as content
from tests.crisis_world import World
from tests.disclosure_builders import grant
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.handoff import HandoffDisclosures

EMERGENCY = [
    Condition.REASONABLE_CAUSE, Condition.SERIOUS_RISK, Condition.SENSE_OF_URGENCY, Condition.RECIPIENT_MAY_HELP,
    Condition.DISCLOSER_AUTHORISED, Condition.MINIMUM_NECESSARY, Condition.DIRECTIVE_FOLLOWED,
]
NOTE = {
    "person_or_group_in_danger": "la personne elle-même", "act_to_prevent": "tentative de suicide",
    "danger": "plan précis, moyens à portée de main", "urgency": "dans les prochaines heures",
    "communicated": "motif, niveau d'urgence, estimation des risques", "reasons": "risque suicidaire élevé",
}


class ClauseWorld(World):
    """As `World`, but the entente's section 7 lists the intake items it lets the centre receive."""

    def __init__(self) -> None:
        self.record = memory_record()
        self.ententes = Ententes(self.record)
        clause = InformationSharing(
            permitted=True, purposes=["continuité"], items=["motif", "niveau_urgence", "estimation_risques"],
            security_measures=["chiffrement"],
        )
        text = content("cc-laval", may_refer=["cps-laval"]).model_copy(update={"information_sharing": clause})
        self.entente = activate(self.ententes, "ENT-CC", text)
        self.cases = CrisisCases(self.record)


def handed_to_community(w: World, **request: Any) -> HandoffDisclosures:
    """Open, ask the CSSS team, which declines: the crisis centre (entente ENT-CC) is asked next."""
    w.open()
    w.do(c.RequestMobileIntervention(by="intervenant-1", actor_org=CSSS, csss_teams=[TEAM], **request))
    w.do(c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, reason="équipe déjà en intervention"))
    return HandoffDisclosures(w.cases, Disclosures(w.record))


def test_emergency_path_with_every_condition_attested_is_recorded_and_queued_for_review() -> None:
    """LSSSS 19.0.1 / LRSSS 74: without consent, the intake goes to the team only when every condition is
    attested; date, person in danger, recipient, danger, urgency, what and why are recorded; a supervisor reviews."""
    w = World()
    handoff = handed_to_community(w, sharing=HandoffSharing(attestations=EMERGENCY), personal=NOTE)
    sent = handoff.ensure("C-ABCDEFGH23")
    assert [(s.attempt, s.team_org, s.basis) for s in sent] == [(2, "cc-laval", "emergency")]
    report = handoff.disclosures.exceptions(T0)
    assert [e.recipient_id for e in report.emergencies] == ["cc-laval"]
    assert [e.recipient_id for e in report.pending_reviews] == ["cc-laval"]
    assert report.emergencies[0].particulars.act_to_prevent == "tentative de suicide"
    assert report.expired_consent_uses == []


def test_without_consent_or_attestation_nothing_is_sent_and_the_refusal_is_registered() -> None:
    """Default deny (LSSSS 19 / LRSSS 5): the team is asked without the intake's content; the refused decision
    is in the register of accesses, so every handoff leaves a trace."""
    w = ClauseWorld()
    handoff = handed_to_community(w)
    sent = handoff.ensure("C-ABCDEFGH23")
    assert [(s.team_org, s.basis, s.allowed_items) for s in sent] == [("cc-laval", "none", ())]
    decisions = handoff.disclosures.accesses(subject_id="p-7f3a9c2e")
    assert [(d.recipient_id, d.outcome) for d in decisions] == [("cc-laval", Outcome.REFUSED)]


def test_with_the_persons_consent_the_intake_goes_under_the_ententes_clause() -> None:
    """LSSSS 19.1 / LRSSS 6: a valid consent for continuity to this organisation, under an entente in force whose
    section 7 covers the purpose, lets the items the consent names be sent, and only those."""
    w = ClauseWorld()
    disclosures = Disclosures(w.record)
    disclosures.grant_consent(grant(key="F-77", recipients=["cc-laval"], items=["motif", "niveau_urgence"],
                                    at=T0, subject_id="p-7f3a9c2e", grantor_id="p-7f3a9c2e"), T0)
    handoff = handed_to_community(
        w, sharing=HandoffSharing(consent_key="F-77", items=["motif", "niveau_urgence", "estimation_risques"])
    )
    sent = handoff.ensure("C-ABCDEFGH23")
    assert [(s.team_org, s.basis, sorted(s.allowed_items)) for s in sent] == [
        ("cc-laval", "consent", ["motif", "niveau_urgence"])
    ]


def test_a_csss_team_is_the_care_team_nothing_to_register() -> None:
    """Within the establishment there is no communication outside the care team (LSSSS 27.2 / LRSSS 265)."""
    w = World()
    w.open()
    w.do(c.RequestMobileIntervention(by="intervenant-1", actor_org=CSSS, csss_teams=[TEAM]))
    assert HandoffDisclosures(w.cases, Disclosures(w.record)).ensure("C-ABCDEFGH23") == []


def test_sending_again_after_a_retry_records_nothing_twice() -> None:
    """Idempotency: a retried activity calls `ensure` again; the register keeps one entry per handoff."""
    w = World()
    handoff = handed_to_community(w, sharing=HandoffSharing(attestations=EMERGENCY), personal=NOTE)
    first = handoff.ensure("C-ABCDEFGH23")
    events_before = len(list(w.record.notification_log.select(start=1, limit=10)))
    assert handoff.ensure("C-ABCDEFGH23") == first
    assert len(list(w.record.notification_log.select(start=1, limit=10))) == events_before
    assert len(handoff.disclosures.exceptions(T0).emergencies) == 1


def test_attestations_without_the_emergency_note_are_refused_before_anything_is_sent() -> None:
    """The emergency note is part of the disclosure (LRSSS 74): a request that attests the conditions
    without it is malformed, refused by validation."""
    with pytest.raises(ValidationError, match="missing"):
        c.RequestMobileIntervention(
            by="i", actor_org=CSSS, csss_teams=[TEAM], sharing=HandoffSharing(attestations=EMERGENCY),
            personal={k: NOTE[k] for k in EMERGENCY_NOTE_FIELDS[:2]},
        )
