"""An épisode de services in the record (in memory): its personal content sealed with the person's key, its
erasure only once it is closed, its replay after the erasure (issue 9's rules, applied to issue 11's episodes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.audit.erasure import SHREDDED, OpenCasesBeforeErasure
from domain.episodes import commands as c
from domain.episodes.model import MeetingMode, RequestMode, ServiceKind
from domain.episodes.state import EpisodeStage
from domain.errors import DomainError
from tests.crisis_builders import memory_record
from usecases.audit.trail import shred
from usecases.episodes import ServiceEpisodes

CSSS = "cisss-laval"
SUBJECT = "subj-0002-efgh"
CODE = "E-ABCDEFGH23"
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def opening(command_id: str = "o-1") -> c.OpenEpisode:
    return c.OpenEpisode(
        by="accueil-1", actor_org=CSSS, command_id=command_id, episode_code=CODE,
        service=ServiceKind.CONSULTATION_SOCIALE, subject_id=SUBJECT, territory="laval", responsible_org=CSSS,
        request_mode=RequestMode.PHONE, personal={"request": "isolement"},
    )


def test_a_retried_opening_finds_its_episode_and_another_is_refused() -> None:
    """The same command id again returns the episode it made; another opening of the code is refused."""
    episodes = ServiceEpisodes(memory_record())
    first = episodes.open(opening(), T0)
    assert episodes.open(opening(), T0 + DAY) == first
    with pytest.raises(DomainError) as refused:
        episodes.open(opening("o-2"), T0 + DAY)
    assert refused.value.code == "duplicate_code"
    assert [h["event"] for h in episodes.history(CODE)] == ["Opened"]
    assert episodes.still_open() == [(CODE, T0)]


def test_a_person_is_erased_once_their_episode_is_closed_and_it_still_replays() -> None:
    """An open episode's workflow reads its payloads with the person's key: the erasure waits for its closing
    (`check_erasable`). After it, the episode still loads, its clocks and meetings intact, its words erased."""
    record = memory_record()
    episodes = ServiceEpisodes(record)
    episodes.open(opening(), T0)
    episodes.execute(CODE, c.AcceptRequest(by="accueil-1", actor_org=CSSS, command_id="a"), T0)
    episodes.execute(CODE, c.RecordMeeting(by="ts-1", actor_org=CSSS, command_id="m", mode=MeetingMode.PHONE,
                                           intervenant_id="ts-1", personal={"notes": "pleurs"}), T0 + DAY)
    assert [p["personal"] for p in episodes.get(CODE).personal_details()] == [{"request": "isolement"},
                                                                             {"notes": "pleurs"}]
    with pytest.raises(OpenCasesBeforeErasure) as refused:
        shred(record, SUBJECT, by="responsable-acces", reason="decision D-1", now=T0 + 2 * DAY)
    assert refused.value.code == "open_cases" and CODE in refused.value.message
    episodes.execute(CODE, c.CloseEpisode(by="ts-1", actor_org=CSSS, command_id="x"), T0 + 2 * DAY)
    shred(record, SUBJECT, by="responsable-acces", reason="decision D-1", now=T0 + 3 * DAY)
    view = episodes.view(CODE)
    assert view.stage is EpisodeStage.CLOSED and len(view.meetings) == 1
    assert [p["personal"] for p in episodes.get(CODE).personal_details()] == [SHREDDED, SHREDDED]
