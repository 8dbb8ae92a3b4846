"""The signing scheme of arrimage's webhooks, version 1: what a partner checks on every delivery.

Headers of each POST (the body is JSON, UTF-8):

- ``Arrimage-Event-Id``: the message's id, the same on every retry: a receiver that already took it answers
  2xx again and does nothing twice;
- ``Arrimage-Timestamp``: when this attempt was signed, in Unix seconds;
- ``Arrimage-Signature``: ``v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``; while a rotated secret's
  overlap runs, one signature per secret, the new one first: ``v1=<new>,v1=<old>``. A receiver accepts the
  delivery when any of them is its own secret's, so it may swap its copy at any moment of the overlap.

A receiver recomputes the HMAC over the exact bytes received (a forged or altered body or timestamp fails),
refuses a timestamp outside its window (``WINDOW``: 5 minutes; an old capture replayed later fails) and
remembers the event ids it took for that window (a capture replayed within it is a duplicate). The README's
ten lines ("Webhooks") do exactly `verify`, which the tests run against real deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, MutableSet, Sequence
from enum import StrEnum

EVENT_ID = "Arrimage-Event-Id"
TIMESTAMP = "Arrimage-Timestamp"
SIGNATURE = "Arrimage-Signature"
SCHEME = "v1"
WINDOW = 300  # seconds


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `f"{timestamp}.{body}"` under the partner's secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def headers(secret: str, event_id: str, timestamp: int, body: bytes, also: Sequence[str] = ()) -> dict[str, str]:
    """The headers of one signed delivery (a new timestamp, so a new signature, on each attempt): signed with
    `secret`, and with each of `also` (a secret rotated out whose overlap runs) after it."""
    signed = ",".join(f"{SCHEME}={signature(s, timestamp, body)}" for s in (secret, *also))
    return {EVENT_ID: event_id, TIMESTAMP: str(timestamp), SIGNATURE: signed, "Content-Type": "application/json"}


class Verdict(StrEnum):
    OK = "ok"
    FORGED = "forged"  # no valid signature: not from arrimage, or altered on the way
    LATE = "late"  # outside the window: an old delivery replayed, or a clock far off
    DUPLICATE = "duplicate"  # an event id already taken: our retry after a lost answer, or a replay


def verify(secret: str, got: Mapping[str, str], body: bytes, now: float, seen: MutableSet[str],
           window: int = WINDOW) -> Verdict:
    """What a receiver decides (the README's snippet, as a function): `got` the headers, `seen` the event ids
    already taken (kept for the window)."""
    try:
        event, timestamp = got[EVENT_ID], int(got[TIMESTAMP])
        given = [part.strip().removeprefix(f"{SCHEME}=") for part in got[SIGNATURE].split(",")]
    except (KeyError, ValueError):
        return Verdict.FORGED
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, g) for g in given):
        return Verdict.FORGED
    if abs(now - timestamp) > window:
        return Verdict.LATE
    if event in seen:
        return Verdict.DUPLICATE
    seen.add(event)
    return Verdict.OK
