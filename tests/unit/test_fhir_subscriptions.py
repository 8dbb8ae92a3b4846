"""FHIR Task subscriptions after the Subscriptions R5 Backport IG for R4, 1.1.0 (issue 10), the pure parts: the
owner filter (a partner's own Tasks only), what a Subscription may ask (rest-hook, id-only; full-resource,
heartbeats and the rest refused by name), the aggregate (handshake → active or error, each event numbered once,
nothing to a subscription that is off, in error, past its end or younger than the change), which Task changes
a step made, and the notification Bundles — each validated by fhir.resources."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.subscription import Subscription as FhirSubscription
from pydantic import ValidationError

from adapters.fhir import resources as fr
from adapters.fhir import subscriptions as fs
from domain.crisis import commands as c
from domain.delivery.model import Attempt, Outcome
from domain.fhir.subscriptions import (
    FILTER_CRITERIA,
    HEARTBEAT_PERIOD,
    PAYLOAD_CONTENT,
    TOPIC,
    Subscription,
    SubscriptionRefused,
    SubscriptionStatus,
    check_owner,
    owner_filter,
    owners,
    statuses,
    subscription_id,
    task_changes,
)
from tests.crisis_builders import DAY, HOUR, MIN, T0, decline, request
from tests.crisis_world import CODE, World

ORG = "cc-laval"
BASE = "https://arrimage.example/fhir"


def body(**changes: Any) -> dict[str, Any]:
    """A partner's Subscription as the backport profile writes it, changed by `changes` (None removes)."""
    out: dict[str, Any] = {
        "resourceType": "Subscription", "status": "requested", "reason": "our Tasks",
        "criteria": TOPIC,
        "_criteria": {"extension": [{"url": FILTER_CRITERIA, "valueString": f"Task?owner=Organization/{ORG}"}]},
        "channel": {"type": "rest-hook", "endpoint": "https://partner.example/fhir-hook",
                    "payload": "application/fhir+json",
                    "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "id-only"}]}},
    }
    for path, value in changes.items():
        where, *rest = path.split("__")
        target = out if not rest else out[where]
        key = rest[0] if rest else where
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return out


def refused(data: dict[str, Any]) -> SubscriptionRefused:
    with pytest.raises(SubscriptionRefused) as caught:
        fs.asked(data, T0)
    return caught.value


def made(at: Any = T0, end: Any = None, heartbeat: int | None = None) -> Subscription:
    return Subscription(subscription_id=str(subscription_id(ORG, "k1")), org_id=ORG, topic=TOPIC, owner=ORG,
                        endpoint="https://partner.example/fhir-hook", base=BASE, reason="", end=end, by=ORG, at=at,
                        heartbeat_period=heartbeat)


def attempt(n: int, outcome: Outcome, status: int | None = 200) -> Attempt:
    return Attempt(attempt=n, at=T0, outcome=outcome, status=status)


# ---------------------------------------------------------------------- the filter
@pytest.mark.parametrize("criteria", [
    f"Task?owner=Organization/{ORG}", f"owner=Organization/{ORG}", f"Task?owner=urn:arrimage:organisation|{ORG}",
    f"Task?owner={ORG}",
])
def test_the_owner_filter_names_one_organisation(criteria: str) -> None:
    assert owner_filter(criteria) == ORG


@pytest.mark.parametrize(("criteria", "code"), [
    (None, "filter_required"), ("", "filter_required"),
    ("Patient?owner=Organization/cc-laval", "unknown_filter"),
    ("Task?status=accepted", "unknown_filter"),
    ("Task?owner=Organization/cc-laval&status=accepted", "unknown_filter"),
    ("Task?owner=Organization/cc laval", "unknown_filter"),
])
def test_any_other_filter_is_refused(criteria: str | None, code: str) -> None:
    with pytest.raises(SubscriptionRefused) as caught:
        owner_filter(criteria)
    assert caught.value.code == code and caught.value.field == "_criteria"


def test_a_partner_subscribes_to_its_own_tasks_only() -> None:
    check_owner(ORG, ORG)
    with pytest.raises(SubscriptionRefused) as caught:
        check_owner("cc-autre", ORG)
    assert (caught.value.code, caught.value.status) == ("not_your_tasks", 403)


# ---------------------------------------------------------------------- what a Subscription may ask
def test_a_backport_subscription_is_read() -> None:
    asked = fs.asked(body(end=(T0 + timedelta(days=30)).isoformat()), T0)
    assert (asked.owner, asked.endpoint, asked.reason, asked.end) == (
        ORG, "https://partner.example/fhir-hook", "our Tasks", T0 + timedelta(days=30))
    assert asked.heartbeat_period is None
    local = copy.deepcopy(body())
    local["channel"]["endpoint"] = "http://127.0.0.1:9000/hook"
    assert fs.asked(local, T0).endpoint == "http://127.0.0.1:9000/hook"
    beating = channel(extension=[{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 3600}])
    assert fs.asked(beating, T0).heartbeat_period == 3600


def channel(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(body())
    for key, value in changes.items():
        if value is None:
            out["channel"].pop(key, None)
        else:
            out["channel"][key] = value
    return out


@pytest.mark.parametrize(("data", "code", "field"), [
    (channel(_payload={"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "full-resource"}]}), "id_only",
     "channel.payload"),
    (channel(_payload={"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "empty"}]}), "id_only", "channel.payload"),
    (channel(_payload=None), "id_only", "channel.payload"),
    (channel(payload="application/fhir+xml"), "unsupported_payload", "channel.payload"),
    (channel(extension=[{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 59}]), "invalid_heartbeat",
     "channel.extension"),
    (channel(extension=[{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 86401}]), "invalid_heartbeat",
     "channel.extension"),
    (channel(extension=[{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 60}, {"url": HEARTBEAT_PERIOD,
                                                                            "valueUnsignedInt": 90}]),
     "invalid_heartbeat", "channel.extension"),
    (channel(extension=[{"url": "http://example.org/other", "valueString": "x"}]), "unknown_extension",
     "channel.extension"),
    (channel(type="websocket"), "unsupported_channel", "channel.type"),
    (channel(endpoint="http://partner.example/hook"), "invalid_endpoint", "channel.endpoint"),
    (channel(header=["Authorization: Bearer x"]), "unsupported_header", "channel.header"),
    (body(criteria="http://hl7.org/SubscriptionTopic/admission"), "unknown_topic", "criteria"),
    (body(_criteria=None), "filter_required", "_criteria"),
    (body(status="active"), "invalid_status", "status"),
    (body(id="mine"), "id_given", "id"),
    (body(end=(T0 - MIN).isoformat()), "invalid_end", "end"),
])
def test_what_arrimage_does_not_honour_is_refused_by_name(data: dict[str, Any], code: str, field: str) -> None:
    err = refused(data)
    assert (err.code, err.field, err.status) == (code, field, 422)


def test_what_is_not_a_subscription_fails_validation() -> None:
    with pytest.raises(ValidationError):
        fs.asked({"resourceType": "Subscription", "status": "requested"}, T0)  # no reason, criteria, channel
    with pytest.raises(ValidationError):
        fs.asked({**body(), "channel": "rest-hook"}, T0)


# ---------------------------------------------------------------------- the aggregate
def test_a_handshake_taken_makes_it_active_and_a_refused_one_error() -> None:
    s = made()
    assert s.status is SubscriptionStatus.REQUESTED and not s.listening(T0)
    s.handshake_attempted(attempt(1, Outcome.RETRYING, 503))
    assert s.status is SubscriptionStatus.REQUESTED
    s.handshake_attempted(attempt(2, Outcome.DELIVERED))
    s.handshake_attempted(attempt(2, Outcome.DELIVERED))  # the same attempt again: nothing recorded
    assert s.status is SubscriptionStatus.ACTIVE and [a.attempt for a in s.view().handshake] == [1, 2]
    assert len(s.collect_events()) == 3

    other = made()
    other.handshake_attempted(attempt(1, Outcome.REFUSED, 404))
    assert (other.status, other.error) == (SubscriptionStatus.ERROR, "handshake refused: 404")
    other.handshake_attempted(attempt(2, Outcome.DELIVERED))  # too late: still in error
    assert other.status is SubscriptionStatus.ERROR


def test_each_event_is_numbered_once_in_order() -> None:
    s = made()
    s.handshake_attempted(attempt(1, Outcome.DELIVERED))
    first = s.queue("t-h1:accepted:1", f"{CODE}-h1", T0 + MIN)
    again = s.queue("t-h1:accepted:1", f"{CODE}-h1", T0 + MIN)  # a retried activity: the same event
    second = s.queue("t-h1:in-progress:2", f"{CODE}-h1", T0 + 2 * MIN)
    assert first is not None and again == first and second is not None
    assert (first.number, second.number, s.view().events) == (1, 2, 2)
    delivered = s.attempted(1, attempt(1, Outcome.DELIVERED))
    assert s.attempted(1, attempt(1, Outcome.DELIVERED)) == delivered  # once per attempt number
    assert delivered.outcome is Outcome.DELIVERED
    assert [type(e).__name__ for e in s.collect_events()] == [
        "Requested", "HandshakeAttempted", "NotificationQueued", "NotificationQueued", "NotificationAttempted"]


def test_nothing_is_numbered_before_the_subscription_after_its_end_or_once_off() -> None:
    s = made(at=T0, end=T0 + 10 * MIN)
    assert s.queue("k0", "x-h1", T0 + MIN) is None  # requested: no handshake yet
    s.handshake_attempted(attempt(1, Outcome.DELIVERED))
    assert s.queue("k1", "x-h1", T0 - MIN) is None  # a change recorded before it was made
    assert s.queue("k2", "x-h1", T0 + 10 * MIN) is None  # at its end
    assert s.queue("k3", "x-h1", T0 + MIN) is not None
    s.turn_off("cc-laval", T0 + 2 * MIN)
    s.turn_off("cc-laval", T0 + 3 * MIN)  # off already: nothing recorded
    assert s.queue("k4", "x-h1", T0 + 2 * MIN) is None
    assert s.queue("k3", "x-h1", T0 + MIN) is not None  # numbered before: found again (a retried delivery)
    assert s.view().events == 1 and s.status is SubscriptionStatus.OFF
    assert [type(e).__name__ for e in s.collect_events()].count("TurnedOff") == 1


# ---------------------------------------------------------------------- which Tasks a step changed
def test_a_step_changes_the_tasks_it_creates_or_moves() -> None:
    w = World()
    w.open()
    view = w.do(request(), T0)
    [asked] = task_changes({}, view)
    assert (asked.task_id, asked.status, asked.at) == (f"{CODE}-h1", "requested", T0)
    known = statuses(view)
    assert task_changes(known, view) == []  # nothing changed since
    view = w.do(decline(), T0 + 5 * MIN)
    changed = task_changes(known, view)
    assert [(t.task_id, t.status, t.owner) for t in changed] == [
        (f"{CODE}-h1", "rejected", asked.owner), (f"{CODE}-h2", "requested", "cc-laval")]
    assert owners(changed) == sorted({asked.owner, "cc-laval"})
    assert len({t.key for t in [asked, *changed]}) == 3
    view = w.do(c.AcceptHandoff(by="chef", actor_org="cc-laval", team_id="cc-laval"), T0 + 9 * MIN)
    [accepted] = task_changes(known | {t.task_id: t.status for t in changed}, view)
    assert (accepted.task_id, accepted.status, accepted.at) == (f"{CODE}-h2", "accepted", T0 + 9 * MIN)


# ---------------------------------------------------------------------- the resources
def test_an_id_only_notification_names_the_task_and_nothing_else() -> None:
    s = made()
    s.handshake_attempted(attempt(1, Outcome.DELIVERED))
    s.queue("k1", f"{CODE}-h1", T0 + MIN)
    event = s.queue("k2", f"{CODE}-h2", T0 + 2 * MIN)
    assert event is not None
    view = s.view()
    bundle = fs.notification(view, "event-notification", T0 + 3 * MIN, [(event.number, event.at, event.focus)])
    Bundle.model_validate(bundle)
    assert (bundle["type"], len(bundle["entry"])) == ("history", 2)
    status, focus = bundle["entry"]
    params = Parameters.model_validate(status["resource"])
    assert params.meta is not None and params.meta.profile == [fs.STATUS_PROFILE]
    by_name = {p["name"]: p for p in status["resource"]["parameter"]}
    assert by_name["subscription"]["valueReference"] == {"reference": f"{BASE}/Subscription/{view.subscription_id}"}
    assert (by_name["topic"]["valueCanonical"], by_name["status"]["valueCode"], by_name["type"]["valueCode"]) == (
        TOPIC, "active", "event-notification")
    assert by_name["events-since-subscription-start"]["valueString"] == "2"
    assert by_name["notification-event"]["part"] == [
        {"name": "event-number", "valueString": "2"},
        {"name": "timestamp", "valueInstant": (T0 + 2 * MIN).strftime("%Y-%m-%dT%H:%M:%SZ")},
        {"name": "focus", "valueReference": {"reference": f"{BASE}/Task/{CODE}-h2"}}]
    assert focus == {"fullUrl": f"{BASE}/Task/{CODE}-h2", "request": {"method": "PUT", "url": f"Task/{CODE}-h2"},
                     "response": {"status": "200"}}  # id-only: no resource, nothing of the person


def test_the_handshake_the_status_and_the_subscription_validate() -> None:
    s = made()
    handshake = fs.notification(s.view(), "handshake", T0)
    Bundle.model_validate(handshake)
    [entry] = handshake["entry"]
    names = [p["name"] for p in entry["resource"]["parameter"]]
    assert "notification-event" not in names
    assert {p["name"]: p.get("valueCode") for p in entry["resource"]["parameter"]}["type"] == "handshake"
    s.handshake_attempted(attempt(3, Outcome.ABANDONED, 503))
    status = fs.status_bundle(s.view())
    Bundle.model_validate(status)
    [found] = status["entry"]
    by_name = {p["name"]: p for p in found["resource"]["parameter"]}
    assert (by_name["type"]["valueCode"], by_name["status"]["valueCode"]) == ("query-status", "error")
    assert by_name["error"]["valueCodeableConcept"]["text"] == "handshake abandoned: 503"
    resource = fs.subscription(s.view())
    FhirSubscription.model_validate(resource)
    assert (resource["status"], resource["criteria"]) == ("error", TOPIC)
    assert resource["error"] == "handshake abandoned: 503"
    assert resource["_criteria"]["extension"][0]["valueString"] == f"Task?owner=Organization/{ORG}"
    assert resource["channel"]["_payload"]["extension"] == [{"url": PAYLOAD_CONTENT, "valueCode": "id-only"}]


def test_the_capability_statement_advertises_the_topic() -> None:
    found = fr.capability_statement(T0)
    CapabilityStatement.model_validate(found)
    assert found["instantiates"] == [fr.BACKPORT_SERVER]
    [subscription] = [r for r in found["rest"][0]["resource"] if r["type"] == "Subscription"]
    assert subscription["extension"] == [{"url": fr.TOPIC_CANONICAL, "valueCanonical": TOPIC}]
    assert {i["code"] for i in subscription["interaction"]} == {"create", "read", "delete"}
    assert subscription["operation"] == [{"name": "status", "definition": fr.STATUS_OPERATION}]


def test_heartbeats_go_on_while_active_and_say_nothing_of_a_case() -> None:
    s = made(end=T0 + DAY, heartbeat=3600)
    assert not s.view().beating(T0)  # requested: not yet
    s.handshake_attempted(attempt(1, Outcome.DELIVERED))
    s.queue("k1", f"{CODE}-h1", T0 + MIN)
    view = s.view()
    assert view.beating(T0 + HOUR) and not view.beating(T0 + DAY)  # past its end: no more
    assert not made().view().beating(T0 + HOUR)  # not asked for
    beat = fs.notification(view, "heartbeat", T0 + HOUR, tag="heartbeat:1")
    Bundle.model_validate(beat)
    [entry] = beat["entry"]
    said = {p["name"]: p for p in entry["resource"]["parameter"]}
    assert (said["type"]["valueCode"], said["events-since-subscription-start"]["valueString"]) == ("heartbeat", "1")
    assert "notification-event" not in said
    assert beat["id"] != fs.notification(view, "heartbeat", T0 + HOUR, tag="heartbeat:2")["id"]
    resource = fs.subscription(view)
    FhirSubscription.model_validate(resource)
    assert resource["channel"]["extension"] == [{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 3600}]
    s.turn_off(ORG, T0 + 2 * HOUR)
    assert not s.view().beating(T0 + 2 * HOUR)
