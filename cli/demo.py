"""`arrimage demo`: a synthetic day of crisis calls against a running `arrimage up`.

Everything goes through the engine as in production: two ententes (a crisis centre and a
suicide-prevention centre) through the entente workflow, then N calls, each through the case
workflow's `open` and `act` updates, acting in turn as Info-Social, AAOR, the suicide-prevention
centre, the mobile teams, the receiving services and the supervisor. Every path of the trajectory
is taken (closing at the phone, accepted, declined then another team, no team → supervisor
reassigns, hospital, crisis housing, P-38.001, follow-up, referrals confirmed, refused, left
unconfirmed, a partner's case the supervisor closes).

Synthetic only: subject ids `demo-…`, reasons "[DÉMO] …", no personal content at all.
Run it twice: the ententes are reused by their codes, the calls get fresh case codes.
With a region's standards: `ARRIMAGE_STANDARDS_FILE=examples/standards-laval.toml` for both `arrimage up`
and `arrimage demo` (tightened figures, and the demo's crisis teams designated for P-38.001).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli import render
from cli.client import root
from cli.display import label
from cli.errors import CliError, Exit, engine_error, reported
from cli.options import DEFAULT_TIMEOUT, Timeout
from cli.templates import CISSS, CPS, template
from domain.clock import local_date
from domain.crisis import commands as c
from domain.crisis.model import (
    ClosureKind,
    CrisisType,
    EmergencyService,
    Intake,
    IntakeService,
    InterventionOutcome,
    PhoneDisposition,
    ReceivingService,
    ReceivingServiceType,
    ReferralChannel,
    RequestMode,
    RiskEstimates,
    RiskLevel,
    TeamRef,
    UrgencyLevel,
    new_case_code,
)
from domain.crisis.state import CaseStage, CaseView
from domain.ententes import commands as ac
from domain.ententes.model import EntenteContent, EntenteKind
from domain.ententes.state import EntenteStatus, EntenteView
from domain.errors import NotFound
from workers.bootstrap import Root

CSSS = "cisss-laval"
CC = "cc-laval"
CPS_ORG = "cps-laval"
TERRITORY = "laval"
TEAM_1 = TeamRef(team_id="crise-laval-1", org_id=CSSS, name="[DÉMO] Équipe mobile de crise 1")
TEAM_2 = TeamRef(team_id="crise-laval-2", org_id=CSSS, name="[DÉMO] Équipe mobile de crise 2")
CLSC = ReceivingService(org_id="clsc-demo-laval", service=ReceivingServiceType.CONSULTATION_SOCIALE,
                        name="[DÉMO] CLSC — consultation sociale")
RESSOURCE = ReceivingService(org_id="ressource-demo-laval", service=ReceivingServiceType.COMMUNITY_RESOURCE,
                             name="[DÉMO] Ressource communautaire")
ENTENTE_CC = "ENT-DEMO-CC-LAVAL"
ENTENTE_CPS = "ENT-DEMO-CPS-LAVAL"

PATHS = [
    "telephone", "equipe_acceptee", "refus_puis_autre_equipe", "aucune_equipe_reassignee", "urgence_hospitaliere",
    "hebergement_crise", "p38", "suivi_post_crise", "reference_confirmee", "reference_refusee",
    "reference_non_confirmee", "partenaire_fermee_superviseur",
]


# ---------------------------------------------------------------------- the ententes
def _cc_content() -> EntenteContent:
    data = template(EntenteKind.SERVICE)
    data["title"] = "[DÉMO] Intervention de crise dans le milieu — Laval"
    return EntenteContent.model_validate(data)


def _cps_content() -> EntenteContent:
    data = template(EntenteKind.SERVICE)
    data.update({
        "title": "[DÉMO] Prévention du suicide : intervention et suivi étroit — Laval",
        "preamble": "[DÉMO] Arrimage d'Info-Social avec le centre de prévention du suicide du territoire.",
        "parties": [CISSS, CPS],
        "services": [
            {"service": "intervention_crise_mobile", "provider": CPS_ORG, "territories": [TERRITORY],
             "description": "[DÉMO] Intervention dans le milieu, personnes à risque suicidaire", "hours": "24/7"},
            {"service": "suivi_etroit", "provider": CPS_ORG, "territories": [TERRITORY],
             "description": "[DÉMO] Suivi étroit après une crise suicidaire"},
        ],
        "commitments": [
            {"party_id": CPS_ORG, "text": "[DÉMO] Rappeler toute personne référée", "access_delay": "24 heures"},
        ],
    })
    data["access"] = {**data["access"], "may_refer": [CSSS, CPS_ORG], "repondants": []}
    return EntenteContent.model_validate(data)


async def ensure_entente(engine: Root, code: str, content: EntenteContent, timeout: float) -> EntenteView:
    """Draft, submit and have every party sign — or reuse the entente a previous run made."""
    ententes = engine.entente_client
    view = _entente(engine, code)
    if view is None:
        view = await ententes.draft(ac.DraftEntente(by="demo-dsp", code=code, content=content), timeout)
    if view.status is EntenteStatus.DRAFT:
        view = await ententes.command(code, ac.SubmitForSignature(by="demo-dsp"), timeout)
    if view.status is EntenteStatus.IN_SIGNATURE and view.proposal is not None:
        for party in content.party_ids:
            if not view.proposal.signed_by(party):
                view = await ententes.command(code, ac.SignEntente(
                    by="demo-dsp", party_id=party, version=view.proposal.version,
                    signatory=f"[DÉMO] Direction {party}", title="Directeur général (fictif)"), timeout)
    deadline = time.monotonic() + timeout
    while view.status is not EntenteStatus.ACTIVE:  # the workflow activates it on the last signature
        if view.status.ended:
            raise CliError(Exit.FAILED, f"demo entente {code} is {view.status.value}: use another data directory")
        if time.monotonic() > deadline:
            raise CliError(Exit.UNREACHABLE, f"unreachable: entente {code} was not activated within {timeout:g}s")
        await asyncio.sleep(0.2)
        view = _entente(engine, code) or view
    return view


def _entente(engine: Root, code: str) -> EntenteView | None:
    """The entente as the record has it (the root's one record, read again at each poll)."""
    try:
        return engine.ententes.view(code)
    except NotFound:
        return None


# ---------------------------------------------------------------------- one call
@dataclass
class Call:
    number: int
    path: str
    rng: random.Random
    code: str = field(default_factory=new_case_code)
    view: CaseView | None = None
    steps: int = 0
    error: str | None = None

    @property
    def subject(self) -> str:
        return f"demo-{self.code[2:].lower()}"


Act = Callable[[c.Command], Awaitable[CaseView]]


def _intake(call: Call, service: IntakeService, *, face: bool, urgent: bool = True) -> Intake:
    r = call.rng
    level = r.choice([UrgencyLevel.IMMEDIATE, UrgencyLevel.HIGH, UrgencyLevel.MODERATE]) if urgent else (
        UrgencyLevel.NONE)
    suicide = r.choice([RiskLevel.LOW, RiskLevel.MODERATE, RiskLevel.HIGH])
    return Intake(
        service=service, request_mode=r.choice([RequestMode.PHONE, RequestMode.IN_PERSON]) if service is
        IntakeService.AAOR else RequestMode.PHONE,
        crisis_type=CrisisType.SUICIDAIRE if call.path in {"p38", "suivi_post_crise"} else r.choice(
            [CrisisType.PSYCHOSOCIALE, CrisisType.PSYCHIATRIQUE, CrisisType.SUICIDAIRE, CrisisType.AUTRE]),
        urgency=level, face_to_face_needed=face, p38_considered=call.path == "p38",
        risks=RiskEstimates(suicide=suicide, dangerousness=r.choice([RiskLevel.ABSENT, RiskLevel.LOW]),
                            decompensation=r.choice([RiskLevel.ABSENT, RiskLevel.LOW, RiskLevel.MODERATE])),
    )


def _open_command(call: Call, now: datetime) -> c.OpenCase:
    r = call.rng
    face = call.path not in {"telephone", "reference_refusee"}
    if call.path == "partenaire_fermee_superviseur":
        service, actor = IntakeService.PARTNER, CPS_ORG
    elif call.path in {"reference_refusee", "reference_confirmee"}:
        service, actor = IntakeService.AAOR, CSSS
    else:
        service, actor = IntakeService.INFO_SOCIAL, CSSS
    intake = _intake(call, service, face=face, urgent=call.path != "telephone")
    # The call came in a few minutes ago (hours for AAOR): the Info-Social 4-minute and AAOR clocks.
    ago = timedelta(hours=r.uniform(1, 30)) if service is IntakeService.AAOR else timedelta(minutes=r.uniform(2, 12))
    received = now - ago
    first = min(received + (ago * r.uniform(0.05, 0.9)), now)
    return c.OpenCase(
        by=f"demo-{actor}-intervenant-{r.randint(1, 9)}", actor_org=actor, case_code=call.code,
        responsible_org=CSSS, territory=TERRITORY, intake=intake, subject_id=call.subject,
        received_at=received if service is not IntakeService.PARTNER else None,
        first_contact_at=first if service is not IntakeService.PARTNER else None,
    )


async def _handoff(call: Call, do: Act, *, accept_after: int | None, csss_teams: list[TeamRef]) -> CaseView:
    """Request a mobile team; the first `accept_after` asked decline (None: every one declines)."""
    view = await do(c.RequestMobileIntervention(by="demo-info-social", actor_org=call.view.intake_org
                                                if call.view else CSSS, csss_teams=csss_teams))
    declined = 0
    while (attempt := view.pending_attempt) is not None:
        team = attempt.candidate.team
        if accept_after is not None and declined >= accept_after:
            return await do(c.AcceptHandoff(by=f"demo-{team.team_id}", actor_org=team.org_id, team_id=team.team_id))
        view = await do(c.DeclineHandoff(by=f"demo-{team.team_id}", actor_org=team.org_id, team_id=team.team_id,
                                         reason="[DÉMO] Équipe déjà en intervention"))
        declined += 1
    return view


async def _intervene(call: Call, do: Act, view: CaseView, outcome: InterventionOutcome,
                     services: list[EmergencyService] | None = None) -> CaseView:
    assert view.intervention is not None, f"{call.code}: no team accepted"
    org = view.intervention.team.org_id
    await do(c.RecordArrival(by="demo-equipe", actor_org=org))
    return await do(c.RecordOutcome(
        by="demo-equipe", actor_org=org, outcome=outcome, emergency_services=services or [],
        p38_applied=outcome is InterventionOutcome.P38_APPLICATION, subject_id=call.subject,
    ))


async def _follow_up(do: Act, view: CaseView, plan: str, provider: str, plans: list[str]) -> CaseView:
    chosen = plan if plan in plans else plans[0]
    assert view.holder is not None
    view = await do(c.StartFollowUp(by="demo-intervenant", actor_org=view.holder, plan=chosen, provider_org=provider))
    current = view.current_follow_up
    assert current is not None
    for contact in current.contacts:
        view = await do(c.RecordContact(by=f"demo-{provider}-suivi", actor_org=provider,
                                        contact_number=contact.number))
    return view


async def _close(do: Act, view: CaseView, reason: str) -> CaseView:
    assert view.holder is not None
    return await do(c.CloseCase(by="demo-intervenant", actor_org=view.holder, reason=reason))


def _referral(call: Call, view: CaseView, receiving: ReceivingService) -> c.StartReferral:
    assert view.holder is not None
    return c.StartReferral(by="demo-intervenant", actor_org=view.holder, receiving=receiving,
                           channel=ReferralChannel.TELEPHONE, subject_id=call.subject)


async def run_call(call: Call, do: Act, open_: Callable[[c.OpenCase], Awaitable[CaseView]],
                   plans: list[str]) -> CaseView:
    view = await open_(_open_command(call, datetime.now(UTC)))
    call.view = view
    p = call.path
    ok = InterventionOutcome.CRISIS_RESOLVED
    if p == "telephone":
        return await do(c.CloseAtPhone(by="demo-info-social", actor_org=CSSS,
                                       disposition=call.rng.choice(list(PhoneDisposition)),
                                       reason="[DÉMO] Crise désamorcée au téléphone"))
    if p == "reference_refusee":
        view = await do(_referral(call, view, RESSOURCE))
        view = await do(c.RefuseReferral(by="demo-accueil", actor_org=RESSOURCE.org_id,
                                         reason="[DÉMO] Hors mandat de la ressource"))
        return await do(c.CloseAtPhone(by="demo-aaor", actor_org=CSSS, disposition=PhoneDisposition.ORIENTATION,
                                       reason="[DÉMO] Orientée vers une autre ressource"))
    if p == "partenaire_fermee_superviseur":
        view = await _handoff(call, do, accept_after=0, csss_teams=[])
        return await do(c.SupervisorClose(by="demo-superviseure", actor_org=CSSS,
                                          reason="[DÉMO] Personne introuvable; relance confiée au partenaire"))
    if p == "aucune_equipe_reassignee":
        view = await _handoff(call, do, accept_after=None, csss_teams=[TEAM_1])
        view = await do(c.Reassign(by="demo-superviseure", actor_org=CSSS, team=TEAM_2,
                                   reason="[DÉMO] Équipe de garde rappelée"))
        view = await do(c.AcceptHandoff(by="demo-crise-laval-2", actor_org=CSSS, team_id=TEAM_2.team_id))
        view = await _intervene(call, do, view, ok)
        return await _close(do, view, "[DÉMO] Crise désamorcée")
    accept_after = 1 if p == "refus_puis_autre_equipe" else 0
    view = await _handoff(call, do, accept_after=accept_after, csss_teams=[TEAM_1])
    if p == "urgence_hospitaliere":
        view = await _intervene(call, do, view, InterventionOutcome.HOSPITAL_EMERGENCY, [EmergencyService.AMBULANCE])
        return await _close(do, view, "[DÉMO] Transport à l'urgence hospitalière")
    if p == "p38":
        view = await _intervene(call, do, view, InterventionOutcome.P38_APPLICATION,
                                [EmergencyService.POLICE, EmergencyService.AMBULANCE])
        return await _close(do, view, "[DÉMO] Transport sous P-38.001, art. 8")
    if p == "hebergement_crise":
        view = await _intervene(call, do, view, InterventionOutcome.CRISIS_HOUSING)
        view = await _follow_up(do, view, "hebergement_temporaire", CC, plans)
        return await _close(do, view, "[DÉMO] Fin de l'hébergement de crise")
    if p == "suivi_post_crise":
        view = await _intervene(call, do, view, ok)
        view = await _follow_up(do, view, "suivi_etroit", CPS_ORG, plans)
        return await _close(do, view, "[DÉMO] Suivi étroit terminé")
    view = await _intervene(call, do, view, ok)
    if p == "refus_puis_autre_equipe":
        if view.holder != view.intake_org:
            view = await do(c.HandBack(by="demo-equipe", actor_org=view.holder or CC,
                                       reason="[DÉMO] Retour à Info-Social"))
        return await _close(do, view, "[DÉMO] Crise désamorcée")
    if p in {"reference_confirmee", "reference_non_confirmee"}:
        view = await do(_referral(call, view, CLSC))
        view = await do(c.AcceptReferral(by="demo-accueil-clsc", actor_org=CLSC.org_id,
                                         intake_worker="intervenante à l'accueil (fictive)"))
        if p == "reference_confirmee":
            view = await do(c.ConfirmReached(by="demo-accueil-clsc", actor_org=CLSC.org_id))
        return view
    return await _close(do, view, "[DÉMO] Crise désamorcée")


# ---------------------------------------------------------------------- the day
async def run_demo(engine: Root, calls: int, seed: int, concurrency: int, timeout: float,
                   progress: Progress | None) -> tuple[list[Call], list[EntenteView], float]:
    t0 = time.monotonic()
    await engine.temporal.client()  # Temporal unreachable: said before anything is sent
    ent_task = progress.add_task("ententes (entente workflow)", total=2) if progress else None
    ententes = []
    for code, content in ((ENTENTE_CC, _cc_content()), (ENTENTE_CPS, _cps_content())):
        ententes.append(await ensure_entente(engine, code, content, timeout))
        if progress and ent_task is not None:
            progress.advance(ent_task)
    plans = list(engine.settings.standards().follow_up_plans)
    cases = engine.case_client
    rng = random.Random(seed)
    todo = [Call(number=i + 1, path=PATHS[i % len(PATHS)], rng=random.Random(rng.random())) for i in range(calls)]
    task = progress.add_task("appels (crisis cases)", total=calls) if progress else None
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Call) -> None:
        async def do(cmd: c.Command) -> CaseView:
            call.steps += 1
            call.view = await cases.act(call.code, cmd, timeout)
            return call.view

        async def open_(cmd: c.OpenCase) -> CaseView:
            call.steps += 1
            return await cases.open(cmd, timeout)

        async with gate:
            await asyncio.sleep(call.rng.uniform(0, 0.2))  # calls do not all arrive at once
            try:
                call.view = await run_call(call, do, open_, plans)
            except Exception as err:  # one broken call must not hide the rest of the day
                known = engine_error(err)  # the engine's own failures, worded; anything else by its type
                if known is not None and known.exit_code is Exit.UNREACHABLE:
                    raise
                call.error = known.message if known is not None else f"{type(err).__name__}: {err}"
        if progress and task is not None:
            progress.advance(task)

    await asyncio.gather(*(one(x) for x in todo))
    return todo, ententes, time.monotonic() - t0


def _final(view: CaseView | None) -> str:
    if view is None:
        return "?"
    return f"{view.stage.value} ({view.closure.kind.value})" if view.closure else view.stage.value


def _final_label(final: str) -> str:
    """A final stage as people read it: `fermee (crise_resolue)` → `fermée (crise résolue)` (codes stay in --json)."""
    stage, _, closure = final.partition(" (")
    text = label(CaseStage, stage)
    return f"{text} ({label(ClosureKind, closure.removesuffix(')'))})" if closure else text


def summary(calls: list[Call], ententes: list[EntenteView], seconds: float) -> dict[str, Any]:
    by_path: dict[str, Counter[str]] = defaultdict(Counter)
    events = 0
    for call in calls:
        final = "échec" if call.error else _final(call.view)
        by_path[call.path][final] += 1
        events += call.view.event_count if call.view and not call.error else 0
    stages = Counter(call.view.stage.value for call in calls if call.view and not call.error)
    return {
        "ententes": [{"code": e.code, "status": e.status.value} for e in ententes],
        "cases": len(calls), "failed": sum(1 for x in calls if x.error), "events": events,
        "seconds": round(seconds, 1), "commands": sum(x.steps for x in calls),
        "paths": {p: dict(by_path[p]) for p in PATHS if p in by_path}, "stages": dict(stages),
        "codes": [x.code for x in calls], "errors": [f"{x.code} ({x.path}): {x.error}" for x in calls if x.error],
    }


def demo(
    calls: Annotated[int, typer.Option("--calls", min=1, max=1000, help="Number of synthetic calls.")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic day (urgencies, delays).")] = 2026,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Calls in flight at once.")] = 8,
    timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: Annotated[bool, typer.Option("--json", help="Summary as JSON on stdout (no progress bar).")] = False,
) -> None:
    """A synthetic day against a running `arrimage up`: two ententes, then N crisis calls on every path."""
    with root() as engine, reported():  # one record and one Temporal connection for the whole day
        if as_json:
            done, ententes, seconds = asyncio.run(run_demo(engine, calls, seed, concurrency, timeout, None))
        else:
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=render.console, transient=False) as progress:
                done, ententes, seconds = asyncio.run(
                    run_demo(engine, calls, seed, concurrency, timeout, progress))
    result = summary(done, ententes, seconds)
    if as_json:
        render.emit_json(result)
    else:
        _print_summary(result)
    if result["failed"]:
        for line in result["errors"][:5]:
            typer.echo(f"failed: {line}", err=True)
        raise typer.Exit(int(Exit.FAILED))


def _print_summary(result: dict[str, Any]) -> None:
    table = Table(title=f"Synthetic day: {result['cases']} calls, {result['commands']} commands, "
                        f"{result['events']} case events recorded in {result['seconds']} s")
    for col in ("path", "cases", "final stage"):
        table.add_column(col, overflow="fold")
    for path, stages in result["paths"].items():
        table.add_row(path, str(sum(stages.values())),
                      ", ".join(f"{_final_label(k)} ×{v}" for k, v in sorted(stages.items())))
    render.console.print(table)
    ents = ", ".join(f"{e['code']} ({label(EntenteStatus, e['status'])})" for e in result["ententes"])
    today = local_date(datetime.now(UTC)).isoformat()
    render.console.print(f"ententes: {ents}", markup=False)
    render.console.print(
        "next: arrimage cases list · arrimage cases list --all · "
        f"arrimage cases show {result['codes'][0] if result['codes'] else 'CASE'} · "
        f"arrimage report standards --from {today} --to {today}", markup=False)
