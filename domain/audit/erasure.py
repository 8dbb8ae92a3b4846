"""The act of erasure is itself a fact of the record: one small aggregate per person.

`SubjectErasure` holds one event, ``SubjectShredded`` (who, why, which key id
was destroyed). Its id is derived from the subject id (uuid5), so a retried
shred finds the erasure it already recorded instead of recording a second one.
The event carries the subject's opaque code, never personal content: the
``reason`` must be written accordingly (a decision reference, not a story).

After erasure, an event's ``personal`` part reads back as `SHREDDED` (its
ciphertext no longer opens, ``adapters.record.sealing``): every aggregate must
accept that value when it replays. Recording new personal content about an
erased person is refused (`SubjectErased`): an erasure is not silently undone by
the next event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError

SHREDDED: dict[str, Any] = {"shredded": True}
"""What an erased person's ``personal`` content reads as."""

ERASED_TEXT = "[effacé]"
"""What a text typed about an erased person (a decline's reason, a closing's…) reads as in the aggregate's state."""

SEALED_PARTS = ("personal", "characterisation")
"""The attributes of an event that are sealed with its person's key (``adapters.record.sealing``), beside its
``subject_id``. Why these and nothing else: `personal` holds every word typed about the person (an intake's
reason, a note, and the typed reason of a decline, a reassignment, an extension, a referral refusal, a hand-back,
a closing); `characterisation` what the intake says of them in codes (crisis type, risk estimates, P-38.001),
which beside the subject id is health information. What stays in clear is what the engine needs to run and
to report without the person's key: ids, stages, deadlines, urgency, who did what, texts the engine wrote.
After erasure each reads back as `SHREDDED`."""


class SubjectErased(DomainError):
    """New personal content for a person whose key was destroyed."""

    code = "subject_erased"


class OpenCasesBeforeErasure(DomainError):
    """An erasure asked while a crisis case of the person is still open."""

    code = "open_cases"


def check_erasable(subject_id: str, open_cases: list[str], open_episodes: Sequence[str] = ()) -> None:
    """A person's key is destroyed only once their crisis cases and their épisodes de services are closed: an
    open one's workflow reads its own history and its next commands with that key (its payloads are sealed with
    it), so erasing first would leave it stuck, neither workable nor closable (issue 9)."""
    if open_cases:
        raise OpenCasesBeforeErasure(
            f"person {subject_id} still has {len(open_cases)} open crisis case(s): {', '.join(open_cases)}; "
            "close them first (`arrimage cases close CODE --reason …`), then erase"
        )
    if open_episodes:
        raise OpenCasesBeforeErasure(
            f"person {subject_id} still has {len(open_episodes)} open épisode(s) de services: "
            f"{', '.join(open_episodes)}; close them first, then erase"
        )


NAMESPACE = UUID("0b6f0c1e-58a4-4d2f-9f6e-7a3c1d2e4b59")


def erasure_id(subject_id: str) -> UUID:
    return uuid5(NAMESPACE, f"erasure:{subject_id}")


class SubjectErasure(Aggregate):
    @staticmethod
    def create_id(subject_id: str, **_: Any) -> UUID:
        return erasure_id(subject_id)

    @event("SubjectShredded")
    def __init__(self, subject_id: str, key_id: str | None, by: str, reason: str) -> None:
        self.subject_id = subject_id
        self.key_id = key_id
        self.by = by
        self.reason = reason
