"""A crisis case on an in-memory record, driven through its use cases (`CrisisCases`) the way an activity
does: the unit tests' world (seed 001: AAOR L681-900, Info-Social L901-1159, crisis L1160-1385).

The commands every crisis test gives are in tests/crisis_builders.py; these are the world's own, with
the personal content the unit tests expect."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from adapters.record.record import Record
from domain.crisis import commands as c
from domain.crisis.model import IntakeService, InterventionOutcome, ReceivingServiceType, RequestMode, UrgencyLevel
from domain.crisis.state import CaseView, DeadlineStatus
from domain.ententes.state import EntenteView
from domain.errors import RuleViolation
from domain.standards import StandardsConfig
from tests import crisis_builders as builders
from tests.crisis_builders import CSSS, HOUR, MIN, SUBJECT, T0, TEAM, activate, memory_record, open_cmd, request
from tests.crisis_builders import crisis_content as content
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes

CODE = "C-ABCDEFGH23"


class World:
    """One record with an entente in force (cc-laval, mobile crisis in Laval) and the crisis use cases."""

    def __init__(self, config: StandardsConfig | None = None) -> None:
        self.record: Record = memory_record()
        self.ententes = Ententes(self.record)
        self.entente: EntenteView = activate(self.ententes, "ENT-CC", content("cc-laval", may_refer=["cps-laval"]))
        self.cases = CrisisCases(self.record, config)

    def open(
        self, *, service: IntakeService = IntakeService.INFO_SOCIAL, urgency: UrgencyLevel = UrgencyLevel.HIGH,
        face: bool = True, mode: RequestMode = RequestMode.PHONE, actor: str = CSSS, at: datetime = T0,
        received: datetime | None = None, first: datetime | None = None, code: str = CODE, command_id: str = "o-1",
    ) -> CaseView:
        return self.cases.open(open_cmd(
            code, service=service, urgency=urgency, face=face, mode=mode, actor=actor, received=received, first=first,
            personal={"reason": "idées suicidaires", "person_ref": "ps-12"}, command_id=command_id,
        ), at)

    def do(self, cmd: c.Command, at: datetime = T0, code: str = CODE) -> CaseView:
        return self.cases.execute(code, cmd, at)

    def events(self, code: str = CODE) -> list[str]:
        return [e["event"] for e in self.cases.history(code)]

    def refused(self, cmd: c.Command, code_: str, at: datetime = T0, match: str | None = None) -> RuleViolation:
        """The command is refused with `code_` and records nothing."""
        before = self.events()
        with pytest.raises(RuleViolation, match=match) as info:
            self.do(cmd, at)
        assert info.value.code == code_
        assert self.events() == before
        return info.value

    def to_intervention(self, at: datetime = T0, urgency: UrgencyLevel = UrgencyLevel.HIGH) -> CaseView:
        self.open(at=at, urgency=urgency)
        self.do(request(), at)
        self.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), at + 5 * MIN)
        self.do(c.RecordArrival(by="eq-1", actor_org=CSSS), at + 40 * MIN)
        return self.do(outcome(), at + 2 * HOUR)


def outcome(**kw: Any) -> c.RecordOutcome:
    fields: dict[str, Any] = {"outcome": InterventionOutcome.CRISIS_RESOLVED, "subject_id": SUBJECT, **kw}
    return c.RecordOutcome(by="eq-1", actor_org=CSSS, **fields)


def referral(service: ReceivingServiceType = ReceivingServiceType.CONSULTATION_SOCIALE) -> c.StartReferral:
    return builders.referral(service, note="appel à l'accueil")


def status(view: CaseView, deadline_id: str) -> DeadlineStatus:
    d = view.deadline(deadline_id)
    assert d is not None, deadline_id
    return d.status
