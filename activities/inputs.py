"""The typed inputs of every activity: one model per activity, nothing else.

Workflows import these (and the activities classes, by reference) inside the
sandbox, so this module imports the domain's commands and values only: no use
case, no record, no database driver. Moments carry a time zone (`AwareDatetime`,
`Moment`): a naive one is refused when the input is read, never taken for local
or UTC time (compared with the record's, it would fail inside the activity,
which would then be retried for ever).
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from domain.crisis import commands as cc
from domain.crisis.model import CaseCode
from domain.ententes import commands as ec
from domain.ententes.state import EntentePolicy
from domain.episodes import commands as epc
from domain.episodes.model import EpisodeCode
from domain.values import Moment


# ---------------------------------------------------------------------- ententes
class DraftInput(BaseModel):
    command: ec.DraftEntente
    at: AwareDatetime


class ExecuteInput(BaseModel):
    code: str
    command: ec.EntenteCommand
    at: AwareDatetime
    policy: EntentePolicy | None = None  # the workflow's; None (older histories): the worker's


class AdvanceInput(BaseModel):
    code: str
    now: AwareDatetime
    policy: EntentePolicy | None = None  # the workflow's; None (older histories): the worker's


class LoadInput(BaseModel):
    code: str


# ---------------------------------------------------------------------- crisis cases
class OpenInput(BaseModel):
    command: cc.OpenCase
    at: Moment


# `sends_intake`: whether the activity itself decides the intake's sending to the community teams
# asked, after its save (True: runs recorded before the workflow called `case.send_intake` itself).
class ActInput(BaseModel):
    case_code: CaseCode
    command: cc.CaseCommand
    at: Moment
    sends_intake: bool = True


class AdvanceCaseInput(BaseModel):
    case_code: CaseCode
    now: Moment
    sends_intake: bool = True


class SendIntakeInput(BaseModel):
    """The intake's sending to the community team of one handoff attempt."""

    case_code: CaseCode
    attempt: int = Field(ge=1)


# ---------------------------------------------------------------------- épisodes de services
class OpenEpisodeInput(BaseModel):
    command: epc.OpenEpisode
    at: Moment


class EpisodeActInput(BaseModel):
    episode_code: EpisodeCode
    command: epc.EpisodeCommand
    at: Moment


class AdvanceEpisodeInput(BaseModel):
    episode_code: EpisodeCode
    now: Moment
