"""The commands a supervisor or partner system can give an entente.

One typed object per command. Field constraints are the first line of
refusal (malformed input never reaches a workflow); the rules in `rules.py`
are the second (a well-formed command out of turn is refused with a reason).
Every command carries `by` (who acts) and, once inside the engine,
a `command_id` that makes its recording idempotent.

At this first line: codes are normalised (`ent-lav-2026-01` is `ENT-LAV-2026-01`, party ids
lower-case), free text refuses control characters and bidirectional overrides, every moment
carries its time zone and every date lies between 2000 and 2099, and the whole command fits in
`MAX_COMMAND_BYTES` (a larger one would be recorded and then block every later command on the
entente at Temporal's payload limit). Whether a moment is plausible *for this entente* (a
deadline after now and within the policy's maximum…) is a rule, in `rules.py`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from domain.ententes.model import Code, Day, EntenteCode, EntenteContent, Frozen, ShortText, Text
from domain.ententes.state import ReviewOutcome
from domain.values import Moment, check_command_size


class Command(Frozen):
    by: ShortText = Field(description="who gives the command (user or system id)")
    command_id: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _within_budget(self) -> Command:
        check_command_size(self.model_dump(mode="json"))
        return self


class DraftEntente(Command):
    type: Literal["draft"] = "draft"
    code: EntenteCode
    content: EntenteContent


class ReviseDraft(Command):
    type: Literal["revise"] = "revise"
    content: EntenteContent
    reason: Text | None = None


class SubmitForSignature(Command):
    type: Literal["submit"] = "submit"
    signature_deadline: Moment | None = None  # default: the policy's signature period


class SignEntente(Command):
    type: Literal["sign"] = "sign"
    party_id: Code
    version: int = Field(ge=1)
    signatory: ShortText
    title: ShortText | None = None


class RefuseSignature(Command):
    type: Literal["refuse"] = "refuse"
    party_id: Code
    version: int = Field(ge=1)
    reason: Text


class WithdrawFromEntente(Command):
    type: Literal["withdraw"] = "withdraw"
    party_id: Code
    reason: Text


class ProposeAmendment(Command):
    type: Literal["amend"] = "amend"
    content: EntenteContent
    reason: Text


class ProposeRenewal(Command):
    type: Literal["renew"] = "renew"
    end_date: Day | None  # None: renewed without an end date
    reason: Text


class RecordReview(Command):
    type: Literal["review"] = "review"
    outcome: ReviewOutcome
    notes: Text | None = None


class GiveRevocationNotice(Command):
    type: Literal["revoke"] = "revoke"
    party_id: Code
    reason: Text
    effective_date: Day


class Advance(Command):
    """Time has passed: record whatever the calendar makes due (activation, review, expiry…)."""

    type: Literal["advance"] = "advance"
    now: Moment


EntenteCommand = Annotated[
    ReviseDraft
    | SubmitForSignature
    | SignEntente
    | RefuseSignature
    | WithdrawFromEntente
    | ProposeAmendment
    | ProposeRenewal
    | RecordReview
    | GiveRevocationNotice,
    Field(discriminator="type"),
]
