"""Outbound delivery (issue 10), without a server: the signing scheme a receiver checks (forged, late and
duplicate deliveries detected), which answers are retried, the delivery log's idempotence and sequences,
and partners' signing secrets kept sealed in the record (shown once, never stored in clear)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from adapters.record.keys import DEV_SUBJECT_KEKS, KeyConfigError, parse_key_ring
from adapters.record.record import Record
from adapters.webhooks import signing
from adapters.webhooks.secret_box import SecretBox, UnreadableSecret, webhook_ring
from adapters.webhooks.signing import Verdict
from domain.clock import start_of
from domain.delivery.aggregate import DeliveryLog, Endpoint, event_id
from domain.delivery.model import Attempt, MessageType, Outcome, SubjectKind, outcome_of
from domain.ententes import commands as ec
from domain.errors import NotFound, RuleViolation
from domain.principals.model import PrincipalKind
from tests.crisis_builders import HOUR, decline, request
from tests.crisis_world import CODE, World, referral
from tests.factories import service_entente
from tests.webhook_receiver import readme_verify
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
    assert deliveries.target("cc-laval", T0).secrets == (rotated.secret,)  # --rotate-secret: no overlap
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




# ---------------------------------------------------------------------------------------- secret rotation
def test_a_secret_rotated_with_an_overlap_signs_beside_the_new_one_until_the_overlap_ends() -> None:
    endpoint = Endpoint(org_id="cc-laval", url="https://cc/hook", secret_id="s1", sealed_secret="sealed-1",
                        by="admin", at=T0)
    assert endpoint.signing_secrets(T0) == ["sealed-1"]
    endpoint.rotate("s2", "sealed-2", timedelta(days=7), "admin", T0)
    ends = T0 + timedelta(days=7)
    assert endpoint.signing_secrets(T0) == ["sealed-2", "sealed-1"]  # the new one first
    assert endpoint.signing_secrets(ends - timedelta(seconds=1)) == ["sealed-2", "sealed-1"]
    assert endpoint.signing_secrets(ends) == ["sealed-2"]  # the overlap's end: only the new one
    view = endpoint.view()
    assert (view.secret_id, view.previous_secret_id, view.previous_until) == ("s2", "s1", ends)
    # Rotated again during the overlap: the secret rotated out first stops at once (two sign at most).
    endpoint.rotate("s3", "sealed-3", timedelta(days=1), "admin", T0 + timedelta(days=2))
    assert endpoint.signing_secrets(T0 + timedelta(days=2)) == ["sealed-3", "sealed-2"]
    # Without overlap, or with --rotate-secret (`change`): the old one stops signing at once.
    endpoint.rotate("s4", "sealed-4", timedelta(0), "admin", T0 + timedelta(days=2))
    assert endpoint.signing_secrets(T0 + timedelta(days=2)) == ["sealed-4"] and endpoint.view().previous_until is None
    endpoint.rotate("s5", "sealed-5", timedelta(days=3), "admin", T0 + timedelta(days=2))
    endpoint.change("https://cc/hook", "s6", "sealed-6", "admin", T0 + timedelta(days=2))
    assert endpoint.signing_secrets(T0 + timedelta(days=2)) == ["sealed-6"]


@pytest.mark.parametrize("overlap", [timedelta(seconds=-1), timedelta(days=90, seconds=1)])
def test_an_overlap_outside_0_to_90_days_is_refused_and_nothing_recorded(overlap: timedelta) -> None:
    world = World()
    deliveries = _deliveries(world)
    Principals(world.record).add_partner("cc-laval", "Centre de crise de Laval", by="admin", at=T0)
    first = deliveries.register("cc-laval", "https://cc.example/hook", by="admin", at=T0)
    before = stored_rows(world.record)
    with pytest.raises(RuleViolation) as refused:
        deliveries.rotate_secret("cc-laval", overlap, by="admin", at=T0)
    assert refused.value.code == "invalid_overlap"
    assert stored_rows(world.record) == before
    assert deliveries.endpoint("cc-laval") == first.endpoint
    with pytest.raises(NotFound):
        deliveries.rotate_secret("cps-laval", timedelta(days=1), by="admin", at=T0)  # no such partner


def test_the_readme_check_accepts_either_secret_during_the_overlap_and_only_the_new_one_after() -> None:
    """The partner's ten lines (README, Webhooks), run as written, on what `target` gives the sender to sign
    with during the overlap and after it."""
    world = World()
    deliveries = _deliveries(world)
    Principals(world.record).add_partner("cc-laval", "Centre de crise de Laval", by="admin", at=T0)
    old = deliveries.register("cc-laval", "https://cc.example/hook", by="admin", at=T0).secret
    new = deliveries.rotate_secret("cc-laval", timedelta(days=7), by="admin", at=T0).secret
    assert old is not None and new is not None and old != new
    stored = "\n".join(stored_rows(world.record))
    assert old[6:] not in stored and new[6:] not in stored  # both sealed
    verify = readme_verify()

    def delivered(at: datetime, event: str) -> tuple[dict[str, str], bytes]:
        secrets = deliveries.target("cc-laval", at).secrets
        stamp = int(time.time())  # the check's window runs on the receiver's clock
        return signing.headers(secrets[0], event, stamp, BODY, also=secrets[1:]), BODY

    during, body = delivered(T0 + timedelta(days=6), "e-during")
    assert during[signing.SIGNATURE].count("v1=") == 2 and during[signing.SIGNATURE].startswith(
        f"v1={signing.signature(new, int(during[signing.TIMESTAMP]), body)},v1=")
    assert verify(old, during, body, set()) == "ok"  # a partner that has not swapped its copy yet
    assert verify(new, during, body, set()) == "ok"  # one that already has
    assert verify("whsec_guessed", during, body, set()) == "forged"
    after, body = delivered(T0 + timedelta(days=7), "e-after")
    assert after[signing.SIGNATURE].count("v1=") == 1
    assert verify(old, after, body, set()) == "forged"  # the old secret verifies nothing any more
    assert verify(new, after, body, set()) == "ok"


# ---------------------------------------------------------------------------------------- referral, review
def test_a_referral_message_tells_the_receiving_service_what_to_decide_and_by_when() -> None:
    world = World()
    deliveries = _deliveries(world)
    Principals(world.record).add_partner("clsc-ouest", "CLSC de l'Ouest", by="admin", at=T0)
    deliveries.register("clsc-ouest", "https://clsc.example/hook", by="admin", at=T0)
    world.to_intervention()
    view = world.do(referral(), T0 + 3 * HOUR)
    [sent] = view.referrals
    message = deliveries.referral_sent(CODE, 1)
    assert message == deliveries.referral_sent(CODE, 1)  # queued once
    assert (message.type, message.org_id, message.sequence, message.queued_at) == (
        MessageType.REFERRAL_SENT, "clsc-ouest", 1, sent.sent_at)
    assert message.event_id == event_id(SubjectKind.CASE, CODE, "referral:1")
    due = view.deadline(sent.decision_deadline)
    assert due is not None
    assert message.data == {
        "case_code": CODE, "referral": 1, "org_id": "clsc-ouest", "service": "consultation_sociale",
        "measure": "reference_personnalisee", "channel": sent.channel.value, "referred_by": sent.referred_by,
        "decide_by": due.due_at.isoformat(), "read": f"/v1/cases/{CODE}", "task": f"/fhir/Task/{CODE}-r1"}
    text = json.dumps(message.body())
    assert "appel à l'accueil" not in text and view.subject_id not in text  # codes only
    with pytest.raises(NotFound):
        deliveries.referral_sent(CODE, 2)


def test_reminders_and_reviews_are_queued_while_they_still_ask_the_party() -> None:
    world = World()
    deliveries = _deliveries(world)
    for org in ("cisss-laval", "cc-laval"):
        Principals(world.record).add_partner(org, org, by="admin", at=T0)
        deliveries.register(org, f"https://{org}.example/hook", by="admin", at=T0)
    ententes = world.ententes
    code = "ENT-REVIEW"
    ententes.draft(ec.DraftEntente(by="dsp", code=code, content=service_entente(effective=None)), T0)
    ententes.execute(code, ec.SubmitForSignature(by="dsp"), T0)
    ententes.advance(code, T0 + timedelta(days=7, hours=1))
    view = ententes.view(code)
    assert view.proposal is not None and view.proposal.reminders_sent == 1
    at = view.proposal.last_reminder_at
    assert at is not None
    reminder = deliveries.signature_reminder(code, 1, 1, "cc-laval", at)
    assert (reminder.type, reminder.sequence, reminder.data["reminder"], reminder.queued_at) == (
        MessageType.SIGNATURE_REMINDER, 1, 1, at)
    ententes.execute(code, ec.SignEntente(by="cc", party_id="cc-laval", version=1, signatory="D.G."), at)
    with pytest.raises(RuleViolation) as signed:
        deliveries.signature_reminder(code, 1, 1, "cc-laval", at)  # signed since: recorded once, still there
    assert signed.value.code == "not_in_signature"
    ententes.execute(code, ec.SignEntente(by="cisss", party_id="cisss-laval", version=1, signatory="P.D.G."), at)
    view = ententes.advance(code, at)
    assert view.next_review_due is not None
    with pytest.raises(RuleViolation) as early:
        deliveries.review_due(code, view.next_review_due, "cc-laval")
    assert early.value.code == "review_not_pending"
    view = ententes.advance(code, start_of(view.next_review_due))
    assert view.review_pending is not None
    due = deliveries.review_due(code, view.review_pending, "cc-laval")
    assert due == deliveries.review_due(code, view.review_pending, "cc-laval")  # queued once
    assert (due.type, due.sequence, due.queued_at) == (MessageType.REVIEW_DUE, 2, start_of(view.review_pending))
    assert due.data == {"entente_code": code, "version": 1, "party_id": "cc-laval",
                        "due_on": view.review_pending.isoformat(), "review_interval_months": 12,
                        "read": f"/v1/ententes/{code}"}
    assert [m.type for m in deliveries.log(SubjectKind.ENTENTE, code)] == [
        MessageType.SIGNATURE_REMINDER, MessageType.REVIEW_DUE]
