"""Activities of the épisode de services workflow: load, decide (in the aggregate), save.

Idempotent like the crisis case's: commands carry the workflow id and the Temporal update id as
`command_id`, which the aggregate remembers, so a retried `episode.act` records nothing twice; `episode.open`
finds the episode a retry already made (its id derives from the code); `episode.advance` records only the
deadlines not yet recorded as missed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity

from activities.errors import classified
from activities.inputs import AdvanceEpisodeInput, EpisodeActInput, OpenEpisodeInput
from domain.episodes.state import EpisodeView

if TYPE_CHECKING:  # the workflows import this module in their sandbox: no use case, no record there
    from usecases.episodes import ServiceEpisodes

__all__ = ["AdvanceEpisodeInput", "EpisodeActInput", "EpisodeActivities", "OpenEpisodeInput"]


class EpisodeActivities:
    def __init__(self, episodes: ServiceEpisodes) -> None:
        self.episodes = episodes

    @activity.defn(name="episode.open")
    @classified
    def open(self, inp: OpenEpisodeInput) -> EpisodeView:
        return self.episodes.open(inp.command, inp.at)

    @activity.defn(name="episode.act")
    @classified
    def act(self, inp: EpisodeActInput) -> EpisodeView:
        return self.episodes.execute(inp.episode_code, inp.command, inp.at)

    @activity.defn(name="episode.advance")
    @classified
    def advance(self, inp: AdvanceEpisodeInput) -> EpisodeView:
        return self.episodes.advance(inp.episode_code, inp.now)

    def all(self) -> list[Callable[..., Any]]:
        return [self.open, self.act, self.advance]
