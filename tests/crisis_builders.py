"""Builders shared by the crisis case tests: commands as the parties would give them, ententes in force
(in memory for the unit tests, tests/crisis_world.py), a case started the way a partner system starts
it (update-with-start), refusals checked the way that system sees them (a failed update, no event in
the record, no acceptance in Temporal's history).

The personal strings below are deliberately distinctive, so the privacy tests can look for them
in workflow ids and search attributes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from adapters.record.record import Record
from domain.crisis import commands as c
from domain.crisis.model import (
    EmergencyService,
    Intake,
    IntakeService,
    InterventionOutcome,
    ReceivingService,
    ReceivingServiceType,
    ReferralChannel,
    RequestMode,
    RiskEstimates,
    RiskLevel,
    SpecificEpisode,
    TeamRef,
    UrgencyLevel,
)
from domain.crisis.state import CaseView
from domain.ententes import commands as ac
from domain.ententes.model import (
    AccessModalities,
    EntenteContent,
    InformationSharing,
    Party,
    ServiceCode,
    ServiceOffer,
)
from domain.ententes.state import EntenteStatus, EntenteView
from domain.standards.config import StandardsConfig
from tests.factories import CISSS, service_entente
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from workers.settings import Settings
from workers.worker import build_worker
from workflows.crisis import CaseWorkflowInput, CrisisCaseWorkflow, workflow_id

T0 = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)  # the unit tests' moment: a weekday afternoon
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

CSSS = "cisss-laval"
TERRITORY = "laval"
TEAM = TeamRef(team_id="crise-laval-1", org_id=CSSS)
TEAM_2 = TeamRef(team_id="crise-laval-2", org_id=CSSS)
RECEIVING = "clsc-ouest"
SUBJECT = "p-7f3a9c2e"
# What an intake carries in words: none of it may reach a workflow id or a search attribute.
REASON = "Idees suicidaires apres rupture, Jean-Tremblay-1957"
PERSON_REF = "RAMQ-TREJ57031299"
NOTE = "Appel a l'accueil: Jean rappelle demain"

ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED


# ---------------------------------------------------------------------- commands
def open_cmd(
    code: str, *, service: IntakeService = IntakeService.INFO_SOCIAL, urgency: UrgencyLevel = UrgencyLevel.HIGH,
    face: bool = True, mode: RequestMode = RequestMode.PHONE, actor: str = CSSS,
    received: datetime | None = None, first: datetime | None = None, subject: str = SUBJECT,
    personal: dict[str, str] | None = None, command_id: str = "",
) -> c.OpenCase:
    return c.OpenCase(
        by="intervenant-1", actor_org=actor, command_id=command_id, case_code=code, responsible_org=CSSS,
        territory=TERRITORY, subject_id=subject,
        personal={"reason": REASON, "person_ref": PERSON_REF} if personal is None else personal,
        intake=Intake(service=service, request_mode=mode, urgency=urgency, face_to_face_needed=face,
                      risks=RiskEstimates(suicide=RiskLevel.HIGH), p38_considered=True),
        received_at=received, first_contact_at=first,
    )


def request(teams: list[TeamRef] | None = None, episode: SpecificEpisode | None = None) -> c.RequestMobileIntervention:
    return c.RequestMobileIntervention(by="intervenant-1", actor_org=CSSS,
                                       csss_teams=[TEAM] if teams is None else teams, episode=episode)


def accept(team: TeamRef = TEAM) -> c.AcceptHandoff:
    return c.AcceptHandoff(by=f"{team.team_id}-chef", actor_org=team.org_id, team_id=team.team_id)


def decline(team: TeamRef = TEAM, reason: str = "équipe déjà mobilisée") -> c.DeclineHandoff:
    return c.DeclineHandoff(by=f"{team.team_id}-chef", actor_org=team.org_id, team_id=team.team_id, reason=reason)


def arrive(org: str = CSSS) -> c.RecordArrival:
    return c.RecordArrival(by="eq-1", actor_org=org)


def outcome(
    result: InterventionOutcome = InterventionOutcome.CRISIS_RESOLVED, *,
    services: list[EmergencyService] | None = None, p38: bool = False, org: str = CSSS,
) -> c.RecordOutcome:
    return c.RecordOutcome(by="eq-1", actor_org=org, outcome=result, emergency_services=services or [],
                           p38_applied=p38, subject_id=SUBJECT, personal={"notes": NOTE})


def referral(service: ReceivingServiceType = ReceivingServiceType.CONSULTATION_SOCIALE,
             org: str = CSSS, note: str = NOTE) -> c.StartReferral:
    return c.StartReferral(
        by="eq-1", actor_org=org, subject_id=SUBJECT, channel=ReferralChannel.TELEPHONE,
        receiving=ReceivingService(org_id=RECEIVING, service=service), personal={"note": note},
    )


def accept_referral() -> c.AcceptReferral:
    return c.AcceptReferral(by="accueil-1", actor_org=RECEIVING, intake_worker="intervenante à l'accueil")


def refuse_referral(reason: str = "hors territoire") -> c.RefuseReferral:
    return c.RefuseReferral(by="accueil-1", actor_org=RECEIVING, reason=reason)


def reached(org: str = RECEIVING) -> c.ConfirmReached:
    return c.ConfirmReached(by="accueil-1", actor_org=org)


def follow_up(plan: str = "suivi_crise_courte_duree") -> c.StartFollowUp:
    return c.StartFollowUp(by="eq-1", actor_org=CSSS, plan=plan)


def contact(number: int) -> c.RecordContact:
    return c.RecordContact(by="eq-1", actor_org=CSSS, contact_number=number)


def sup(cls: type[c.Command], **kw: Any) -> Any:
    """A command given by a supervisor of the responsible CSSS."""
    return cls(by="superviseur-1", actor_org=CSSS, **kw)


# ---------------------------------------------------------------------- ententes
def memory_record() -> Record:
    """A record in memory (eventsourcing.popo): the unit tests' store."""
    return Record(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def crisis_content(
    provider: str = "cc-laval", *, territory: str = TERRITORY, sharing: bool = True, overrides: bool = False,
    may_refer: list[str] | None = None, end: date | None = None, notice_days: int = 90,
) -> EntenteContent:
    """A service entente of the CSSS with `provider` for mobile crisis in `territory` (sharing permitted
    unless `sharing` is false): the factory's crisis entente with the clauses a test needs."""
    base = service_entente(effective=None, end=end, notice_days=notice_days)
    refer = [] if may_refer is None else may_refer
    return EntenteContent.model_validate({
        **base.model_dump(),
        "parties": [CISSS.model_dump(), Party(party_id=provider, name=f"Organisme {provider}", type="centre_crise",
                                              territories=[territory]).model_dump(),
                    *[Party(party_id=p, name=f"Partenaire {p}", type="organisme_communautaire").model_dump()
                      for p in refer if p not in {provider, CSSS}]],
        "services": [ServiceOffer(service=ServiceCode.INTERVENTION_CRISE_MOBILE, provider=provider,
                                  territories=[territory]).model_dump()],
        "commitments": [],
        "access": AccessModalities(may_refer=[CSSS, *refer], overrides_specific_program=overrides).model_dump(),
        "information_sharing": (
            InformationSharing(permitted=True, purposes=["continuité"], security_measures=["chiffrement"])
            if sharing else InformationSharing(permitted=False)
        ).model_dump(),
    })


def activate(ententes: Ententes, code: str, text: EntenteContent, at: datetime = T0) -> EntenteView:
    """Draft, submit, have every party sign, and let the calendar put the entente in force (same record)."""
    ententes.draft(ac.DraftEntente(by="dsp", code=code, content=text), at)
    ententes.execute(code, ac.SubmitForSignature(by="dsp"), at)
    for party in text.party_ids:
        ententes.execute(code, ac.SignEntente(by=party, party_id=party, version=1, signatory="D.G."), at)
    view = ententes.advance(code, at)
    assert view.status is EntenteStatus.ACTIVE
    return view


# ---------------------------------------------------------------------- workers and workflows
@asynccontextmanager
async def crisis_worker(
    client: Client, task_queue: str, record: Record, tmp_path: Path, *, standards_file: Path | None = None,
) -> AsyncIterator[CrisisCases]:
    """The production worker (`build_worker`) on a fresh task queue over `record`; yields a reader of it."""
    settings = Settings(task_queue=task_queue, data_dir=tmp_path, standards_file=standards_file)
    with ThreadPoolExecutor(4) as executor:
        async with build_worker(client, settings, record, executor=executor):
            try:
                yield CrisisCases(record, settings.standards())
            finally:
                await terminate_open_cases(task_queue)


# Cases started per task queue: a test ends its still-running cases, so that no timer of theirs fires later
# on the shared time-skipping server with no worker to take the workflow task (that would hold its clock).
_STARTED: dict[str, list[WorkflowHandle[Any, Any]]] = {}


async def terminate_open_cases(task_queue: str) -> None:
    for handle in _STARTED.pop(task_queue, []):
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate(reason="end of test")


async def start_case(
    client: Client, cmd: c.OpenCase, task_queue: str, *, config: StandardsConfig | None = None,
    search_attributes: bool = False, update_id: str | None = None, history_limit: int | None = None,
) -> tuple[WorkflowHandle[Any, Any], CaseView]:
    """The first message creates the case: update `open` with start (USE_EXISTING, like a retried intake)."""
    op = WithStartWorkflowOperation(
        CrisisCaseWorkflow.run,
        CaseWorkflowInput.starting(cmd.case_code, config or StandardsConfig(), search_attributes=search_attributes,
                                   **({"history_limit": history_limit} if history_limit is not None else {})),
        id=workflow_id(cmd.case_code), task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    try:
        view = await client.execute_update_with_start_workflow(
            CrisisCaseWorkflow.open, cmd, start_workflow_operation=op, id=update_id or f"open-{cmd.case_code}",
        )
    finally:
        _STARTED.setdefault(task_queue, []).append(client.get_workflow_handle(workflow_id(cmd.case_code)))
    return await op.workflow_handle(), view


async def act(handle: WorkflowHandle[Any, Any], cmd: c.Command, update_id: str | None = None) -> CaseView:
    view: CaseView = await handle.execute_update("act", cmd, id=update_id, result_type=CaseView)
    return view


async def state(handle: WorkflowHandle[Any, Any]) -> CaseView:
    view = await handle.query(CrisisCaseWorkflow.state)
    assert view is not None
    return view


async def wait_for(
    handle: WorkflowHandle[Any, Any], what: str, predicate: Callable[[CaseView], bool], *, within: float = 60.0,
) -> CaseView:
    """A timer fired: the workflow records the transition through an activity. Poll `state` until it shows
    (bounded in real time; the bound is a failure, never an assertion about speed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        view = await state(handle)
        if predicate(view):
            return view
        if loop.time() > deadline:
            pytest.fail(f"{handle.id}: {what} never happened; stage={view.stage}, events={view.event_count}")
        await asyncio.sleep(0.05)


async def accepted_update_ids(handle: WorkflowHandle[Any, Any]) -> set[str]:
    history = await handle.fetch_history()
    return {
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in history.events if e.event_type == ACCEPTED
    }


def names(cases: CrisisCases, code: str) -> list[str]:
    return [h["event"] for h in cases.history(code)]


async def assert_refused(
    handle: WorkflowHandle[Any, Any], cases: CrisisCases, code: str, cmd: c.Command, expected: str, *parts: str,
) -> ApplicationError:
    """Refused by the update validator: the update fails with an ApplicationError typed `expected`, the record
    gains no event and Temporal's history holds no acceptance of that update."""
    before = names(cases, code)
    update_id = f"refused-{expected}-{uuid.uuid4().hex[:8]}"
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update("act", cmd, id=update_id, result_type=CaseView)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError), repr(cause)
    assert cause.type == expected, (cause.type, cause.message)
    for part in parts:
        assert part in cause.message, (part, cause.message)
    assert names(cases, code) == before
    assert update_id not in await accepted_update_ids(handle)
    return cause


def until(moment: datetime, now: datetime, margin: timedelta = MIN) -> timedelta:
    """How long to sleep from `now` to just past `moment`."""
    return moment.astimezone(UTC) - now.astimezone(UTC) + margin


def command_ids(cases: CrisisCases, code: str) -> list[str]:
    return [h["command_id"] for h in cases.history(code) if h.get("command_id")]
