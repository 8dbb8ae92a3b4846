"""The Subscriptions R5 Backport IG for R4 (1.1.0) as FHIR JSON: a partner's Subscription read and checked, the
Subscription as arrimage holds it, the status Parameters (`backport-subscription-status-r4`) and the notification
Bundles (handshake, event-notification, query-status). Each built as a mapping, validated by its `fhir.resources`
model, dumped as the model writes it; a request that does not validate is pydantic's ValidationError, a request
arrimage does not honour a `SubscriptionRefused` naming the option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.subscription import Subscription as FhirSubscription

from adapters.fhir.resources import FHIR_JSON
from domain.delivery.aggregate import check_url
from domain.errors import RuleViolation
from domain.fhir.subscriptions import (
    FILTER_CRITERIA,
    HEARTBEAT_PERIOD,
    MAX_COUNT,
    PAYLOAD_CONTENT,
    TIMEOUT,
    TOPIC,
    SubscriptionRefused,
    SubscriptionView,
    check_heartbeat,
    owner_filter,
)

SUBSCRIPTION_PROFILE = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"
STATUS_PROFILE = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"
MAX_REASON = 500
ID_ONLY = "id-only"


@dataclass(frozen=True)
class Asked:
    """What a partner's Subscription asks, once it validates and arrimage honours each of its options."""

    owner: str
    endpoint: str
    reason: str
    end: datetime | None
    heartbeat_period: int | None = None  # seconds


def _ext(element: Any, url: str) -> list[Any]:
    return [e for e in (getattr(element, "extension", None) or []) if e.url == url]


def asked(body: dict[str, Any], now: datetime) -> Asked:
    """A partner's Subscription (R4, backport profile), checked: the topic is arrimage's, one owner filter,
    rest-hook to an https (or loopback http) endpoint, `application/fhir+json`, id-only. Raises pydantic's
    ValidationError (not a Subscription) or SubscriptionRefused (an option arrimage does not honour)."""
    given = FhirSubscription.model_validate(body)
    if given.id is not None:
        raise SubscriptionRefused("a new Subscription has no id: the server gives it", code="id_given", field="id")
    if str(given.status) != "requested":
        raise SubscriptionRefused(f"a new Subscription is requested, not {given.status}", code="invalid_status",
                                  field="status")
    if given.criteria != TOPIC:
        raise SubscriptionRefused(f"unknown topic {given.criteria!r}: the one topic is {TOPIC}", code="unknown_topic",
                                  field="criteria")
    filters = [e.valueString for e in _ext(given.criteria__ext, FILTER_CRITERIA)]
    if len(filters) > 1:
        raise SubscriptionRefused("one filter: owner=Organization/<your organisation>", code="unknown_filter",
                                  field="_criteria")
    owner = owner_filter(filters[0] if filters else None)
    channel = given.channel
    if str(channel.type) != "rest-hook":
        raise SubscriptionRefused(f"channel type {channel.type} is not offered: rest-hook only",
                                  code="unsupported_channel", field="channel.type")
    if channel.header:
        raise SubscriptionRefused("channel.header is not sent: every notification is signed like the webhooks "
                                  "(Arrimage-Signature with your partner secret)", code="unsupported_header",
                                  field="channel.header")
    periods = [e.valueUnsignedInt for e in _ext(channel, HEARTBEAT_PERIOD)]
    if len(periods) > 1 or (periods and periods[0] is None):
        raise SubscriptionRefused("one backport-heartbeat-period, in seconds (valueUnsignedInt)",
                                  code="invalid_heartbeat", field="channel.extension")
    heartbeat = int(periods[0]) if periods and periods[0] is not None else None
    check_heartbeat(heartbeat)
    known = {HEARTBEAT_PERIOD, TIMEOUT, MAX_COUNT}
    unknown = [e.url for e in channel.extension or [] if e.url not in known]
    if unknown:
        raise SubscriptionRefused(f"unknown channel extension {unknown[0]}", code="unknown_extension",
                                  field="channel.extension")
    if channel.endpoint is None:
        raise SubscriptionRefused("a rest-hook names its endpoint", code="invalid_endpoint", field="channel.endpoint")
    try:
        check_url(str(channel.endpoint))
    except RuleViolation as err:
        raise SubscriptionRefused(err.message, code=err.code, field="channel.endpoint") from None
    if channel.payload != FHIR_JSON:
        raise SubscriptionRefused(f"the payload is {FHIR_JSON}", code="unsupported_payload", field="channel.payload")
    contents = [e.valueCode for e in _ext(channel.payload__ext, PAYLOAD_CONTENT)]
    if contents != [ID_ONLY]:
        raise SubscriptionRefused(
            f"notifications are id-only (backport-payload-content), not {contents[0] if contents else 'unset'}: "
            "nothing personal leaves in a notification; read the Task with your key", code="id_only",
            field="channel.payload")
    reason = str(given.reason or "")
    if len(reason) > MAX_REASON:
        raise SubscriptionRefused(f"a reason of at most {MAX_REASON} characters", code="invalid_reason",
                                  field="reason")
    end = given.end
    if end is not None and (end.tzinfo is None or end <= now):
        raise SubscriptionRefused("end is a moment to come, with its offset", code="invalid_end", field="end")
    return Asked(owner=owner, endpoint=str(channel.endpoint), reason=reason, end=end, heartbeat_period=heartbeat)


def _dump(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(mode="json")
    return out


def subscription(view: SubscriptionView) -> dict[str, Any]:
    data: dict[str, Any] = {
        "resourceType": "Subscription", "id": view.subscription_id,
        "meta": {"profile": [SUBSCRIPTION_PROFILE]},
        "status": view.status.value, "reason": view.reason or "Task status changes",
        "criteria": view.topic,
        "_criteria": {"extension": [{"url": FILTER_CRITERIA, "valueString": f"Task?owner=Organization/{view.owner}"}]},
        "channel": {"type": "rest-hook", "endpoint": view.endpoint, "payload": FHIR_JSON,
                    "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": ID_ONLY}]}},
    }
    if view.heartbeat_period is not None:
        data["channel"]["extension"] = [{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": view.heartbeat_period}]
    if view.end is not None:
        data["end"] = view.end.isoformat()
    if view.error:
        data["error"] = view.error
    return _dump(FhirSubscription.model_validate(data))


def status(view: SubscriptionView, kind: str, events: Sequence[tuple[int, datetime, str]] = ()) -> dict[str, Any]:
    """The subscription's status Parameters (`backport-subscription-status-r4`): `kind` handshake,
    event-notification or query-status; `events` (number, timestamp, Task id) for a notification."""
    params: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{view.base}/Subscription/{view.subscription_id}"}},
        {"name": "topic", "valueCanonical": view.topic},
        {"name": "status", "valueCode": view.status.value},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(view.events)},
    ]
    for number, at, task_id in events:
        params.append({"name": "notification-event", "part": [
            {"name": "event-number", "valueString": str(number)},
            {"name": "timestamp", "valueInstant": at.isoformat()},
            {"name": "focus", "valueReference": {"reference": f"{view.base}/Task/{task_id}"}},
        ]})
    if view.error:
        params.append({"name": "error", "valueCodeableConcept": {"text": view.error}})
    data = {"resourceType": "Parameters", "meta": {"profile": [STATUS_PROFILE]}, "parameter": params}
    return _dump(Parameters.model_validate(data))


def _status_entry(view: SubscriptionView, parameters: dict[str, Any], tag: str) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{uuid5(NAMESPACE_URL, f'{view.subscription_id}:{tag}')}", "resource": parameters,
            "request": {"method": "GET", "url": f"{view.base}/Subscription/{view.subscription_id}/$status"},
            "response": {"status": "200"}}


def notification(view: SubscriptionView, kind: str, at: datetime,
                 events: Sequence[tuple[int, datetime, str]] = (), tag: str = "") -> dict[str, Any]:
    """A notification Bundle (`history`): its status Parameters first, then, id-only, one entry per event naming
    its Task (fullUrl and request only: never the resource). `tag`: what makes the Bundle's id (a heartbeat's
    number)."""
    tag = tag or f"{kind}:{','.join(str(n) for n, _, _ in events)}"
    entries = [_status_entry(view, status(view, kind, events), tag)]
    entries += [{"fullUrl": f"{view.base}/Task/{task_id}", "request": {"method": "PUT", "url": f"Task/{task_id}"},
                 "response": {"status": "200"}} for _, _, task_id in events]
    data = {"resourceType": "Bundle", "id": str(uuid5(NAMESPACE_URL, f"{view.subscription_id}:{tag}")),
            "type": "history", "timestamp": at.isoformat(), "entry": entries}
    return _dump(Bundle.model_validate(data))


def status_bundle(view: SubscriptionView) -> dict[str, Any]:
    """What `$status` answers: a searchset of one query-status Parameters."""
    entry = _status_entry(view, status(view, "query-status"), "query-status")
    entry.pop("request")
    entry.pop("response")
    entry["search"] = {"mode": "match"}
    data = {"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": [entry]}
    return _dump(Bundle.model_validate(data))
