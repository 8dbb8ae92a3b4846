"""The directory of services in the record (issue 11), on SQLite and PostgreSQL: the HSDS example imported, read
back by a new process and exported equal; a referral to a directory service through the crisis workflow on the
time-skipping server: a known one recorded, an unknown one refused with its code and nothing recorded; the
directory's hours closing an organisation to the cascade and to a supervisor's reassignment (directory_not_serving)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.clock import QUEBEC
from domain.crisis import commands as c
from domain.crisis.model import ReceivingService, ReceivingServiceType, ReferralChannel, TeamRef, new_case_code
from domain.crisis.state import AttemptStatus, CaseStage, CaseView
from domain.directory.aggregate import Directory
from domain.directory.model import DirectoryService, Sector
from domain.errors import DomainError
from domain.hours import ServiceHours, Window
from tests.crisis_builders import (
    MIN,
    SUBJECT,
    TEAM,
    accept,
    act,
    activate,
    arrive,
    crisis_content,
    decline,
    names,
    open_cmd,
    outcome,
    request,
    start_case,
    sup,
    until,
    wait_for,
)
from usecases.crisis import CrisisCases
from usecases.directory import Services
from usecases.ententes import Ententes

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "annuaire-laval.hsds.json"
T0 = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)


def directory_events(record: Record) -> int:
    return len(list(record.events_of(Directory.ServiceRecorded, sealed=True)))  # type: ignore[attr-defined]


def test_the_hsds_example_round_trips_through_the_record(record: Record, store_env: dict[str, str]) -> None:
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    services = Services(record)
    assert services.import_hsds(doc, "admin", T0) == 8
    assert services.import_hsds(doc, "admin", T0) == 0  # the same again: nothing recorded
    assert directory_events(record) == 8
    other = Record(store_env)  # another process reading the same store
    try:
        assert Services(other).export_hsds() == doc
        assert Services(other).get("omh-laval-logement").current_wait == "18 mois"
    finally:
        other.close()


def test_a_bad_document_or_a_duplicate_records_nothing(record: Record) -> None:
    services = Services(record)
    services.import_hsds(json.loads(EXAMPLE.read_text(encoding="utf-8")), "admin", T0)
    before = directory_events(record)
    with pytest.raises(DomainError) as err:
        services.import_hsds({"organizations": [], "services": [{"id": "x", "organization_id": "nobody",
                                                                  "name": "X", "service_areas": [{"name": "l"}]}]},
                             "admin", T0)
    assert err.value.code == "invalid_hsds"
    changed = services.get("omh-laval-logement").model_copy(update={"current_wait": "2 ans"})
    with pytest.raises(DomainError) as err:
        services.add(changed, "admin", T0)
    assert err.value.code == "duplicate_service"
    assert directory_events(record) == before


def _refer(service_id: str | None, org: str) -> c.StartReferral:
    return c.StartReferral(
        by="eq-1", actor_org="cisss-laval", subject_id=SUBJECT, channel=ReferralChannel.TELEPHONE,
        receiving=ReceivingService(org_id=org, service=ReceivingServiceType.OTHER, directory_service_id=service_id),
    )


async def test_a_referral_names_a_directory_service_or_is_refused(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases, record: Record
) -> None:
    Services(record).import_hsds(json.loads(EXAMPLE.read_text(encoding="utf-8")), "admin", T0)
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue)
    for cmd in (request(), accept(), arrive(), outcome()):
        await act(handle, cmd)
    before = names(cases, code)
    for refused, expected in [(_refer("inconnu", "omh-laval"), "unknown_directory_service"),
                              (_refer("omh-laval-logement", "cle-laval"), "directory_org_mismatch")]:
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update("act", refused, result_type=CaseView)
        cause = info.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == expected, cause
        assert names(cases, code) == before
    view = await act(handle, _refer("omh-laval-logement", "omh-laval"))
    assert view.stage is CaseStage.REFERRAL
    assert view.referrals[0].receiving.directory_service_id == "omh-laval-logement"
    assert names(cases, code) == [*before, "ReferralSent"]


async def test_the_directory_hours_close_an_organisation_to_the_cascade_and_the_reassignment(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases, record: Record
) -> None:
    """The directory lists cc-laval's crisis service open three minutes from the request (its `schedule`, Québec
    time): proposed at the request, skipped by the cascade after the CSSS team declines five minutes later (the
    supervisor gets the case), and a supervisor's reassignment to it refused through the workflow with
    `directory_not_serving`, nothing recorded. Seed 001 L1259-1260, seed 002 L435-437."""
    now = await time_env.get_current_time()
    activate(Ententes(record), "ENT-DIR", crisis_content("cc-laval"), now)
    local = now.astimezone(QUEBEC).replace(second=0, microsecond=0)
    window = Window(days=[local.isoweekday()], opens=local.time(), closes=(local + 3 * MIN).time())
    Services(record).add(DirectoryService(
        service_id="cc-laval-crise", name="Crise", organisation_id="cc-laval", organisation_name="Centre de crise",
        territory="laval", sector=Sector.CRISE, schedule=ServiceHours(windows=[window])), "annuaire", now)
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue)
    view = await act(handle, request([TEAM]))
    assert [x.team.team_id for x in view.candidates] == ["crise-laval-1", "cc-laval"]
    await time_env.sleep(5 * 60)
    view = await act(handle, decline(TEAM))
    assert (view.stage, [a.candidate.team.team_id for a in view.attempts]) == (CaseStage.SUPERVISOR,
                                                                               ["crise-laval-1"])
    before = names(cases, code)
    cmd = sup(c.Reassign, team=TeamRef(team_id="cc-laval", org_id="cc-laval"), reason="rappeler l'organisme")
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update("act", cmd, result_type=CaseView)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "directory_not_serving", cause
    assert "cc-laval-crise" in cause.message
    assert names(cases, code) == before


async def test_the_timers_cascade_skips_an_organisation_the_directory_stopped(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases, record: Record
) -> None:
    """The CSSS team does not answer in time: the cascade the timer makes (case.advance) reads the directory as a
    decline's does. cc-laval's crisis service, listed active at the request, is recorded inactive before the
    answer falls due: the timer goes past it to the supervisor (seed 001 L1259-1260, seed 002 L435-437)."""
    now = await time_env.get_current_time()
    activate(Ententes(record), "ENT-DIR", crisis_content("cc-laval"), now)
    listed = DirectoryService(service_id="cc-laval-crise", name="Crise", organisation_id="cc-laval",
                              organisation_name="Centre de crise", territory="laval", sector=Sector.CRISE)
    Services(record).add(listed, "annuaire", now)
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue)
    view = await act(handle, request([TEAM]))
    assert [x.team.team_id for x in view.candidates] == ["crise-laval-1", "cc-laval"]
    Services(record).add(listed.model_copy(update={"active": False}), "annuaire", await time_env.get_current_time(),
                         replace=True)
    due = view.deadline("reponse_equipe.1").due_at  # type: ignore[union-attr]
    await time_env.sleep(until(due, await time_env.get_current_time()))
    view = await wait_for(handle, "the supervisor given the case", lambda v: v.stage is CaseStage.SUPERVISOR)
    assert [(a.candidate.team.team_id, a.status) for a in view.attempts] == [("crise-laval-1",
                                                                              AttemptStatus.TIMED_OUT)]
    assert names(cases, code)[-2:] == ["HandoffTimedOut", "Escalated"]
