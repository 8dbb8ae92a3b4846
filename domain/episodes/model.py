"""What an épisode de services is made of: its service, how the request came, its meetings.

Personal details (the request in words, notes of a meeting, the evaluation, the plans' content, a PI
revision's justification, a closing's reason) never sit in these coded fields: they travel in the
`personal` mapping of the commands and events that carry them, beside the opaque `subject_id`, and the
record seals them with the person's key (``domain.audit.erasure.SEALED_PARTS``).
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints

from domain.crisis.model import Personal, RequestMode, SubjectId
from domain.standards.config import UrgencyLevel

__all__ = [
    "EpisodeCode",
    "MeetingMode",
    "Personal",
    "RequestMode",
    "ServiceKind",
    "SubjectId",
    "UrgencyLevel",
    "new_episode_code",
]

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


# Opaque, like a crisis case's code: workflow ids carry it, never a name or a health number.
EpisodeCode = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^E-[A-Z2-7]{10}$")]


def new_episode_code() -> str:
    """A fresh opaque episode code: ``E-`` and 10 random base32 characters, never derived from the person."""
    return "E-" + "".join(secrets.choice(_BASE32) for _ in range(10))


def episode_code_for(request_id: str) -> str:
    """The episode code a request opening a episode without one gets when it may run twice (the gateway's write
    with an Idempotency-Key, run again after its process died): the same request, the same code. From the
    request's id (random, kept with its Idempotency-Key; never from the person): ``E-`` and 10 base32 characters."""
    digest = int.from_bytes(hashlib.sha256(f"episode {request_id}".encode()).digest()[:8], "big")
    return "E-" + "".join(_BASE32[(digest >> (5 * i)) & 31] for i in range(10))


class ServiceKind(StrEnum):
    """The service of the episode; its value is the `service` of its standards and the key of its meeting cap
    (``domain.standards.config``)."""

    AAOR = "aaor"  # accueil, analyse, orientation et référence (seed 001 L681-800)
    CONSULTATION_SOCIALE = "consultation_sociale"  # seed 001 L1420-1560
    CONSULTATION_PSYCHOLOGIQUE = "consultation_psychologique"  # seed 001 L1660-1760

    @property
    def consultation(self) -> bool:
        return self is not ServiceKind.AAOR


SERVICE_NAMES = {
    ServiceKind.AAOR: "AAOR",
    ServiceKind.CONSULTATION_SOCIALE: "consultation sociale",
    ServiceKind.CONSULTATION_PSYCHOLOGIQUE: "consultation psychologique",
}


class MeetingMode(StrEnum):
    """How a meeting was held: the AAOR is reached « par téléphone et par des rencontres en personne »
    (seed 001 L761); the consultations meet on appointment (L1483, L1729), in the office, at home or at a
    distance."""

    IN_PERSON = "en_personne"
    PHONE = "telephone"
    VIDEO = "visio"
    AT_HOME = "domicile"
    GROUP = "groupe"  # « l'intervention en groupe » (L1429)
