"""Handoffs and referrals as FHIR Tasks (issue 10): the SDOH Clinical Care IG's Task state machine and who sets
each status (SDOHCC TaskForReferralManagement, Status Management), the command a responder's status change stands
for, and the Task each step of a case reads as — every resource validated by fhir.resources."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from adapters.fhir import resources as fr
from domain.crisis import commands as c
from domain.fhir.task_states import (
    INITIAL,
    SET_BY,
    TRANSITIONS,
    Setter,
    TaskKind,
    TaskRefused,
    TaskStatus,
    check_transition,
    partner_command,
)
from domain.fhir.tasks import REASON_WITHHELD, for_party, parse_task_id, task, tasks
from tests.crisis_builders import (
    CSSS,
    MIN,
    SUBJECT,
    T0,
    TEAM,
    accept_referral,
    decline,
    reached,
    refuse_referral,
    request,
    sup,
)
from tests.crisis_world import CODE, World, referral
from tests.disclosure_builders import consent_view

S = TaskStatus


def valid_task(resource: dict[str, Any]) -> dict[str, Any]:
    Task.model_validate(resource)
    return resource


def test_the_igs_statuses_and_who_sets_each() -> None:
    assert {s.value for s in S} == {"draft", "requested", "accepted", "rejected", "cancelled", "in-progress",
                                    "on-hold", "failed", "completed", "entered-in-error"}
    requester = {s for s, who in SET_BY.items() if Setter.REQUESTER in who}
    responder = {s for s, who in SET_BY.items() if Setter.RESPONDER in who}
    assert requester == {S.DRAFT, S.REQUESTED, S.CANCELLED, S.ENTERED_IN_ERROR}
    assert responder == {S.ACCEPTED, S.REJECTED, S.CANCELLED, S.IN_PROGRESS, S.ON_HOLD, S.FAILED, S.COMPLETED}
    assert {S.DRAFT, S.REQUESTED} == INITIAL
    finals = {s for s, nxt in TRANSITIONS.items() if not nxt}
    assert finals == {S.REJECTED, S.CANCELLED, S.FAILED, S.COMPLETED, S.ENTERED_IN_ERROR}
    assert TRANSITIONS[S.REQUESTED] == {S.ACCEPTED, S.REJECTED}


@pytest.mark.parametrize(("current", "wanted", "setter", "code"), [
    (S.REQUESTED, S.COMPLETED, Setter.RESPONDER, "task_transition_not_allowed"),  # not accepted first
    (S.REJECTED, S.ACCEPTED, Setter.RESPONDER, "task_transition_not_allowed"),  # final
    (S.COMPLETED, S.IN_PROGRESS, Setter.RESPONDER, "task_transition_not_allowed"),
    (S.REQUESTED, S.ENTERED_IN_ERROR, Setter.RESPONDER, "task_status_not_for_party"),  # the requester's
    (S.DRAFT, S.REQUESTED, Setter.RESPONDER, "task_status_not_for_party"),
    (S.REQUESTED, S.ACCEPTED, Setter.REQUESTER, "task_status_not_for_party"),  # the responder's
])
def test_the_ig_refuses(current: S, wanted: S, setter: Setter, code: str) -> None:
    with pytest.raises(TaskRefused) as refused:
        check_transition(current, wanted, setter)
    assert refused.value.code == code and "SDOH Clinical Care IG" in refused.value.message


def test_a_responders_status_is_the_cases_own_command() -> None:
    who: dict[str, Any] = {"by": "chef-1", "org": "cc-laval"}
    h, r = TaskKind.HANDOFF, TaskKind.REFERRAL
    assert partner_command(h, "cc-laval", S.REQUESTED, S.ACCEPTED, reason=None, intake_worker=None, **who) == \
        c.AcceptHandoff(by="chef-1", actor_org="cc-laval", team_id="cc-laval")
    assert partner_command(h, "cc-laval", S.REQUESTED, S.REJECTED, reason="déjà mobilisée", intake_worker=None,
                           **who) == c.DeclineHandoff(by="chef-1", actor_org="cc-laval", team_id="cc-laval",
                                                      reason="déjà mobilisée")
    assert partner_command(h, "cc-laval", S.ACCEPTED, S.IN_PROGRESS, reason=None, intake_worker=None, **who) == \
        c.RecordArrival(by="chef-1", actor_org="cc-laval")
    assert partner_command(r, None, S.REQUESTED, S.ACCEPTED, reason=None, intake_worker="accueil", **who) == \
        c.AcceptReferral(by="chef-1", actor_org="cc-laval", intake_worker="accueil")
    assert partner_command(r, None, S.REQUESTED, S.REJECTED, reason="hors territoire", intake_worker=None,
                           **who) == c.RefuseReferral(by="chef-1", actor_org="cc-laval", reason="hors territoire")
    assert partner_command(r, None, S.ACCEPTED, S.COMPLETED, reason=None, intake_worker=None, **who) == \
        c.ConfirmReached(by="chef-1", actor_org="cc-laval")
    # the Task names its request (`<case>-h2`): the command carries it, so a stale answer is refused
    assert partner_command(h, "cc-laval", S.REQUESTED, S.ACCEPTED, reason=None, intake_worker=None, number=2,
                           **who) == c.AcceptHandoff(by="chef-1", actor_org="cc-laval", team_id="cc-laval", attempt=2)


@pytest.mark.parametrize(("kind", "current", "wanted", "code", "status"), [
    (TaskKind.HANDOFF, S.REQUESTED, S.REJECTED, "status_reason_required", 422),  # no statusReason
    (TaskKind.HANDOFF, S.IN_PROGRESS, S.COMPLETED, "task_transition_not_supported", 409),  # the outcome command
    (TaskKind.HANDOFF, S.ACCEPTED, S.ON_HOLD, "task_transition_not_supported", 409),
    (TaskKind.REFERRAL, S.ACCEPTED, S.IN_PROGRESS, "task_transition_not_supported", 409),
    (TaskKind.REFERRAL, S.ACCEPTED, S.FAILED, "task_transition_not_supported", 409),
    (TaskKind.REFERRAL, S.REQUESTED, S.COMPLETED, "task_transition_not_allowed", 409),  # reached before accepted
])
def test_what_arrimage_refuses(kind: TaskKind, current: S, wanted: S, code: str, status: int) -> None:
    with pytest.raises(TaskRefused) as refused:
        partner_command(kind, "t", current, wanted, reason=None, intake_worker=None, by="b", org="o")
    assert (refused.value.code, refused.value.status) == (code, status)


def test_task_ids() -> None:
    assert parse_task_id("C-ABCDEFGH23-h2") == ("C-ABCDEFGH23", TaskKind.HANDOFF, 2)
    assert parse_task_id("C-ABCDEFGH23-r1") == ("C-ABCDEFGH23", TaskKind.REFERRAL, 1)
    assert parse_task_id("C-ABCDEFGH23-x1") is None and parse_task_id("C-ABCDEFGH23-h0") is None


def test_a_handoff_reads_as_its_task_at_each_step() -> None:
    w = World()
    w.open()
    view = w.do(request(), T0)
    first = task(view, f"{CODE}-h1")
    assert first is not None and (first.status, first.owner, first.requester) == (S.REQUESTED, CSSS, CSSS)
    resource = valid_task(fr.task(first))
    assert resource["focus"] == {"reference": f"ServiceRequest/{CODE}-h1"}
    assert resource["owner"]["identifier"] == {"system": fr.ORG, "value": TEAM.org_id}
    assert resource["groupIdentifier"]["value"] == CODE and resource["intent"] == "order"

    view = w.do(decline(), T0 + 5 * MIN)
    declined = task(view, f"{CODE}-h1")
    assert declined is not None and declined.status is S.REJECTED
    assert valid_task(fr.task(declined))["statusReason"] == {"text": "équipe déjà mobilisée"}
    # the next team (the entente's community organisation) is asked: its own Task
    second = task(view, f"{CODE}-h2")
    assert second is not None and (second.status, second.owner) == (S.REQUESTED, "cc-laval")

    view = w.do(c.AcceptHandoff(by="chef", actor_org="cc-laval", team_id="cc-laval"), T0 + 9 * MIN)
    assert [t.status for t in tasks(view)] == [S.REJECTED, S.ACCEPTED]
    view = w.do(c.RecordArrival(by="chef", actor_org="cc-laval"), T0 + 40 * MIN)
    arrived = task(view, f"{CODE}-h2")
    assert arrived is not None and (arrived.status, arrived.business_status) == (S.IN_PROGRESS, "arrivee")
    assert valid_task(fr.task(arrived))["executionPeriod"] == {"start": (T0 + 40 * MIN).strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_a_referral_completes_only_when_the_person_reached_the_service() -> None:
    w = World()
    w.to_intervention()
    view = w.do(referral(), T0 + 3 * 60 * MIN)
    sent = task(view, f"{CODE}-r1")
    assert sent is not None and (sent.status, sent.owner) == (S.REQUESTED, "clsc-ouest")
    view = w.do(accept_referral(), T0 + 4 * 60 * MIN)
    assert tasks(view)[-1].status is S.ACCEPTED and "output" not in fr.task(tasks(view)[-1])
    view = w.do(reached(), T0 + 5 * 60 * MIN)
    done = tasks(view)[-1]
    assert done.status is S.COMPLETED
    resource = valid_task(fr.task(done))
    assert resource["output"][0]["valueCodeableConcept"] == {
        "coding": [{"system": fr.SERVICE, "code": "consultation_sociale"}], "text": "reference_personnalisee"}
    # the handoff's Task completed with the intervention's outcome, and stays so once the case is closed
    assert tasks(view)[0].status is S.COMPLETED


def test_a_refused_referral_and_an_open_task_of_a_closed_case() -> None:
    w = World()
    w.to_intervention()
    w.do(referral(), T0 + 3 * 60 * MIN)
    view = w.do(refuse_referral(), T0 + 4 * 60 * MIN)
    refused = tasks(view)[-1]
    assert (refused.status, refused.status_reason) == (S.REJECTED, "hors territoire")
    view = w.do(referral(), T0 + 5 * 60 * MIN)
    view = w.do(sup(c.SupervisorClose, reason="la personne a déménagé"), T0 + 6 * 60 * MIN)
    closed = tasks(view)[-1]
    assert closed.status is S.CANCELLED and closed.status_reason == "case closed (fermeture_superviseur)"
    assert tasks(view)[-2].status is S.REJECTED  # a final status stays


def test_a_partner_reads_only_its_own_tasks_without_the_person() -> None:
    """An organisation other than the CISSS (`for_party`): the Tasks it owns or requested, never the person's id
    (Task.for left out, ServiceRequest.subject masked), and a refusal's typed words only to their owner."""
    w = World()
    w.to_intervention()
    w.do(referral(), T0 + 3 * 60 * MIN)
    view = w.do(refuse_referral(), T0 + 4 * 60 * MIN)
    refused = tasks(view)[-1]
    owner, requester = refused.owner, refused.requester
    mine = for_party(refused, owner)
    assert mine is not None and (mine.subject_id, mine.status_reason) == (None, "hors territoire")
    theirs = for_party(refused, requester)
    assert theirs is not None and theirs.status_reason == REASON_WITHHELD
    assert for_party(refused, "organisme-tiers") is None
    resource = fr.task(mine)
    Task.model_validate(resource)
    assert "for" not in resource and SUBJECT not in str(resource)
    request = fr.service_request(mine, None, T0)
    ServiceRequest.model_validate(request)
    assert request["subject"] == {"extension": [{"url": fr.DATA_ABSENT, "valueCode": "masked"}]}


def test_the_other_resources_validate() -> None:
    w = World()
    w.open()
    facts = tasks(w.do(request(), T0))[0]
    consent = consent_view(at=T0)
    resource = fr.service_request(facts, consent, T0)
    ServiceRequest.model_validate(resource)
    assert resource["status"] == "active" and resource["supportingInfo"][0]["reference"] == "#consent"
    contained = resource["contained"][0]
    assert contained["resourceType"] == "Consent" and contained["status"] == "active"
    assert contained["provision"]["type"] == "permit"
    Bundle.model_validate(fr.bundle([fr.task(facts)], "http://gateway/fhir"))
    CapabilityStatement.model_validate(fr.capability_statement(T0))
    problem = fr.outcome(409, "out of turn", "not_now", ["status"])
    OperationOutcome.model_validate(problem)
    assert problem["issue"][0]["details"]["coding"][0]["code"] == "not_now"


def test_a_team_that_did_not_answer_has_its_task_ended_when_its_deadline_was_missed() -> None:
    """A timed-out attempt has no answer moment: its cancelled Task ends (and was last modified) when its answer
    deadline was missed, not at the moment it was asked (its subscribers' notification carries that moment)."""
    w = World()
    w.open()
    w.do(request(), T0)
    view = w.cases.advance(CODE, T0 + 15 * MIN)  # the timer fired late: the miss is recorded at its due moment
    first = tasks(view)[0]
    missed = view.deadline("reponse_equipe.1")
    assert missed is not None and missed.missed_at is not None
    assert (first.status, first.ended, first.last_modified) == (S.CANCELLED, missed.missed_at, missed.missed_at)
    assert first.last_modified > first.authored_on
