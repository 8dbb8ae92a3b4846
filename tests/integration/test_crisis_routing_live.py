"""Routing follows the ententes of the record, live: ententes driven through the real `EntenteWorkflow`
(drafted, signed, activated, revoked with notice, left to expire, on the time-skipping server), crisis cases
driven through `CrisisCaseWorkflow`, one worker and one record for both.

Seed 001, Fiche 3: a community organisation intervenes « dans le cadre d'entente » (L1181-1184); a person
with an active specific-program episode is « généralement dirigée vers ces programmes … à moins d'une
entente à ce sujet » (L1241-1243); a partner refers only under « une entente à cet effet » (L1172-1173).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.clock import add_days, local_date, start_of
from domain.crisis import commands as c
from domain.crisis.model import CandidateKind, IntakeService, SpecificEpisode, TeamRef, new_case_code
from domain.crisis.state import CaseStage
from domain.ententes import commands as ac
from domain.ententes.model import EntenteContent
from domain.ententes.state import EntenteStatus
from tests.crisis_builders import (
    CSSS,
    act,
    activate,
    crisis_content,
    decline,
    names,
    open_cmd,
    request,
    start_case,
    sup,
    until,
)
from tests.integration.lifecycle import start as start_entente
from tests.integration.lifecycle import wait_for as wait_for_entente
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from workflows.entente import EntenteWorkflow

EPISODE = SpecificEpisode(program="sante-mentale-adulte", team=TeamRef(team_id="sma-laval", org_id=CSSS))
Route = list[tuple[str, CandidateKind, str | None]]


async def _entente_in_force(
    env: WorkflowEnvironment, code: str, content: EntenteContent, task_queue: str
) -> WorkflowHandle[Any, Any]:
    """Through the entente's workflow: drafted, submitted, signed by every party; no effective date, so in
    force on its last signature."""
    handle, _ = await start_entente(env.client, code, content, task_queue)
    await handle.execute_update(EntenteWorkflow.act, ac.SubmitForSignature(by="superviseur"))
    for party in content.party_ids:
        await handle.execute_update(EntenteWorkflow.act, ac.SignEntente(
            by=party, party_id=party, version=1, signatory=f"DG {party}"))
    await wait_for_entente(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    return handle


async def _routed(env: WorkflowEnvironment, task_queue: str, *, episode: SpecificEpisode | None = None,
                  service: IntakeService = IntakeService.INFO_SOCIAL, actor: str = CSSS
                  ) -> tuple[WorkflowHandle[Any, Any], str, Route]:
    """A new case asks for a mobile intervention: the candidates routing proposed, in order."""
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code, service=service, actor=actor), task_queue)
    view = await act(handle, request(episode=episode))
    return handle, code, [(x.team.team_id, x.kind, x.agreement_code) for x in view.candidates]


async def _end(handles: list[WorkflowHandle[Any, Any]]) -> None:
    for h in handles:
        if (await h.describe()).status == WorkflowExecutionStatus.RUNNING:
            await h.terminate(reason="end of test")


OWN = ("crise-laval-1", CandidateKind.CSSS_TEAM, None)


async def test_an_organisation_is_asked_under_its_entente_until_the_revocation_takes_effect(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """L1181-1184: with an entente in force covering mobile crisis in Laval, the centre de crise is a
    candidate and is asked when the CSSS team declines; a revocation notice leaves it in force until its
    effective date (notice period), then a new case no longer routes to it — and a partner that referred
    under that entente (L1172-1173) can no longer open a case."""
    env = time_env
    content = crisis_content("cc-laval", may_refer=["cps-laval"], notice_days=30)
    entente = await _entente_in_force(env, "ENT-CC-REV", content, task_queue)
    try:
        handle, code, route = await _routed(env, task_queue)
        assert route == [OWN, ("cc-laval", CandidateKind.COMMUNITY_ORG, "ENT-CC-REV")]
        view = await act(handle, decline())
        assert view.pending_attempt is not None and view.pending_attempt.candidate.team.team_id == "cc-laval"
        assert names(cases, code)[-2:] == ["HandoffDeclined", "TeamAsked"]

        _, partner = await start_case(env.client, open_cmd(
            new_case_code(), service=IntakeService.PARTNER, actor="cps-laval"), task_queue)
        assert partner.referring_agreement == "ENT-CC-REV" and partner.intake_org == "cps-laval"

        effective = add_days(local_date(await env.get_current_time()), 30)
        await entente.execute_update(EntenteWorkflow.act, ac.GiveRevocationNotice(
            by="dsp", party_id=CSSS, reason="fin du service mobile", effective_date=effective))
        _, _, noticed = await _routed(env, task_queue)
        assert noticed == route  # in force until the revocation takes effect

        await env.sleep(until(start_of(effective), await env.get_current_time()))
        final = await entente.result()
        assert final is not None and final.status is EntenteStatus.REVOKED
        after, late_code, revoked = await _routed(env, task_queue)
        assert revoked == [OWN]
        view = await act(after, decline())
        assert view.stage is CaseStage.SUPERVISOR  # nobody else to ask: a supervisor is called
        assert names(cases, late_code) == [
            "Opened", "MobileInterventionRequested", "TeamAsked", "HandoffDeclined", "Escalated"]
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await start_case(env.client, open_cmd(
                new_case_code(), service=IntakeService.PARTNER, actor="cps-laval"), task_queue)
        assert isinstance(info.value.cause, ApplicationError) and info.value.cause.type == "no_agreement"
        assert [h["event"] for h in Ententes(cases.record).history("ENT-CC-REV")][-2:] == [
            "RevocationNoticeGiven", "Revoked"]
    finally:
        await _end([entente])


async def test_an_expired_entente_stops_routing_to_its_organisation(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """L1181-1184: an entente routes only while in force; past its end date (recorded by the entente's
    workflow when the server skips there) a new case does not route to its organisation."""
    env = time_env
    end: date = add_days(local_date(await env.get_current_time()), 20)
    entente = await _entente_in_force(env, "ENT-CC-EXP", crisis_content("cc-exp", end=end), task_queue)
    try:
        _, _, before = await _routed(env, task_queue)
        assert before == [OWN, ("cc-exp", CandidateKind.COMMUNITY_ORG, "ENT-CC-EXP")]
        await env.sleep(until(start_of(add_days(end, 1)), await env.get_current_time()))
        await wait_for_entente(entente, "expiry", lambda v: v.status is EntenteStatus.EXPIRED)
        _, _, after = await _routed(env, task_queue)
        assert after == [OWN]
    finally:
        await _end([entente])


async def test_a_specific_program_episode_routes_to_the_program_unless_an_entente_overrides(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """L1241-1243: a person with an active episode in a specific program is directed to that program first;
    « à moins d'une entente à ce sujet »: an entente in force saying so (`overrides_specific_program`) puts
    its provider first and the program last; once it is revoked, the program is first again. Ententes put
    in force through the use cases on the same record the worker reads."""
    env = time_env
    ententes = Ententes(cases.record)
    now = await env.get_current_time()
    activate(ententes, "ENT-CPS", crisis_content("cps-laval"), now)
    handle, code, plain = await _routed(env, task_queue, episode=EPISODE)
    assert plain == [("sma-laval", CandidateKind.SPECIFIC_PROGRAM, None), OWN,
                     ("cps-laval", CandidateKind.COMMUNITY_ORG, "ENT-CPS")]
    await act(handle, c.AcceptHandoff(by="sma-1", actor_org=CSSS, team_id="sma-laval"))
    assert names(cases, code)[-1] == "HandoffAccepted"

    activate(ententes, "ENT-CC-PRIO", crisis_content("cc-laval", overrides=True, notice_days=0), now)
    _, _, overridden = await _routed(env, task_queue, episode=EPISODE)
    assert overridden == [("cc-laval", CandidateKind.COMMUNITY_ORG, "ENT-CC-PRIO"), OWN,
                          ("cps-laval", CandidateKind.COMMUNITY_ORG, "ENT-CPS"),
                          ("sma-laval", CandidateKind.SPECIFIC_PROGRAM, None)]

    today = local_date(await env.get_current_time())
    ententes.execute("ENT-CC-PRIO", ac.GiveRevocationNotice(
        by="dsp", party_id=CSSS, reason="programme spécifique repris", effective_date=add_days(today, 1)),
        await env.get_current_time())
    await env.sleep(until(start_of(add_days(today, 1)), await env.get_current_time()))
    ententes.advance("ENT-CC-PRIO", await env.get_current_time())
    assert ententes.view("ENT-CC-PRIO").status is EntenteStatus.REVOKED
    supervised, _, again = await _routed(env, task_queue, episode=EPISODE)
    assert again == plain
    await act(supervised, sup(c.SupervisorClose, reason="fin du test de routage"))
