"""Use cases of the entente: a thin list, each loading, deciding, saving.

No rule lives here: the aggregate decides. `at` is the business moment given by
the caller (the workflow's clock), distinct from the recording timestamp that
the event store puts on every event.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from adapters.record.listings import caught_up
from adapters.record.record import Record, event_name, event_payload
from domain.ententes import commands as c
from domain.ententes.aggregate import Entente, entente_id
from domain.ententes.diff import Change, diff_contents
from domain.ententes.model import EntenteContent
from domain.ententes.state import EntentePolicy, EntenteView
from domain.errors import DomainError, NotFound


class Ententes:
    def __init__(self, record: Record, policy: EntentePolicy | None = None) -> None:
        self.record = record
        self.policy = policy or EntentePolicy()

    # ------------------------------------------------------------------ commands
    def draft(self, cmd: c.DraftEntente, at: datetime) -> EntenteView:
        """Create the entente; a retry (same code, same command) returns what it made."""
        try:
            existing = self.get(cmd.code)
        except NotFound:
            entente = Entente.draft(cmd, at)
            self.record.save(entente)
            return entente.view()
        if existing.already(cmd):
            return existing.view()
        raise DomainError(f"an entente with code {cmd.code} already exists", code="duplicate_code")

    def execute(
        self, code: str, cmd: c.Command, at: datetime, policy: EntentePolicy | None = None
    ) -> EntenteView:
        """`policy`: the one the caller decided with (a workflow's own); default: this application's."""

        def decide(entente: Entente) -> EntenteView:
            entente.execute(cmd, at, policy or self.policy)
            self.record.save(entente)
            return entente.view()

        return self._deciding(code, decide)

    def advance(self, code: str, now: datetime, policy: EntentePolicy | None = None) -> EntenteView:
        """`policy` as for `execute`: a workflow woken by its policy's calendar must be advanced by the same
        calendar, or nothing is due, nothing is recorded and the workflow wakes again at once."""

        def decide(entente: Entente) -> EntenteView:
            if entente.advance(now, policy or self.policy):
                self.record.save(entente)
            return entente.view()

        return self._deciding(code, decide)

    def _deciding(self, code: str, decide: Callable[[Entente], EntenteView]) -> EntenteView:
        """A command on the entente `code` names (`Record.deciding`: from the state kept after the last commit,
        decided again on the stored state if the store had moved on)."""
        return self.record.deciding(self._id(code), decide, lambda: self.get(code))

    # ------------------------------------------------------------------ queries
    def _id(self, code: str) -> UUID:
        """The entente a code names, whatever its case: `ent-lav-2026-01` is `ENT-LAV-2026-01`. A code
        recorded before codes were normalised (kept as typed) is still found under its own spelling."""
        normal = code.strip().upper()
        if normal != code and entente_id(normal) not in self.record.repository:
            legacy = entente_id(code)
            if legacy in self.record.repository:
                return legacy
        return entente_id(normal)

    def get(self, code: str, *, version: int | None = None) -> Entente:
        try:
            entente: Entente = self.record.repository.get(self._id(code), version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no entente with code {code}") from None
        return entente

    def view(self, code: str, *, as_of_event: int | None = None) -> EntenteView:
        return self.get(code, version=as_of_event).view()

    def codes(self, *, from_view: bool = False, party: str | None = None) -> list[str]:
        """Codes of every entente ever drafted, in the order they were drafted: read from the notification log
        (the `Drafted` events, hash-chained). With `from_view`, read from the listings view
        (`adapters.record.listings`, caught up first: the same codes, costing only the events recorded since):
        lists shown to people, and routing and standing, which then load each entente from its chained events
        and decide on those (`list`). `party` (with `from_view` and a view only): the ententes of which that
        organisation is a party in some version's content, a superset of those its content in force or proposed
        names (the caller decides on the loaded ententes); the scan lists them all."""
        if from_view and (listings := caught_up(self.record)) is not None:
            return listings.view.entente_codes(party=party)
        return [ev.code for ev in self.record.events_of(Entente.Drafted)]  # type: ignore[attr-defined]

    def list(self, *, from_view: bool = False, party: str | None = None) -> builtins.list[EntenteView]:
        """Every entente's view, each loaded from its chained events; `from_view`, `party`: which ones, as
        `codes`."""
        return [self.view(code) for code in self.codes(from_view=from_view, party=party)]

    def history(self, code: str) -> builtins.list[dict[str, Any]]:
        aggregate_id = self._id(code)
        if aggregate_id not in self.record.repository:
            raise NotFound(f"no entente with code {code}")
        return [
            {
                "seq": ev.originator_version,
                "event": event_name(ev),
                "recorded_at": ev.timestamp,  # type: ignore[attr-defined]
                **_summarise(event_payload(ev)),
            }
            for ev in self.record.stream(aggregate_id)
        ]

    def diff(self, code: str, old: int, new: int) -> builtins.list[Change]:
        entente = self.get(code)
        for v in (old, new):
            if v not in entente.contents:
                raise NotFound(f"entente {code} has no version {v} (latest: {entente.latest_version})")
        return diff_contents(entente.content_of(old), entente.content_of(new))

    def content(self, code: str, version: int) -> EntenteContent:
        entente = self.get(code)
        if version not in entente.contents:
            raise NotFound(f"entente {code} has no version {version} (latest: {entente.latest_version})")
        return entente.content_of(version)


def _summarise(payload: dict[str, Any]) -> dict[str, Any]:
    """History shows what happened; the full text of a version is read with `show --version`."""
    out = dict(payload)
    if "content" in out:
        out["content"] = f"<version text, {len(str(out['content']))} chars>"
    return out

