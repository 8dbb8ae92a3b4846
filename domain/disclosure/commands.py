"""Commands of disclosure: one typed object per verb, each with `command_id` idempotency.

Field constraints are the first refusal (malformed input never reaches the
record); `consent.py` and `rules.py` are the second. `by` is who acts.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from domain.disclosure.legal_bases import Condition
from domain.disclosure.model import ConsentForm, EmergencyParticulars, GrantorCapacity, Recipient
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.model import Frozen, ShortText, Text
from domain.values import Moment, check_command_size
from domain.values import OpaqueId as Code  # ids from partner systems: case kept as given


class Command(Frozen):
    by: Code = Field(description="who gives the command (opaque user or system id)")
    command_id: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _within_budget(self) -> Command:
        check_command_size(self.model_dump(mode="json"))
        return self


class GrantConsent(Command):
    """A consent as given. Optional fields are optional only so that an incomplete consent is
    refused with a message naming what is missing (LRSSS 6: a consent that does not meet the
    rules has no effect) rather than a parser error."""

    type: Literal["grant_consent"] = "grant_consent"
    subject_id: Code
    consent_key: Code  # business key: the form number, so a retried grant finds its consent
    grantor_id: Code
    capacity: GrantorCapacity
    subject_birth_date: date | None = None  # decides the capacity (14 years); never recorded
    subject_deceased: bool = False
    capacity_proof_ref: ShortText | None = None  # representative's or heir's proof
    purpose: PurposeKind | None = None
    purpose_text: Text | None = None
    recipients: list[Recipient] = Field(default_factory=list)
    items: list[ShortText] = Field(default_factory=list)
    form: ConsentForm | None = None
    document_ref: ShortText | None = None  # the signed form, for a written consent
    free_and_informed: bool = False  # attested: manifest, free, informed (LSSSS 19.1 / LRSSS 6)
    presented_separately: bool | None = None  # a written request set apart from other information
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    ethics_committee_ref: ShortText | None = None  # research: the committee that set the period


class WithdrawConsent(Command):
    type: Literal["withdraw_consent"] = "withdraw_consent"
    subject_id: Code
    consent_key: Code
    withdrawn_at: Moment
    reason: Text | None = None


class RequestAccess(Command):
    """Read or send content of a person's record. `by` is who acts; `role` the capacity in which
    the content is received; `recipient_id` who receives it (the actor when they read it)."""

    type: Literal["request_access"] = "request_access"
    role: Role
    subject_id: Code
    items: list[ShortText] = Field(min_length=1)
    purpose: PurposeKind
    moment: Moment
    recipient_id: Code | None = None
    basis_code: ShortText | None = None  # the legal basis relied on; None: the rules look for one
    consent_id: str | None = None  # a specific consent; None: any valid consent that covers
    attestations: list[Condition] = Field(default_factory=list)
    authority_reference: ShortText | None = None  # order, mandate, project or authorisation number
    purpose_text: Text | None = None  # personal: recorded encrypted
    intended_use: Text | None = None  # register (LSSSS 27.2 / LRSSS 265); personal
    justification: Text | None = None  # register; personal
    agreement_purpose: ShortText | None = None  # partner: the purpose as the entente's clause words it
    particulars: EmergencyParticulars | None = None  # only through the emergency path
    # A replay as of an earlier moment (issue 11): decided with the law, the consents and the authorisations
    # of `as_of`; the access itself happens at `moment`. None: decided as of `moment`.
    as_of: Moment | None = None

    @property
    def receiver(self) -> str:
        return self.recipient_id or self.by


class DiscloseInEmergency(Command):
    """LSSSS 19.0.1 / LRSSS 74: communicate without consent to prevent an act of violence."""

    type: Literal["disclose_in_emergency"] = "disclose_in_emergency"
    subject_id: Code
    recipient_id: Code
    recipient_role: Role
    items: list[ShortText] = Field(min_length=1)
    attestations: list[Condition] = Field(default_factory=list)
    particulars: EmergencyParticulars
    basis_code: ShortText | None = None  # default: the one in force on `particulars.occurred_at`


class ReviewEmergencyDisclosure(Command):
    type: Literal["review_emergency"] = "review_emergency"
    subject_id: Code
    disclosure_id: str
    reviewer_role: Role
    conforming: bool
    notes: Text | None = None
