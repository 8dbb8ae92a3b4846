"""The crisis case aggregate: every fact of a case, from intake to the next service, is one of its events.

Public methods check the rules (on the same view the workflow validates with),
compute what the event needs (due moments from the configuration, candidates
from routing), then call a private `@event` method whose body only changes
state: it runs again on every replay, so a later change of configuration never
moves a recorded deadline.

Every command carries a `command_id`; an id already applied is a no-op, so a
retried activity records nothing twice. `advance(now, config)` records what the
calendar makes due — a missed deadline and its escalation, a team that did not
answer (the next one is asked), a missed follow-up contact — and is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.audit.erasure import ERASED_TEXT, SHREDDED
from domain.crisis import commands as c
from domain.crisis import rules
from domain.crisis.model import (
    ERASED_CHARACTERISATION,
    ERASED_OUTCOME,
    Candidate,
    ClosureKind,
    HandoffSharing,
    Intake,
    IntakeService,
    RequestMode,
)
from domain.crisis.routing import askable, configured_teams, directory_unavailable, route
from domain.crisis.state import (
    AttemptStatus,
    CaseStage,
    CaseView,
    Closure,
    Deadline,
    DeadlineStatus,
    Escalation,
    Extension,
    FollowUp,
    FollowUpContact,
    HandoffAttempt,
    Intervention,
    Pivot,
    Referral,
    ReferralStatus,
)
from domain.directory.model import DirectoryService
from domain.ententes.state import EntenteView
from domain.errors import RuleViolation
from domain.standards import config as s
from domain.standards.config import StandardsConfig

NAMESPACE = UUID("0c5e7a61-3b8f-4d2a-9e14-7f6b2d9c4a31")

Json = dict[str, Any]


@lru_cache(maxsize=65_536)  # computed at every command (a SHA-1, ~5 µs): kept, ~0.2 KB an entry
def case_id(case_code: str) -> UUID:
    """Deterministic id from the opaque case code: a retried 'open' finds the case it made."""
    return uuid5(NAMESPACE, f"crise:{case_code}")


def _intake(intake: Json, characterisation: Json | None) -> Intake:
    """The intake from its clear codes and its sealed characterisation (erased after a shred); an opening
    recorded before the characterisation was sealed holds it all in `intake`."""
    if characterisation is None:
        return Intake.model_validate(intake)
    if characterisation == SHREDDED:
        return Intake.model_validate({**intake, **ERASED_CHARACTERISATION})
    return Intake.model_validate({**intake, **characterisation})


def _typed(personal: Json | None, key: str, clear: str | None) -> str | None:
    """A reason as the person typed it: sealed in `personal` under `key` (erased after a shred), or, in an
    event recorded before issue 9, the clear `reason`."""
    if personal is None:
        return clear
    if personal == SHREDDED:
        return ERASED_TEXT
    found = personal.get(key)
    return clear if found is None else str(found)


def _deadline(
    deadline_id: str, standard_id: str, start: datetime, due: datetime, *, stopped: datetime | None = None,
    escalate: bool = True,
) -> Json:
    status = DeadlineStatus.OPEN
    if stopped is not None:
        status = DeadlineStatus.MET if stopped <= due else DeadlineStatus.MISSED
    return Deadline(
        deadline_id=deadline_id, standard_id=standard_id, started_at=start, original_due_at=due, due_at=due,
        status=status, stopped_at=stopped, escalate_on_miss=escalate,
    ).model_dump(mode="json")


class CrisisCase(Aggregate):
    # ------------------------------------------------------------------ creation
    @staticmethod
    def create_id(case_code: str, **_: Any) -> UUID:
        return case_id(case_code)

    @event("Opened")
    def __init__(
        self, case_code: str, responsible_org: str, territory: str, intake_org: str, intake: Json, subject_id: str,
        personal: dict[str, str], referring_agreement: str | None, deadlines: list[Json], by: str, at: datetime,
        command_id: str, characterisation: Json | None = None,
    ) -> None:
        self.case_code = case_code
        self.responsible_org = responsible_org
        self.territory = territory
        self.intake_org = intake_org
        self.intake = _intake(intake, characterisation)
        self.subject_id = subject_id
        self.personal: list[dict[str, Any]] = [{"at": at, "subject_id": subject_id, "personal": personal}]
        self.referring_agreement = referring_agreement
        self.opened_at = at
        self.stage = CaseStage.INTAKE
        self.holder: str | None = intake_org
        self.candidates: list[Candidate] = []
        self.next_candidate = 0
        self.attempts: list[HandoffAttempt] = []
        self.intervention: Intervention | None = None
        self.follow_ups: list[FollowUp] = []
        self.referrals: list[Referral] = []
        self.deadlines: dict[str, Deadline] = {}
        self._add_deadlines(deadlines)
        self.escalations: list[Escalation] = []
        self.closure: Closure | None = None
        self.handoff_sharing: HandoffSharing | None = None
        self.handoff_requested_by: str | None = None
        self.handoff_note: Json = {}
        self.applied: set[str] = {command_id}

    @classmethod
    def open(
        cls, cmd: c.OpenCase, at: datetime, config: StandardsConfig, ententes: Iterable[EntenteView] = ()
    ) -> CrisisCase:
        partner = rules.check_open(cmd, ententes, at, config)
        return cls(
            case_code=cmd.case_code, responsible_org=cmd.responsible_org, territory=cmd.territory,
            intake_org=cmd.actor_org, intake=cmd.intake.model_dump(mode="json", exclude=set(Intake.CHARACTERISING)),
            characterisation=cmd.intake.model_dump(mode="json", include=set(Intake.CHARACTERISING)),
            subject_id=cmd.subject_id,
            personal=dict(cmd.personal), referring_agreement=partner.code if partner else None,
            deadlines=_intake_deadlines(cmd, at, config), by=cmd.by, at=at, command_id=cmd.command_id,
        )

    # ------------------------------------------------------------------ reading
    def view(self) -> CaseView:
        return CaseView(
            case_id=str(self.id), case_code=self.case_code, subject_id=self.subject_id,
            responsible_org=self.responsible_org, territory=self.territory, intake_org=self.intake_org,
            intake=self.intake, referring_agreement=self.referring_agreement, opened_at=self.opened_at,
            stage=self.stage, holder=self.holder, candidates=list(self.candidates),
            next_candidate=self.next_candidate, attempts=list(self.attempts), intervention=self.intervention,
            follow_ups=list(self.follow_ups), referrals=list(self.referrals), deadlines=list(self.deadlines.values()),
            escalations=list(self.escalations), closure=self.closure, event_count=self.version,
            pivot=getattr(self, "pivot", None),
        )

    def personal_details(self) -> list[dict[str, Any]]:
        """The personal content recorded for the case, in order: read only under the disclosure rules."""
        return [dict(p) for p in self.personal]

    def already(self, cmd: c.Command) -> bool:
        return bool(cmd.command_id) and cmd.command_id in self.applied

    def execute(
        self, cmd: c.Command, at: datetime, config: StandardsConfig, ententes: Callable[[], Iterable[EntenteView]],
        directory: Callable[[], Iterable[DirectoryService]] | None = None,
    ) -> None:
        """Any command given an open case: the one dispatch its use case calls. `ententes` gives the
        ententes to route by, read only for the commands that ask a team (a request for a mobile team, a
        decline that moves to the next candidate, a reassignment); `directory` the network's services,
        read by the same commands (`routing.directory_unavailable`); the timer's cascade reads them in `advance`."""
        match cmd:
            case c.RecordFirstContact():
                self.record_first_contact(cmd, at)
            case c.CloseAtPhone():
                self.close_at_phone(cmd, at)
            case c.RequestMobileIntervention():
                self.request_mobile(cmd, at, config, ententes(), directory() if directory else ())
            case c.AcceptHandoff():
                self.accept(cmd, at)
            case c.DeclineHandoff():
                self.decline(cmd, at, config, ententes, directory)
            case c.RecordArrival():
                self.arrive(cmd, at)
            case c.RecordOutcome():
                self.record_outcome(cmd, at)
            case c.HandBack():
                self.hand_back(cmd, at)
            case c.StartFollowUp():
                self.start_follow_up(cmd, at, config)
            case c.RecordContact():
                self.record_contact(cmd, at)
            case c.CloseCase():
                self.close(cmd, at)
            case c.StartReferral():
                self.refer(cmd, at, config)
            case c.AcceptReferral():
                self.accept_referral(cmd, at, config)
            case c.RefuseReferral():
                self.refuse_referral(cmd, at)
            case c.ConfirmReached():
                self.confirm_reached(cmd, at)
            case c.Reassign():
                self.reassign(cmd, at, config, ententes(), directory() if directory else ())
            case c.ExtendDeadline():
                self.extend(cmd, at, config)
            case c.SupervisorClose():
                self.supervisor_close(cmd, at)
            case c.NamePivot():
                self.name_pivot(cmd, at)
            case _:
                raise RuleViolation(
                    f"{type(cmd).__name__} is not a command of an open crisis case", code="unknown_command"
                )

    # ------------------------------------------------------------------ intake
    def record_first_contact(self, cmd: c.RecordFirstContact, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_first_contact(self.view(), cmd)
        self._first_contact(stops=list(rules.FIRST_CONTACT), by=cmd.by, actor_org=cmd.actor_org, at=at,
                            command_id=cmd.command_id)

    @event("FirstContactMade")
    def _first_contact(self, stops: list[str], by: str, actor_org: str, at: datetime, command_id: str) -> None:
        self._stop(stops, at)
        self.applied.add(command_id)

    def close_at_phone(self, cmd: c.CloseAtPhone, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_close_at_phone(self.view(), cmd)
        self._closed(
            kind=ClosureKind.AT_PHONE.value, reason=cmd.disposition.value,
            stops=[*rules.FIRST_CONTACT, s.AAOR_ANALYSE, s.AAOR_URGENCE], by=cmd.by, actor_org=cmd.actor_org, at=at,
            command_id=cmd.command_id, subject_id=self.subject_id, personal={"closure_reason": cmd.reason},
        )

    def request_mobile(
        self, cmd: c.RequestMobileIntervention, at: datetime, config: StandardsConfig,
        ententes: Iterable[EntenteView], directory: Iterable[DirectoryService] = (),
    ) -> None:
        """Route (CSSS teams, ententes in force, the person's specific program) and ask the first candidate.
        A request that names no CSSS team (None) asks the teams the region declares for this organisation and
        territory (`config.teams_for`); the directory's stopped crisis services are not asked."""
        if self.already(cmd):
            return
        rules.check_request_mobile(self.view(), cmd)
        ententes, directory = list(ententes), list(directory)
        teams = (cmd.csss_teams if cmd.csss_teams is not None
                 else configured_teams(config.teams_for(self.responsible_org, self.territory)))
        candidates = route(
            responsible_org=self.responsible_org, territory=self.territory, csss_teams=teams,
            episode=cmd.episode, ententes=ententes, now=at,
            closed=directory_unavailable(directory, self.territory, at),
        )
        due = config.deadline(s.CRISE_URGENCE, at) if config.urgency[self.intake.urgency].urgent else None
        self._mobile_requested(
            candidates=[x.model_dump(mode="json") for x in candidates],
            urgency_deadline=_deadline(s.CRISE_URGENCE, s.CRISE_URGENCE, at, due) if due else None,
            stops=[*rules.FIRST_CONTACT, s.AAOR_ANALYSE, s.AAOR_URGENCE], by=cmd.by, actor_org=cmd.actor_org, at=at,
            command_id=cmd.command_id,
            sharing=cmd.sharing.model_dump(mode="json") if cmd.sharing else None,
            subject_id=self.subject_id, personal=dict(cmd.personal),
        )
        self._ask_next_or_escalate(at, config, lambda: ententes, lambda: directory)

    @event("MobileInterventionRequested")
    def _mobile_requested(
        self, candidates: list[Json], urgency_deadline: Json | None, stops: list[str], by: str, actor_org: str,
        at: datetime, command_id: str, sharing: Json | None = None, subject_id: str | None = None,
        personal: Json | None = None,
    ) -> None:
        # `sharing` and the emergency note were added after the first events: defaults keep old ones readable.
        self.handoff_sharing = HandoffSharing.model_validate(sharing) if sharing else None
        self.handoff_requested_by = by
        if personal:
            self.personal.append({"at": at, "subject_id": subject_id, "personal": personal})
            self.handoff_note = dict(personal)
        else:
            self.handoff_note = {}
        self.candidates = [Candidate.model_validate(x) for x in candidates]
        self.next_candidate = 0
        self._stop(stops, at)
        if urgency_deadline is not None:
            self._add_deadlines([urgency_deadline])
        self.stage = CaseStage.HANDOFF
        self.applied.add(command_id)

    # ------------------------------------------------------------------ handoff
    def _ask_next_or_escalate(
        self, at: datetime, config: StandardsConfig, ententes: Callable[[], Iterable[EntenteView]] | None = None,
        directory: Callable[[], Iterable[DirectoryService]] | None = None,
    ) -> None:
        """Ask the next candidate that may be asked at `at` (`routing.askable`: its entente in force then,
        whatever the entente's workflow has recorded, and serving then; not stopped or closed in the directory,
        when the caller gives it: a command or the timer's `advance`); none left: the supervisor.
        Without `ententes` (callers from before the rule) every next candidate is asked, as before."""
        index = self.next_candidate
        if ententes is not None and index < len(self.candidates):
            known = list(ententes())
            closed = directory_unavailable(directory(), self.territory, at) if directory else {}
            while index < len(self.candidates) and askable(
                self.candidates[index], known, self.responsible_org, self.territory, at, closed
            ) is not None:
                index += 1
        if index < len(self.candidates):
            self._ask(self.candidates[index], index, at, config, by_supervisor=False)
        else:
            tried = len(self.attempts)
            self._escalated(
                number=len(self.escalations) + 1,
                reason=f"aucune équipe n'a accepté l'intervention ({tried} sollicitée(s))",
                deadline_id=None, to_supervisor=True, at=at,
            )

    def _ask(
        self, candidate: Candidate, index: int | None, at: datetime, config: StandardsConfig, *, by_supervisor: bool
    ) -> None:
        number = len(self.attempts) + 1
        deadline_id = f"reponse_equipe.{number}"
        due = config.deadline(s.CRISE_REPONSE_EQUIPE, at)
        assert due is not None  # a fixed standard
        self._team_asked(
            number=number, candidate=candidate.model_dump(mode="json"), candidate_index=index,
            deadline=_deadline(deadline_id, s.CRISE_REPONSE_EQUIPE, at, due, escalate=False),
            by_supervisor=by_supervisor, at=at,
        )

    @event("TeamAsked")
    def _team_asked(
        self, number: int, candidate: Json, candidate_index: int | None, deadline: Json, by_supervisor: bool,
        at: datetime,
    ) -> None:
        self._add_deadlines([deadline])
        self.attempts.append(HandoffAttempt(
            number=number, candidate=Candidate.model_validate(candidate), asked_at=at,
            answer_deadline=deadline["deadline_id"], assigned_by_supervisor=by_supervisor,
        ))
        if candidate_index is not None:
            self.next_candidate = candidate_index + 1
        self.stage = CaseStage.HANDOFF
        self.holder = self.intake_org

    def accept(self, cmd: c.AcceptHandoff, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_accept(self.view(), cmd)
        self._accepted(number=len(self.attempts), by=cmd.by, actor_org=cmd.actor_org, at=at,
                       command_id=cmd.command_id)

    @event("HandoffAccepted")
    def _accepted(self, number: int, by: str, actor_org: str, at: datetime, command_id: str) -> None:
        attempt = self._answer(number, AttemptStatus.ACCEPTED, at, None)
        candidate = attempt.candidate
        self.intervention = Intervention(
            team=candidate.team, accepted_at=at, may_share_information=candidate.may_share_information,
            agreement_code=candidate.agreement_code,
        )
        self.stage = CaseStage.INTERVENTION
        self.holder = candidate.team.org_id
        self.applied.add(command_id)

    def decline(
        self, cmd: c.DeclineHandoff, at: datetime, config: StandardsConfig,
        ententes: Callable[[], Iterable[EntenteView]] | None = None,
        directory: Callable[[], Iterable[DirectoryService]] | None = None,
    ) -> None:
        if self.already(cmd):
            return
        rules.check_decline(self.view(), cmd)
        self._declined(number=len(self.attempts), by=cmd.by, actor_org=cmd.actor_org, at=at,
                       command_id=cmd.command_id, subject_id=self.subject_id,
                       personal={"decline_reason": cmd.reason})
        self._ask_next_or_escalate(at, config, ententes, directory)

    @event("HandoffDeclined")
    def _declined(
        self, number: int, by: str, actor_org: str, at: datetime, command_id: str, reason: str | None = None,
        subject_id: str | None = None, personal: Json | None = None,
    ) -> None:
        # The typed reason is sealed in `personal` (issue 9); `reason` in clear is that of older events.
        self._answer(number, AttemptStatus.DECLINED, at, _typed(personal, "decline_reason", reason))
        self._keep_personal(at, subject_id, personal)
        self.applied.add(command_id)

    @event("HandoffTimedOut")
    def _timed_out(self, number: int, at: datetime) -> None:
        attempt = self.attempts[number - 1]
        self.attempts[number - 1] = attempt.model_copy(update={"status": AttemptStatus.TIMED_OUT})
        self._miss(attempt.answer_deadline, at)

    def _answer(self, number: int, status: AttemptStatus, at: datetime, reason: str | None) -> HandoffAttempt:
        attempt = self.attempts[number - 1].model_copy(update={"status": status, "answered_at": at, "reason": reason})
        self.attempts[number - 1] = attempt
        self._stop([attempt.answer_deadline], at)
        return attempt

    # ------------------------------------------------------------------ intervention
    def arrive(self, cmd: c.RecordArrival, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_arrival(self.view(), cmd)
        self._arrived(by=cmd.by, actor_org=cmd.actor_org, at=at, command_id=cmd.command_id)

    @event("ArrivedOnSite")
    def _arrived(self, by: str, actor_org: str, at: datetime, command_id: str) -> None:
        assert self.intervention is not None
        self.intervention = self.intervention.model_copy(update={"arrived_at": at})
        self._stop([s.CRISE_URGENCE], at)
        self.applied.add(command_id)

    def record_outcome(self, cmd: c.RecordOutcome, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_outcome(self.view(), cmd)
        self._outcome_recorded(
            subject_id=cmd.subject_id, personal=dict(cmd.personal), by=cmd.by, actor_org=cmd.actor_org, at=at,
            command_id=cmd.command_id, characterisation={
                "outcome": cmd.outcome.value, "emergency_services": [e.value for e in cmd.emergency_services],
                "p38_applied": cmd.p38_applied,
            },
        )

    @event("OutcomeRecorded")
    def _outcome_recorded(
        self, subject_id: str, personal: dict[str, str], by: str, actor_org: str, at: datetime, command_id: str,
        characterisation: Json | None = None, outcome: str | None = None,
        emergency_services: list[str] | None = None, p38_applied: bool | None = None,
    ) -> None:
        # Sealed in `characterisation` (OUTCOME_CHARACTERISING); an outcome recorded before issue 9 holds it in
        # clear in `outcome`, `emergency_services`, `p38_applied`.
        if characterisation is None:
            found: Json = {"outcome": outcome, "emergency_services": emergency_services or [],
                           "p38_applied": p38_applied}
        elif characterisation == SHREDDED:
            found = dict(ERASED_OUTCOME)
        else:
            found = characterisation
        assert self.intervention is not None
        self.intervention = Intervention.model_validate({
            **self.intervention.model_dump(), **found, "outcome_at": at,
        })
        if personal:
            self.personal.append({"at": at, "subject_id": subject_id, "personal": personal})
        self.stage = CaseStage.ORIENTATION
        self.applied.add(command_id)

    # ------------------------------------------------------------------ orientation
    def hand_back(self, cmd: c.HandBack, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_hand_back(self.view(), cmd)
        self._handed_back(to_org=self.intake_org, by=cmd.by, actor_org=cmd.actor_org, at=at,
                          command_id=cmd.command_id, subject_id=self.subject_id,
                          personal={"hand_back_reason": cmd.reason} if cmd.reason else None)

    @event("HandedBack")
    def _handed_back(
        self, to_org: str, by: str, actor_org: str, at: datetime, command_id: str, reason: str | None = None,
        subject_id: str | None = None, personal: Json | None = None,
    ) -> None:
        # The typed reason is sealed in `personal` (issue 9); `reason` in clear is that of older events.
        self.holder = to_org
        self._keep_personal(at, subject_id, personal)
        self.applied.add(command_id)

    def close(self, cmd: c.CloseCase, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_close(self.view(), cmd)
        self._closed(kind=ClosureKind.RESOLVED.value, reason="", stops=[], by=cmd.by,
                     actor_org=cmd.actor_org, at=at, command_id=cmd.command_id, subject_id=self.subject_id,
                     personal={"closure_reason": cmd.reason})

    # ------------------------------------------------------------------ post-crisis follow-up
    def start_follow_up(self, cmd: c.StartFollowUp, at: datetime, config: StandardsConfig) -> None:
        if self.already(cmd):
            return
        rules.check_start_follow_up(self.view(), cmd, config)
        number = len(self.follow_ups) + 1
        plan = config.follow_up_plans[cmd.plan]
        contacts, deadlines = [], []
        for k, spec in enumerate(plan.contacts, start=1):
            deadline_id = f"suivi.{number}.contact.{k}"
            scheduled = at + spec.offset
            contacts.append(FollowUpContact(
                number=k, label=spec.label, scheduled_at=scheduled, deadline_id=deadline_id,
            ).model_dump(mode="json"))
            deadlines.append(_deadline(deadline_id, s.SUIVI_CONTACT, scheduled, scheduled + spec.within))
        self._follow_up_started(
            number=number, plan=cmd.plan, provider=cmd.provider_org or cmd.actor_org, contacts=contacts,
            deadlines=deadlines, by=cmd.by, actor_org=cmd.actor_org, at=at, command_id=cmd.command_id,
        )

    @event("FollowUpStarted")
    def _follow_up_started(
        self, number: int, plan: str, provider: str, contacts: list[Json], deadlines: list[Json], by: str,
        actor_org: str, at: datetime, command_id: str,
    ) -> None:
        self.follow_ups.append(FollowUp(
            number=number, plan=plan, provider=provider, started_at=at,
            contacts=[FollowUpContact.model_validate(x) for x in contacts],
        ))
        self._add_deadlines(deadlines)
        self.stage = CaseStage.FOLLOW_UP
        self.holder = provider
        self.applied.add(command_id)

    def record_contact(self, cmd: c.RecordContact, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_contact(self.view(), cmd)
        self._contact_made(follow_up=len(self.follow_ups), contact_number=cmd.contact_number, by=cmd.by,
                           actor_org=cmd.actor_org, at=at, command_id=cmd.command_id)
        self._complete_follow_up_if_done(at)

    @event("ContactMade")
    def _contact_made(
        self, follow_up: int, contact_number: int, by: str, actor_org: str, at: datetime, command_id: str
    ) -> None:
        plan = self.follow_ups[follow_up - 1]
        contacts = list(plan.contacts)
        contact = contacts[contact_number - 1].model_copy(update={"made_at": at})
        contacts[contact_number - 1] = contact
        self.follow_ups[follow_up - 1] = plan.model_copy(update={"contacts": contacts})
        self._stop([contact.deadline_id], at)
        self.applied.add(command_id)

    def _follow_up_done(self) -> bool:
        plan = self.follow_ups[-1] if self.follow_ups else None
        if plan is None or plan.completed_at is not None or self.stage is not CaseStage.FOLLOW_UP:
            return False
        return all(not self.deadlines[x.deadline_id].status.running for x in plan.contacts)

    def _complete_follow_up_if_done(self, at: datetime) -> None:
        if self._follow_up_done():
            self._follow_up_completed(follow_up=len(self.follow_ups), at=at)

    @event("FollowUpCompleted")
    def _follow_up_completed(self, follow_up: int, at: datetime) -> None:
        plan = self.follow_ups[follow_up - 1]
        self.follow_ups[follow_up - 1] = plan.model_copy(update={"completed_at": at})
        self.stage = CaseStage.ORIENTATION
        self.holder = plan.provider

    # ------------------------------------------------------------------ personalised referral
    def refer(self, cmd: c.StartReferral, at: datetime, config: StandardsConfig) -> None:
        if self.already(cmd):
            return
        rules.check_start_referral(self.view(), cmd)
        number = len(self.referrals) + 1
        deadline_id = f"reference.{number}.decision"
        due = config.deadline(s.REFERENCE_DECISION, at)
        assert due is not None  # a fixed standard
        self._referral_sent(
            number=number, receiving=cmd.receiving.model_dump(mode="json"), channel=cmd.channel.value,
            measure=cmd.measure.value, subject_id=cmd.subject_id, personal=dict(cmd.personal),
            deadline=_deadline(deadline_id, s.REFERENCE_DECISION, at, due), from_stage=self.stage.value,
            stops=[*rules.FIRST_CONTACT, s.AAOR_ANALYSE, s.AAOR_URGENCE], by=cmd.by, actor_org=cmd.actor_org, at=at,
            command_id=cmd.command_id,
        )

    @event("ReferralSent")
    def _referral_sent(
        self, number: int, receiving: Json, channel: str, measure: str, subject_id: str, personal: dict[str, str],
        deadline: Json, from_stage: str, stops: list[str], by: str, actor_org: str, at: datetime, command_id: str,
    ) -> None:
        self._stop(stops, at)
        self._add_deadlines([deadline])
        self.referrals.append(Referral.model_validate({
            "number": number, "receiving": receiving, "channel": channel, "measure": measure,
            "referred_by": actor_org, "sent_at": at, "decision_deadline": deadline["deadline_id"],
            "from_stage": from_stage,
        }))
        if personal:
            self.personal.append({"at": at, "subject_id": subject_id, "personal": personal})
        self.stage = CaseStage.REFERRAL
        self.applied.add(command_id)

    def accept_referral(self, cmd: c.AcceptReferral, at: datetime, config: StandardsConfig) -> None:
        if self.already(cmd):
            return
        rules.check_accept_referral(self.view(), cmd)
        referral = self.referrals[-1]
        urgent = config.urgency[self.intake.urgency].urgent
        standard_id = rules.reach_standard(referral.receiving.service, urgent)
        due = config.deadline(standard_id, at, self.intake.urgency)
        assert due is not None  # reach_standard only picks an urgency standard for an urgent case
        self._referral_accepted(
            number=referral.number, intake_worker=cmd.intake_worker,
            deadline=_deadline(f"reference.{referral.number}.arrivee", standard_id, at, due), by=cmd.by,
            actor_org=cmd.actor_org, at=at, command_id=cmd.command_id,
        )

    @event("ReferralAccepted")
    def _referral_accepted(
        self, number: int, intake_worker: str, deadline: Json, by: str, actor_org: str, at: datetime,
        command_id: str,
    ) -> None:
        referral = self.referrals[number - 1]
        self._stop([referral.decision_deadline], at)
        self._add_deadlines([deadline])
        self.referrals[number - 1] = referral.model_copy(update={
            "status": ReferralStatus.ACCEPTED, "decided_at": at, "intake_worker": intake_worker,
            "reach_deadline": deadline["deadline_id"],
        })
        self.applied.add(command_id)

    def refuse_referral(self, cmd: c.RefuseReferral, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_refuse_referral(self.view(), cmd)
        self._referral_refused(number=len(self.referrals), by=cmd.by, actor_org=cmd.actor_org, at=at,
                               command_id=cmd.command_id, subject_id=self.subject_id,
                               personal={"refusal_reason": cmd.reason})

    @event("ReferralRefused")
    def _referral_refused(
        self, number: int, by: str, actor_org: str, at: datetime, command_id: str, reason: str | None = None,
        subject_id: str | None = None, personal: Json | None = None,
    ) -> None:
        # The typed reason is sealed in `personal` (issue 9); `reason` in clear is that of older events.
        self._keep_personal(at, subject_id, personal)
        # Back to whoever made it, at the step it was made from: another referral, or another way.
        referral = self.referrals[number - 1]
        self._stop([referral.decision_deadline], at)
        self.referrals[number - 1] = referral.model_copy(update={
            "status": ReferralStatus.REFUSED, "decided_at": at,
            "refusal_reason": _typed(personal, "refusal_reason", reason),
        })
        self.stage = referral.from_stage
        self.holder = referral.referred_by
        self.applied.add(command_id)

    def confirm_reached(self, cmd: c.ConfirmReached, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_confirm_reached(self.view(), cmd)
        number = len(self.referrals)
        self._reached(number=number, by=cmd.by, actor_org=cmd.actor_org, at=at, command_id=cmd.command_id)
        self._closed(kind=ClosureKind.REACHED_SERVICE.value, reason=f"la personne a rejoint le service (référence "
                     f"{number})", stops=[], by=cmd.by, actor_org=cmd.actor_org, at=at, command_id="")

    @event("PersonReachedService")
    def _reached(self, number: int, by: str, actor_org: str, at: datetime, command_id: str) -> None:
        referral = self.referrals[number - 1]
        assert referral.reach_deadline is not None
        self._stop([referral.reach_deadline], at)
        self.referrals[number - 1] = referral.model_copy(update={"status": ReferralStatus.REACHED, "reached_at": at})
        self.applied.add(command_id)

    # ------------------------------------------------------------------ supervisor
    def reassign(
        self, cmd: c.Reassign, at: datetime, config: StandardsConfig, ententes: Iterable[EntenteView] | None = None,
        directory: Iterable[DirectoryService] = (),
    ) -> None:
        if self.already(cmd):
            return
        view = self.view()
        rules.check_reassign(view, cmd)
        candidate = rules.reassign_candidate(view, cmd.team)
        assert candidate is not None  # checked by the rule
        if ententes is not None:  # only a team serving, under an entente in force at this moment
            refused = askable(candidate, list(ententes), self.responsible_org, self.territory, at,
                              directory_unavailable(directory, self.territory, at))
            if refused is not None:
                raise RuleViolation(f"cannot reassign case {self.case_code}: {refused[1]}", code=refused[0])
        self._reassigned(team_id=cmd.team.team_id, by=cmd.by, actor_org=cmd.actor_org, at=at,
                         command_id=cmd.command_id, subject_id=self.subject_id,
                         personal={"reassign_reason": cmd.reason})
        self._ask(candidate, None, at, config, by_supervisor=True)

    @event("Reassigned")
    def _reassigned(
        self, team_id: str, by: str, actor_org: str, at: datetime, command_id: str, reason: str | None = None,
        subject_id: str | None = None, personal: Json | None = None,
    ) -> None:
        # The typed reason is sealed in `personal` (issue 9); `reason` in clear is that of older events.
        self._keep_personal(at, subject_id, personal)
        last = self.attempts[-1] if self.attempts else None
        if last is not None and last.status is AttemptStatus.PENDING:
            self.attempts[-1] = last.model_copy(update={"status": AttemptStatus.WITHDRAWN, "answered_at": at})
            self._cancel([last.answer_deadline], at)
        self.intervention = None  # a team that accepted but has not arrived is released
        self.applied.add(command_id)

    def extend(self, cmd: c.ExtendDeadline, at: datetime, config: StandardsConfig) -> None:
        if self.already(cmd):
            return
        rules.check_extend(self.view(), cmd, at, config)
        self._extended(deadline_id=cmd.deadline_id, until=cmd.until, by=cmd.by, actor_org=cmd.actor_org, at=at,
                       command_id=cmd.command_id, subject_id=self.subject_id,
                       personal={"extension_reason": cmd.reason})

    @event("DeadlineExtended")
    def _extended(
        self, deadline_id: str, until: datetime, by: str, actor_org: str, at: datetime, command_id: str,
        reason: str | None = None, subject_id: str | None = None, personal: Json | None = None,
    ) -> None:
        # The typed reason is sealed in `personal` (issue 9); `reason` in clear is that of older events.
        reason = _typed(personal, "extension_reason", reason) or ""
        self._keep_personal(at, subject_id, personal)
        d = self.deadlines[deadline_id]
        self.deadlines[deadline_id] = d.model_copy(update={
            "due_at": until, "status": DeadlineStatus.EXTENDED,
            "extensions": [*d.extensions, Extension(until=until, reason=reason, by=by, at=at)],
        })
        self.applied.add(command_id)

    def name_pivot(self, cmd: c.NamePivot, at: datetime) -> None:
        """Name or change the personne pivot (seed 002 L349-350): each change is an event of its own."""
        if self.already(cmd):
            return
        rules.check_name_pivot(self.view(), cmd)
        self._pivot_named(intervenant_id=cmd.intervenant_id, org_id=cmd.org_id, by=cmd.by, actor_org=cmd.actor_org,
                          at=at, command_id=cmd.command_id)

    @event("PivotNamed")
    def _pivot_named(
        self, intervenant_id: str, org_id: str, by: str, actor_org: str, at: datetime, command_id: str
    ) -> None:
        self.pivot = Pivot(intervenant_id=intervenant_id, org_id=org_id, named_by=by, named_at=at)
        self.applied.add(command_id)

    def supervisor_close(self, cmd: c.SupervisorClose, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_supervisor_close(self.view(), cmd)
        self._closed(kind=ClosureKind.BY_SUPERVISOR.value, reason="", stops=[], by=cmd.by,
                     actor_org=cmd.actor_org, at=at, command_id=cmd.command_id, subject_id=self.subject_id,
                     personal={"closure_reason": cmd.reason})

    @event("CaseClosed")
    def _closed(
        self, kind: str, reason: str, stops: list[str], by: str, actor_org: str, at: datetime, command_id: str,
        subject_id: str | None = None, personal: Json | None = None,
    ) -> None:
        # `reason` in clear is what the engine wrote (a phone disposition's code, « la personne a rejoint… »),
        # or in older events everything; what a person typed is sealed in `personal` (issue 9).
        typed = _typed(personal, "closure_reason", None)
        text = reason if typed is None else f"{reason}: {typed}" if reason else typed
        self._stop(stops, at)
        self._cancel([k for k, d in self.deadlines.items() if d.status.running], at)
        self._keep_personal(at, subject_id, personal)
        self.closure = Closure(kind=ClosureKind(kind), reason=text, by=by, at=at)
        self.stage = CaseStage.CLOSED
        self.holder = None
        if command_id:
            self.applied.add(command_id)

    # ------------------------------------------------------------------ the calendar
    def advance(
        self, now: datetime, config: StandardsConfig, ententes: Callable[[], Iterable[EntenteView]] | None = None,
        directory: Callable[[], Iterable[DirectoryService]] | None = None,
    ) -> int:
        """Record every transition the calendar makes due at `now`; returns how many steps.

        Each is recorded at the moment it became due, not at `now`, so the record is the
        same whenever the timer fires. Idempotent: once recorded, a transition is no longer due.
        An answer not given in time asks the next candidate as a decline does: `ententes` in force and
        `directory` (the network's services, as its use case reads them at `now`) judged at the due moment.
        """
        recorded = 0
        while (step := self._next_transition(now, config, ententes, directory)) is not None:
            step()
            recorded += 1
        return recorded

    def _next_transition(
        self, now: datetime, config: StandardsConfig, ententes: Callable[[], Iterable[EntenteView]] | None = None,
        directory: Callable[[], Iterable[DirectoryService]] | None = None,
    ) -> Callable[[], None] | None:
        if self.stage is CaseStage.CLOSED:
            return None
        running = sorted(
            (d for d in self.deadlines.values() if d.status.running and d.due_at <= now),
            key=lambda d: (d.due_at, d.deadline_id),
        )
        if not running:
            return None
        d = running[0]
        pending = self.attempts[-1] if self.attempts and self.attempts[-1].status is AttemptStatus.PENDING else None
        if pending is not None and pending.answer_deadline == d.deadline_id:
            def timeout() -> None:
                self._timed_out(number=pending.number, at=d.due_at)
                self._ask_next_or_escalate(d.due_at, config, ententes, directory)
            return timeout

        def missed() -> None:
            self._deadline_missed(deadline_id=d.deadline_id, at=d.due_at)
            if d.escalate_on_miss:
                self._escalated(number=len(self.escalations) + 1, reason=f"délai manqué : {d.deadline_id}",
                                deadline_id=d.deadline_id, to_supervisor=False, at=d.due_at)
            self._complete_follow_up_if_done(d.due_at)
        return missed

    @event("DeadlineMissed")
    def _deadline_missed(self, deadline_id: str, at: datetime) -> None:
        self._miss(deadline_id, at)

    @event("Escalated")
    def _escalated(self, number: int, reason: str, deadline_id: str | None, to_supervisor: bool, at: datetime) -> None:
        self.escalations.append(Escalation(number=number, reason=reason, deadline_id=deadline_id, at=at))
        if to_supervisor:
            self.stage = CaseStage.SUPERVISOR
            self.holder = self.responsible_org

    # ------------------------------------------------------------------ helpers (run inside event bodies)
    def _keep_personal(self, at: datetime, subject_id: str | None, personal: Json | None) -> None:
        """Personal content of an event, kept with the case's (read under the disclosure rules)."""
        if personal:
            self.personal.append({"at": at, "subject_id": subject_id, "personal": personal})

    def _add_deadlines(self, deadlines: list[Json]) -> None:
        for x in deadlines:
            d = Deadline.model_validate(x)
            self.deadlines[d.deadline_id] = d

    def _stop(self, deadline_ids: list[str], at: datetime) -> None:
        for deadline_id in deadline_ids:
            d = self.deadlines.get(deadline_id)
            if d is None or d.stopped_at is not None or d.status is DeadlineStatus.CANCELLED:
                continue
            status = DeadlineStatus.MET if d.status.running and at <= d.due_at else DeadlineStatus.MISSED
            self.deadlines[deadline_id] = d.model_copy(update={"status": status, "stopped_at": at})

    def _miss(self, deadline_id: str, at: datetime) -> None:
        d = self.deadlines[deadline_id]
        self.deadlines[deadline_id] = d.model_copy(update={"status": DeadlineStatus.MISSED, "missed_at": at})

    def _cancel(self, deadline_ids: list[str], at: datetime) -> None:
        for deadline_id in deadline_ids:
            d = self.deadlines[deadline_id]
            if d.status.running:
                self.deadlines[deadline_id] = d.model_copy(update={"status": DeadlineStatus.CANCELLED})


def _intake_deadlines(cmd: c.OpenCase, at: datetime, config: StandardsConfig) -> list[Json]:
    """The clocks the intake starts (and, for the first contact, already stops)."""
    received = cmd.received_at or at
    first = cmd.first_contact_at or at
    out: list[Json] = []

    def fixed(standard_id: str, start: datetime, stopped: datetime | None = None) -> Json:
        due = config.deadline(standard_id, start)
        assert due is not None  # fixed standards always have one
        return _deadline(standard_id, standard_id, start, due, stopped=stopped)

    # Awaiting its first contact, the clock keeps running: `RecordFirstContact` or the timer ends it.
    contact = None if cmd.awaiting_first_contact else first
    timed = cmd.received_at is not None or cmd.awaiting_first_contact
    if cmd.intake.service is IntakeService.INFO_SOCIAL and timed:
        out.append(fixed(s.INFO_SOCIAL_REPONSE, received, contact))
    if cmd.intake.service is IntakeService.AAOR:
        if timed:
            first_standard = (
                s.AAOR_PREMIER_CONTACT if cmd.intake.request_mode is RequestMode.IN_PERSON else s.AAOR_RETOUR_APPEL
            )
            out.append(fixed(first_standard, received, contact))
        out.append(fixed(s.AAOR_ANALYSE, received))
        urgent_due = config.deadline(s.AAOR_URGENCE, at, cmd.intake.urgency)
        if urgent_due is not None:
            out.append(_deadline(s.AAOR_URGENCE, s.AAOR_URGENCE, at, urgent_due))
    return out
