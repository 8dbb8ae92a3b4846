"""The sending step of a crisis handoff: the intake to every community team asked, through the disclosure rules.

Thin: what may be sent and on which basis is decided in ``domain.crisis.handoff`` and
``domain.disclosure``; this loads the case and the entente under which each team was asked,
tries the emergency path when the intervenant asked for it, otherwise decides on the consent
path, and lets `Disclosures` record the decision (allowed or refused) in the person's register.

Idempotent: each sending's command id is `<case>/envoi/<attempt>`, which the
register remembers; running `send` (or `ensure`) again after a retry records nothing twice.
Each decision is one save of the person's register (the one aggregate it changes).
"""

from __future__ import annotations

from typing import Any

from domain.crisis.aggregate import CrisisCase
from domain.crisis.handoff import (
    Sending,
    access_request,
    attempts_to_send,
    emergency_command,
    registered_sending,
    sending_context,
    sending_id,
)
from domain.crisis.state import HandoffAttempt
from domain.errors import NotFound, RuleViolation
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes


class HandoffDisclosures:
    def __init__(self, cases: CrisisCases, disclosures: Disclosures) -> None:
        self.cases = cases
        self.disclosures = disclosures
        self.ententes = Ententes(cases.record)

    def send(self, case_code: str, attempt: int) -> Sending:
        """Decide and register the sending of the intake to the community team of one attempt: the step
        the crisis workflow calls (`case.send_intake`) once it has asked that team. Once per attempt: a
        second call finds the decision registered under the attempt's command id and returns it."""
        case = self.cases.get(case_code)
        for asked in attempts_to_send(case):
            if asked.number == attempt:
                return self._send(case, asked)
        raise RuleViolation(
            f"attempt {attempt} of crisis case {case_code} did not ask a community team: nothing to send",
            code="no_sending",
        )

    def ensure(self, case_code: str) -> list[Sending]:
        """Decide and register the sending of the intake to every community team asked so far (what
        `case.act` and `case.advance` did after their save, before the workflow called `send` itself;
        still used for runs recorded before that)."""
        case = self.cases.get(case_code)
        return [self._send(case, attempt) for attempt in attempts_to_send(case)]

    def registered(self, case_code: str) -> list[Sending]:
        """The sendings registered so far for the case: a lookup (`registered_sendings`)."""
        return registered_sendings(self.disclosures, self.cases.get(case_code))

    def _send(self, case: CrisisCase, attempt: HandoffAttempt) -> Sending:
        org = attempt.candidate.team.org_id
        ctx = sending_context(self._entente(attempt.candidate.agreement_code), attempt.asked_at)
        emergency = emergency_command(case, attempt)
        if emergency is not None:
            try:
                view = self.disclosures.emergency_disclosure(emergency, ctx, attempt.asked_at)
                return Sending(attempt.number, org, "emergency", tuple(view.items))
            except RuleViolation as refused:
                if refused.code != "emergency_refused":
                    raise
                # Not every condition attested: nothing may be sent on that path; the
                # decision below registers the refusal.
        decision = self.disclosures.decide_and_record(access_request(case, attempt, ctx), ctx, attempt.asked_at)
        allowed = tuple(decision.allowed)
        return Sending(attempt.number, org, "consent" if allowed else "none", allowed)

    def _entente(self, code: str | None) -> list[Any]:
        if code is None:
            return []
        try:
            return [self.ententes.view(code)]
        except NotFound:
            return []


def registered_sendings(disclosures: Disclosures, case: CrisisCase) -> list[Sending]:
    """What the person's register holds of each sending of the case, found under its command id
    (`<case>/envoi/<attempt>`): nothing is decided and nothing recorded, so a reader of the sendings (the
    partner's view of the case) never makes a disclosure decision of its own. An attempt whose sending is
    not registered yet is left out."""
    try:
        register = disclosures.register(case.subject_id)
    except NotFound:
        return []
    decisions = {d.decision_id: d for d in register.accesses}
    emergencies = {e.disclosure_id: e for e in register.emergencies}
    found = []
    for attempt in attempts_to_send(case):
        command_id = sending_id(case, attempt)
        sent = registered_sending(attempt, decisions.get(command_id), emergencies.get(command_id))
        if sent is not None:
            found.append(sent)
    return found
