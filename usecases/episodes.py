"""Use cases of the épisode de services (AAOR, consultation sociale, consultation psychologique): a thin list.

Each loads, calls the aggregate (`domain.episodes.aggregate.ServiceEpisode`), saves: no rule lives here. `at`
is the business moment given by the caller (the workflow's clock); a refusal is a `DomainError` (its `code`
is stable: `meeting_cap_reached`, `not_accepted`, `episode_closed`, `moment_in_future`…) raised before
anything is saved. Commands are the models of `domain.episodes.commands`; the view is
`domain.episodes.state.EpisodeView` (no personal content; its `observations()` feed the standards report).

Entry points give commands through the episode's workflow (`workflows.episodes`, typed client
`adapters.temporal.episodes.EpisodeClient`), which calls these through its activities; reads (`view`,
`history`, `opened`, `still_open`, `observations`) come straight from the record.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from adapters.record.listings import caught_up
from adapters.record.record import Record
from domain.episodes import commands as c
from domain.episodes.aggregate import ServiceEpisode, episode_id
from domain.episodes.state import EpisodeView
from domain.errors import DomainError, NotFound
from domain.standards.compliance import Observation
from domain.standards.config import StandardsConfig
from usecases.aggregates import each_view, masked_history


class ServiceEpisodes:
    """The épisodes de services of one record, under one region's standards (`config`)."""

    def __init__(self, record: Record, config: StandardsConfig | None = None) -> None:
        self.record = record
        self.config = config or StandardsConfig()

    # ------------------------------------------------------------------ commands
    def open(self, cmd: c.OpenEpisode, at: datetime) -> EpisodeView:
        """Open the episode at `at`; a retry (same code, same command id) returns the episode it made.
        Refused: `wrong_party`, `moment_in_future`, `moment_before_lookback`, `duplicate_code`."""
        try:
            existing = self.get(cmd.episode_code)
        except NotFound:
            episode = ServiceEpisode.open(cmd, at, self.config)
            self.record.save(episode)
            return episode.view()
        if existing.already(cmd):
            return existing.view()
        raise DomainError(f"an episode with code {cmd.episode_code} already exists", code="duplicate_code")

    def check_opening(self, cmd: c.OpenEpisode, at: datetime) -> None:
        """Would `open` accept this command now? The same rules, nothing saved: an entry point asks before it
        starts an episode's workflow, so a refused opening leaves none behind."""
        try:
            existing = self.get(cmd.episode_code)
        except NotFound:
            ServiceEpisode.open(cmd, at, self.config)
            return
        if not existing.already(cmd):
            raise DomainError(f"episode {cmd.episode_code} is already open", code="duplicate_code")

    def execute(self, episode_code: str, cmd: c.Command, at: datetime) -> EpisodeView:
        """Any command of `domain.episodes.commands.EpisodeCommand` given the episode at `at`."""
        episode = self.get(episode_code)
        episode.execute(cmd, at, self.config)
        self.record.save(episode)
        return episode.view()

    def advance(self, episode_code: str, now: datetime) -> EpisodeView:
        """Record a `DeadlineMissed` for each clock due by `now` (at its due moment); idempotent."""
        episode = self.get(episode_code)
        if episode.advance(now):
            self.record.save(episode)
        return episode.view()

    # ------------------------------------------------------------------ queries
    def get(self, episode_code: str, *, version: int | None = None) -> ServiceEpisode:
        try:
            episode: ServiceEpisode = self.record.repository.get(episode_id(episode_code), version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no episode with code {episode_code}") from None
        return episode

    def view(self, episode_code: str, *, as_of_event: int | None = None) -> EpisodeView:
        """The episode as its readers see it (no personal content), now or as of its n-th event."""
        return self.get(episode_code, version=as_of_event).view()

    def opened(self, *, from_view: bool = False) -> builtins.list[tuple[str, datetime]]:
        """(code, opening moment) of every episode ever opened, in order, from the notification log (the
        `Opened` events only, their sealed parts left closed). `from_view`: from the listings view
        (`adapters.record.listings`, caught up first), for listings shown to people, never for a decision."""
        if from_view and (listings := caught_up(self.record)) is not None:
            return listings.view.cases(open_only=False, kind="episodes")
        opened = ServiceEpisode.Opened  # type: ignore[attr-defined]
        return [(ev.episode_code, ev.at) for ev in self.record.events_of(opened, sealed=True)]

    def still_open(self, *, from_view: bool = False) -> builtins.list[tuple[str, datetime]]:
        """(code, opening moment) of every episode not closed, in the order they were opened (`from_view`: as
        `opened`)."""
        if from_view and (listings := caught_up(self.record)) is not None:
            return listings.view.cases(open_only=True, kind="episodes")
        closed_event = ServiceEpisode.EpisodeClosed  # type: ignore[attr-defined]
        closed = {ev.originator_id for ev in self.record.events_of(closed_event, sealed=True)}
        return [(code, at) for code, at in self.opened() if episode_id(code) not in closed]

    def opened_in(self, since: datetime | None = None, until: datetime | None = None, *, from_view: bool = True,
                  ) -> builtins.list[tuple[str, datetime]]:
        """`opened`, only the episodes opened in [since, until) (an open end: no bound), from the listings view
        unless `from_view=False` (the scan)."""
        return [(code, at) for code, at in self.opened(from_view=from_view)
                if (since is None or at >= since) and (until is None or at < until)]

    def views(
        self, codes: Iterable[tuple[str, datetime]], *, skipped: Callable[[tuple[str, str]], None]
    ) -> Iterator[tuple[str, datetime, EpisodeView]]:
        """The view of each episode of `codes` (as `opened` gives them); one that does not load is passed to
        `skipped` as (code, why) and the others are still read."""
        return each_view(codes, self.view, skipped)

    def observations(self, *, skipped: Callable[[tuple[str, str]], None] | None = None) -> builtins.list[Observation]:
        """Every clock of every episode, for the standards report (`domain.standards.compliance.compliance`)."""
        out: list[Observation] = []
        for _, _, view in self.views(self.opened(), skipped=skipped or (lambda _: None)):
            out.extend(view.observations())
        return out

    def history(self, episode_code: str) -> builtins.list[dict[str, Any]]:
        """Every event of the episode, its sealed parts masked, or erased."""
        aggregate_id = episode_id(episode_code)
        if aggregate_id not in self.record.repository:
            raise NotFound(f"no episode with code {episode_code}")
        return masked_history(self.record, aggregate_id)
