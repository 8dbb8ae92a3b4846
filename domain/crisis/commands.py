"""The commands the people and partner systems of a crisis case can give it.

One typed object per verb. Every command says who acts (`by`, a user or system
id) and for which organisation (`actor_org`): the rules accept a command only
from the party that acts at that step. Field constraints refuse malformed
input; `rules.py` refuses a well-formed command out of turn or from the wrong
party. `command_id` makes recording idempotent.

Personal content (the reason in words, a pseudonymous person reference, notes)
goes only in the `personal` mappings, never in the coded fields.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from domain.crisis.model import (
    EMERGENCY_NOTE_FIELDS,
    MAX_TEAMS,
    CaseCode,
    EmergencyService,
    HandoffSharing,
    Intake,
    InterventionOutcome,
    Personal,
    PhoneDisposition,
    ReceivingService,
    ReferralMeasure,
    SpecificEpisode,
    SubjectId,
    TeamRef,
)
from domain.ententes.model import Code, Frozen, ReferralChannel, ShortText, Text
from domain.values import Moment, check_command_size


class Command(Frozen):
    by: ShortText = Field(description="who gives the command (user or system id)")
    actor_org: Code = Field(description="the organisation on whose behalf it is given")
    command_id: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _within_budget(self) -> Self:
        # The whole command, as it travels to Temporal and into the record: each field may be
        # within its bounds and the sum still too large for one message.
        check_command_size(self.model_dump(mode="json"))
        return self


class OpenCase(Command):
    """Info-Social, AAOR or a partner with an entente found a crisis (seed 001 L648-650, L663-664, L1169-1173)."""

    type: Literal["open"] = "open"
    case_code: CaseCode
    responsible_org: Code  # the CSSS/CISSS of the territory
    territory: Code
    intake: Intake
    subject_id: SubjectId
    personal: Personal = Field(default_factory=dict)  # e.g. {"reason": …, "person_ref": …}
    # When the call or request arrived, and when the person was first reached (answer, callback,
    # first contact): the clocks of Info-Social (4 min) and AAOR (2 h / 24 h, 10 days). Default: the opening.
    # Aware moments only (a naive one means another instant on every machine), kept in UTC; how far
    # they may be from the opening is a rule (`rules.check_open_command`, limits in the configuration).
    received_at: Moment | None = None
    first_contact_at: Moment | None = None
    # The request is in (a message left, a person waiting at the desk) but nobody has reached the
    # person yet: the first-contact clock (4 min, 2 h or 24 h) runs until `RecordFirstContact`.
    awaiting_first_contact: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> OpenCase:
        if self.received_at and self.first_contact_at and self.first_contact_at < self.received_at:
            raise ValueError("the first contact cannot precede the request")
        if self.awaiting_first_contact and self.first_contact_at is not None:
            raise ValueError("a case awaiting its first contact has no first-contact time yet")
        return self


class RecordFirstContact(Command):
    """The intervenant reached the person (answered, called back, met at the desk): the first-contact
    clock of Info-Social (L1018-1019) or AAOR (L778-782) stops."""

    type: Literal["first_contact"] = "first_contact"


class CloseAtPhone(Command):
    type: Literal["close_at_phone"] = "close_at_phone"
    disposition: PhoneDisposition
    reason: Text


class RequestMobileIntervention(Command):
    """Hand the case to a mobile crisis team; routing is fed with the teams and the person's active episode."""

    type: Literal["request_mobile"] = "request_mobile"
    # The CSSS's own teams for the territory, in order. None (not given): the teams the region declares for the
    # case's organisation and territory (`StandardsConfig.csss_teams`); an empty list: none of the CSSS's own.
    csss_teams: list[TeamRef] | None = Field(default=None, max_length=MAX_TEAMS)
    episode: SpecificEpisode | None = None  # an active episode in a specific program (L1241-1243)
    sharing: HandoffSharing | None = None  # the basis for sending the intake to a community team
    personal: Personal = Field(default_factory=dict)  # the emergency note's words (EMERGENCY_NOTE_FIELDS)

    @model_validator(mode="after")
    def _note_with_attestations(self) -> RequestMobileIntervention:
        if self.sharing is not None and self.sharing.attestations:
            missing = [f for f in EMERGENCY_NOTE_FIELDS if f not in self.personal]
            if missing:
                raise ValueError(
                    f"an emergency disclosure records its note (LSSSS 19.0.1 / LRSSS 74): missing {missing}"
                )
        return self


# The request a team answers: the attempt number its `handoff.requested` webhook, FHIR Task (`<case>-h<n>`) or
# portal form named. Optional (older callers name only the team); given, an answer to an earlier request of
# the same team (asked again after a reassignment) is refused instead of answering the current one.
AttemptNumber = Annotated[int, Field(ge=1, le=10_000)]


class AcceptHandoff(Command):
    type: Literal["accept"] = "accept"
    team_id: Code
    attempt: AttemptNumber | None = None


class DeclineHandoff(Command):
    type: Literal["decline"] = "decline"
    team_id: Code
    reason: Text
    attempt: AttemptNumber | None = None


class RecordArrival(Command):
    type: Literal["arrive"] = "arrive"


class RecordOutcome(Command):
    type: Literal["outcome"] = "outcome"
    outcome: InterventionOutcome
    emergency_services: list[EmergencyService] = Field(default_factory=list, max_length=len(EmergencyService))
    p38_applied: bool = False
    subject_id: SubjectId
    personal: Personal = Field(default_factory=dict)  # notes of the intervention

    @model_validator(mode="after")
    def _p38(self) -> RecordOutcome:
        if self.outcome is InterventionOutcome.P38_APPLICATION and not self.p38_applied:
            raise ValueError("an outcome of P-38.001 application records that P-38.001 was applied")
        return self


class HandBack(Command):
    """The team returns the case to the service that referred it, which decides what follows."""

    type: Literal["hand_back"] = "hand_back"
    reason: Text | None = None


class StartFollowUp(Command):
    type: Literal["start_follow_up"] = "start_follow_up"
    plan: Code  # a plan of the region's configuration, e.g. "suivi_etroit"
    provider_org: Code | None = None  # default: the organisation giving the command


class RecordContact(Command):
    type: Literal["contact"] = "contact"
    contact_number: int = Field(ge=1)


class StartReferral(Command):
    """A référence personnalisée or an accompaniment to the next service (L725-733)."""

    type: Literal["refer"] = "refer"
    receiving: ReceivingService
    channel: ReferralChannel
    measure: ReferralMeasure = ReferralMeasure.REFERENCE
    subject_id: SubjectId
    personal: Personal = Field(default_factory=dict)  # what is said to the receiving intake worker


class AcceptReferral(Command):
    type: Literal["accept_referral"] = "accept_referral"
    intake_worker: ShortText  # role of the intervenant exerçant la fonction d'accueil (L733)


class RefuseReferral(Command):
    type: Literal["refuse_referral"] = "refuse_referral"
    reason: Text


class ConfirmReached(Command):
    """The person actually reached the receiving service: the case's purpose is met."""

    type: Literal["confirm_reached"] = "confirm_reached"


class CloseCase(Command):
    """The holder closes after the intervention: nothing further is needed."""

    type: Literal["close"] = "close"
    reason: Text


class Reassign(Command):
    """Supervisor: ask this team now (a CSSS team, or one routing proposed for the case)."""

    type: Literal["reassign"] = "reassign"
    team: TeamRef
    reason: Text


class ExtendDeadline(Command):
    type: Literal["extend"] = "extend"
    deadline_id: ShortText
    until: Moment  # how far past the current due moment: `rules.check_extend`
    reason: Text


class NamePivot(Command):
    """Name (or change) the *personne pivot* of the case (seed 002 L349-350, L379-381): the intervenant who
    accompanies the person across handoffs. Given by the CISSS answerable for the case or the holder."""

    type: Literal["name_pivot"] = "name_pivot"
    intervenant_id: ShortText
    org_id: Code  # the intervenant's organisation


class SupervisorClose(Command):
    type: Literal["supervisor_close"] = "supervisor_close"
    reason: Text


CaseCommand = Annotated[
    RecordFirstContact
    | CloseAtPhone
    | RequestMobileIntervention
    | AcceptHandoff
    | DeclineHandoff
    | RecordArrival
    | RecordOutcome
    | HandBack
    | StartFollowUp
    | RecordContact
    | StartReferral
    | AcceptReferral
    | RefuseReferral
    | ConfirmReached
    | CloseCase
    | Reassign
    | ExtendDeadline
    | NamePivot
    | SupervisorClose,
    Field(discriminator="type"),
]
