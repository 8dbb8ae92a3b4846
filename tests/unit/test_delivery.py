"""Outbound delivery (issue 10), without a server: the signing scheme a receiver checks (forged, late and
duplicate deliveries detected), which answers are retried, the delivery log's idempotence and sequences,
and partners' signing secrets kept sealed in the record (shown once, never stored in clear)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from adapters.record.keys import DEV_SUBJECT_KEKS, KeyConfigError, parse_key_ring
from adapters.record.record import Record
from adapters.webhooks import signing
from adapters.webhooks.secret_box import SecretBox, UnreadableSecret, webhook_ring
from adapters.webhooks.signing import Verdict
from domain.delivery.aggregate import DeliveryLog, event_id
from domain.delivery.model import Attempt, MessageType, Outcome, SubjectKind, outcome_of
from domain.errors import NotFound, RuleViolation
from domain.principals.model import PrincipalKind
from tests.crisis_builders import decline, request
from tests.crisis_world import CODE, World
from usecases.delivery import Deliveries
from usecases.disclosure import Disclosures
from usecases.handoff import HandoffDisclosures
from usecases.principals import Principals

T0 = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)
SECRET = "whsec_test"
BODY = b'{"id":"e1","sequence":1}'
NOW = 1_800_000_000


def signed(body: bytes = BODY, at: int = NOW, secret: str = SECRET, event: str = "e1") -> dict[str, str]:
    return signing.headers(secret, event, at, body)


def test_a_signed_delivery_verifies_once_and_its_replay_is_a_duplicate() -> None:
    seen: set[str] = set()
    assert signing.verify(SECRET, signed(), BODY, NOW + 2, seen) is Verdict.OK
    assert signing.verify(SECRET, signed(at=NOW + 30), BODY, NOW + 31, seen) is Verdict.DUPLICATE  # a retry


@pytest.mark.parametrize("what", ["body", "timestamp", "secret", "signature", "missing"])
def test_a_forged_or_altered_delivery_is_detected(what: str) -> None:
    headers = signed(secret="whsec_other" if what == "secret" else SECRET)
    body = BODY.replace(b"1}", b"2}") if what == "body" else BODY
    if what == "timestamp":
        headers[signing.TIMESTAMP] = str(NOW + 1)
    if what == "signature":
        headers[signing.SIGNATURE] = "v1=" + "0" * 64
    if what == "missing":
        del headers[signing.SIGNATURE]
    assert signing.verify(SECRET, headers, body, NOW, set()) is Verdict.FORGED


def test_a_delivery_older_than_the_window_is_late_even_when_never_seen() -> None:
    seen: set[str] = set()
    assert signing.verify(SECRET, signed(), BODY, NOW + signing.WINDOW + 1, seen) is Verdict.LATE
    assert seen == set()  # a late one is not taken
    assert signing.verify(SECRET, signed(at=NOW + signing.WINDOW + 1), BODY, NOW - 1, set()) is Verdict.LATE


@pytest.mark.parametrize(("status", "attempt", "expected"), [
    (200, 1, Outcome.DELIVERED), (204, 10, Outcome.DELIVERED), (None, 1, Outcome.RETRYING),
    (503, 3, Outcome.RETRYING), (408, 1, Outcome.RETRYING), (429, 1, Outcome.RETRYING),
    (400, 1, Outcome.REFUSED), (401, 1, Outcome.REFUSED), (410, 2, Outcome.REFUSED),
    (None, 10, Outcome.ABANDONED), (500, 10, Outcome.ABANDONED),
])
def test_which_answers_are_tried_again(status: int | None, attempt: int, expected: Outcome) -> None:
    assert outcome_of(status, attempt) is expected


def test_the_log_queues_a_message_once_and_numbers_messages_per_partner() -> None:
    log = DeliveryLog(kind="case", subject="C-ABCDEFGH23")
    first = log.queue("e1", MessageType.HANDOFF_REQUESTED, "cc-laval", "https://cc/hook", {"attempt": 2}, T0)
    assert log.queue("e1", MessageType.HANDOFF_REQUESTED, "cc-laval", "https://cc/other", {}, T0) == first
    other = log.queue("e2", MessageType.HANDOFF_REQUESTED, "cps-laval", "https://cps/hook", {}, T0)
    second = log.queue("e3", MessageType.HANDOFF_REQUESTED, "cc-laval", "https://cc/hook", {}, T0)
    assert (first.sequence, other.sequence, second.sequence) == (1, 1, 2)
    failed = Attempt(attempt=1, at=T0, outcome=Outcome.RETRYING, error="ConnectError")
    log.attempted("e1", failed)
    log.attempted("e1", failed)  # the same attempt recorded again (a retried recording): once
    done = log.attempted("e1", Attempt(attempt=2, at=T0, outcome=Outcome.DELIVERED, status=204))
    assert [(a.attempt, a.outcome) for a in done.attempts] == [(1, Outcome.RETRYING), (2, Outcome.DELIVERED)]
    assert done.body()["sequence"] == 1 and done.body()["id"] == "e1"
    with pytest.raises(RuleViolation):
        log.attempted("unknown", failed)


def test_a_secret_is_sealed_for_its_partner_and_opens_only_under_the_ring() -> None:
    box = SecretBox(webhook_ring("", DEV_SUBJECT_KEKS))
    sealed = box.seal("cc-laval", SECRET)
    assert SECRET not in sealed and box.open("cc-laval", sealed) == SECRET
    with pytest.raises(UnreadableSecret):
        box.open("cps-laval", sealed)  # copied onto another partner's endpoint
    own = webhook_ring(f"w2027-01-01:{base64.b64encode(bytes(32)).decode()}", DEV_SUBJECT_KEKS)
    with pytest.raises(UnreadableSecret):
        SecretBox(own).open("cc-laval", sealed)  # sealed under a key the ring no longer holds
    derived = webhook_ring("", DEV_SUBJECT_KEKS)
    assert derived.active != DEV_SUBJECT_KEKS.active  # derived, never the KEK itself
    with pytest.raises(KeyConfigError):
        webhook_ring("w1:short", parse_key_ring(f"k:{base64.b64encode(bytes(32)).decode()}"))


def _deliveries(world: World) -> Deliveries:
    box = SecretBox(webhook_ring("", DEV_SUBJECT_KEKS))
    return Deliveries(world.record, box, HandoffDisclosures(world.cases, Disclosures(world.record)))


def stored_rows(record: Record) -> list[str]:
    return [n.state.decode() for n in record.recorder.select_notifications(start=1, limit=10_000)]


def test_an_endpoint_needs_a_partner_and_its_secret_is_shown_once_never_stored_in_clear() -> None:
    world = World()
    deliveries = _deliveries(world)
    with pytest.raises(NotFound):
        deliveries.register("cc-laval", "https://cc.example/hook", by="admin", at=T0)
    Principals(world.record).add_partner("cc-laval", "Centre de crise de Laval", by="admin", at=T0)
    with pytest.raises(RuleViolation) as refused:
        deliveries.register("cc-laval", "http://cc.example/hook", by="admin", at=T0)
    assert refused.value.code == "invalid_endpoint"
    first = deliveries.register("cc-laval", "https://cc.example/hook", by="admin", at=T0)
    assert first.secret is not None and first.secret.startswith("whsec_")
    moved = deliveries.register("cc-laval", "https://cc.example/v2", by="admin", at=T0)
    assert moved.secret is None and moved.endpoint.secret_id == first.endpoint.secret_id
    rotated = deliveries.register("cc-laval", "https://cc.example/v2", rotate_secret=True, by="admin", at=T0)
    assert rotated.secret not in (None, first.secret) and rotated.endpoint.secret_id != first.endpoint.secret_id
    assert deliveries.target("cc-laval").secret == rotated.secret
    rows = "\n".join(stored_rows(world.record))
    assert first.secret[6:] not in rows and rotated.secret is not None and rotated.secret[6:] not in rows
    assert deliveries.with_endpoint(["cc-laval", "cps-laval", "cc-laval"]) == ["cc-laval"]
    Principals(world.record).revoke(PrincipalKind.PARTNER, "cc-laval", "fin de l'entente", by="admin", at=T0)
    assert deliveries.with_endpoint(["cc-laval"]) == []  # a revoked partner gets nothing more


def test_a_handoff_message_carries_codes_the_deadline_and_the_sharing_decision_only() -> None:
    world = World()
    deliveries = _deliveries(world)
    Principals(world.record).add_partner("cc-laval", "Centre de crise de Laval", by="admin", at=T0)
    deliveries.register("cc-laval", "https://cc.example/hook", by="admin", at=T0)
    world.open()
    world.do(request())
    world.do(decline())
    message = deliveries.handoff_requested(CODE, 2)
    assert message == deliveries.handoff_requested(CODE, 2)  # queued once
    assert message.event_id == event_id(SubjectKind.CASE, CODE, "handoff:2")
    data = message.data
    assert (data["case_code"], data["attempt"], data["team_id"], data["org_id"]) == (CODE, 2, "cc-laval",
                                                                                     "cc-laval")
    assert data["answer_by"] is not None and data["sharing"] == {"basis": "none", "items": []}
    text = json.dumps(message.body())
    view = world.cases.get(CODE)
    assert view.subject_id is not None and view.subject_id not in text
    assert [m.event_id for m in deliveries.log(SubjectKind.CASE, CODE)] == [message.event_id]


