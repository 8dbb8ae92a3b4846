"""The first-contact clocks run as durable deadlines when the request comes in before anyone reaches
the person: Info-Social answer ≤ 4 min (seed 001 L1018-1019), AAOR in person ≤ 2 h (L778-779),
AAOR callback ≤ 24 h (L781-782)."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from domain.crisis import commands as c
from domain.crisis.model import Intake, IntakeService, PhoneDisposition, RequestMode, UrgencyLevel
from domain.crisis.state import CaseView, DeadlineStatus
from domain.standards import config as s
from tests.crisis_builders import CSSS, HOUR, MIN, SUBJECT, T0
from tests.crisis_world import CODE, World


def open_awaiting(w: World, service: IntakeService, mode: RequestMode, at: datetime = T0) -> CaseView:
    return w.cases.open(c.OpenCase(
        by="accueil-1", actor_org=CSSS, command_id="o-1", case_code=CODE, responsible_org=CSSS, territory="laval",
        subject_id=SUBJECT, personal={"reason": "message laissé"}, awaiting_first_contact=True,
        intake=Intake(service=service, request_mode=mode, urgency=UrgencyLevel.NONE, face_to_face_needed=False),
    ), at)


def first_contact() -> c.RecordFirstContact:
    return c.RecordFirstContact(by="accueil-1", actor_org=CSSS)


@pytest.mark.parametrize(("service", "mode", "standard", "limit"), [
    (IntakeService.AAOR, RequestMode.PHONE, s.AAOR_RETOUR_APPEL, 24 * HOUR),
    (IntakeService.AAOR, RequestMode.IN_PERSON, s.AAOR_PREMIER_CONTACT, 2 * HOUR),
    (IntakeService.INFO_SOCIAL, RequestMode.PHONE, s.INFO_SOCIAL_REPONSE, 4 * MIN),
])
def test_a_first_contact_not_made_in_time_is_missed_and_escalated(
    service: IntakeService, mode: RequestMode, standard: str, limit: object
) -> None:
    """Nobody reached the person before the standard's limit: `DeadlineMissed` and `Escalated` at that moment."""
    w = World()
    view = open_awaiting(w, service, mode)
    deadline = view.deadline(standard)
    assert deadline is not None and deadline.status is DeadlineStatus.OPEN
    assert deadline.due_at == T0 + limit  # type: ignore[operator]
    view = w.cases.advance(CODE, deadline.due_at + MIN)
    assert view.deadline(standard).status is DeadlineStatus.MISSED  # type: ignore[union-attr]
    assert w.events()[-2:] == ["DeadlineMissed", "Escalated"]
    # Reached late: the clock stops, still missed (the compliance report counts it late).
    view = w.do(first_contact(), deadline.due_at + 2 * MIN)
    stopped = view.deadline(standard)
    assert stopped is not None and stopped.status is DeadlineStatus.MISSED and stopped.stopped_at is not None


def test_a_callback_in_time_meets_the_standard() -> None:
    """AAOR callback made 3 h after the message: met (≤ 24 h, L781-782)."""
    w = World()
    open_awaiting(w, IntakeService.AAOR, RequestMode.PHONE)
    view = w.do(first_contact(), T0 + 3 * HOUR)
    assert view.deadline(s.AAOR_RETOUR_APPEL).status is DeadlineStatus.MET  # type: ignore[union-attr]
    assert w.events() == ["Opened", "FirstContactMade"]


def test_closing_at_the_phone_is_also_the_first_contact() -> None:
    """Answering and closing with information reaches the person: the answer clock stops met."""
    w = World()
    open_awaiting(w, IntakeService.INFO_SOCIAL, RequestMode.PHONE)
    view = w.do(c.CloseAtPhone(by="accueil-1", actor_org=CSSS, disposition=PhoneDisposition.INFORMATION,
                               reason="information"), T0 + 3 * MIN)
    assert view.deadline(s.INFO_SOCIAL_REPONSE).status is DeadlineStatus.MET  # type: ignore[union-attr]


def test_a_first_contact_already_made_cannot_be_recorded_again() -> None:
    """Refused with no event: the intake recorded the contact (the default)."""
    w = World()
    w.open()
    w.refused(first_contact(), "no_contact_awaited")
    w.open(code="C-ZZZZZZZZ22", command_id="o-2")
    with pytest.raises(ValidationError, match="no first-contact time yet"):
        c.OpenCase.model_validate({
            **c.OpenCase(by="a", actor_org=CSSS, case_code=CODE, responsible_org=CSSS, territory="laval",
                         subject_id=SUBJECT, intake=Intake(service=IntakeService.AAOR, urgency=UrgencyLevel.NONE,
                                                           face_to_face_needed=False)).model_dump(),
            "awaiting_first_contact": True, "first_contact_at": T0,
        })


def test_only_the_intake_organisation_records_the_first_contact() -> None:
    """Wrong party refused, nothing recorded."""
    w = World()
    open_awaiting(w, IntakeService.AAOR, RequestMode.PHONE)
    w.refused(c.RecordFirstContact(by="x", actor_org="cc-laval"), "wrong_party")
