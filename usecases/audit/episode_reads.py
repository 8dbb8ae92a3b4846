"""Reads of an épisode de services: `episodes show` / `episodes history` and `GET /v1/episodes/{code}`.

An episode is part of the person's file (« dossier de l'usager ») exactly as a crisis case is: its read is
framed like a case read (`domain.audit.reads.case_items`: audit metadata for an audit, record content for any
other purpose), decided by the disclosure rules and recorded in the person's register before anything is read
out (`usecases.audit.reads.Reads`, the same path as `cases show`). A refused read returns its decision only.
A listing of episodes reads many persons' metadata: a read across persons, registered in the record-level reads
log like `cases list --all` (`Reads.across`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from domain.audit.reads import CaseItem, case_items
from domain.audit.record_reads import ReadKind, RecordRead
from domain.disclosure.model import Decision
from domain.episodes.state import EpisodeView
from usecases.audit.reads import Reader, Reads
from usecases.episodes import ServiceEpisodes


@dataclass(frozen=True)
class EpisodeRead:
    decision: Decision
    view: EpisodeView | None = None  # `show`, when allowed
    history: list[dict[str, Any]] | None = None  # `history`, when allowed (personal content masked)


class EpisodeReads:
    def __init__(self, reads: Reads, episodes: ServiceEpisodes) -> None:
        self.reads = reads
        self.episodes = episodes

    def episode(self, code: str, what: CaseItem, reader: Reader, moment: datetime) -> EpisodeRead:
        """One item of the episode (its state, or its event list), decided and recorded in its person's register
        before it is read out. NotFound: nothing to decide, nothing recorded."""
        episode = self.episodes.get(code)
        access_id = f"{what.value}:episode:{code}@v{episode.version}:{uuid4().hex[:12]}"
        decision = self.reads.person_read(episode.subject_id, what.item, case_items(reader.purpose), reader,
                                          moment, access_id)
        if what.item not in decision.allowed:
            return EpisodeRead(decision)
        if what is CaseItem.STATE:
            return EpisodeRead(decision, view=episode.view())
        return EpisodeRead(decision, history=self.episodes.history(code))

    def listing(self, reader: Reader, moment: datetime, scope: dict[str, object]) -> RecordRead:
        """A listing of episodes (their coded metadata, never content), registered across persons first."""
        return self.reads.across(ReadKind.CASE_LISTING, reader, moment, {"subject": "episodes", **scope})
