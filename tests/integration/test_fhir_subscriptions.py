"""FHIR Task subscriptions (the Subscriptions R5 Backport IG for R4, issue 10) through the real gateway, on a real
record (SQLite and PostgreSQL) and a real Temporal with the production worker, to a partner's FHIR system simulated
by a real HTTP server on loopback that checks every POST with the README's webhook check (tests/webhook_receiver).

A partner subscribes to its own Tasks: the handshake reaches it and the subscription turns active; its team
accepts the Task through PUT /fhir/Task, and exactly one id-only notification names that Task (event 1), signed
like the webhooks; the partner reads the Task with its key. Refused requests (another organisation's Tasks,
full-resource, no endpoint, no key) get OperationOutcomes and record nothing; a handshake refused leaves the
subscription in error. On the time-skipping server, heartbeats come every period while it is active, none once off.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.subscription import Subscription as FhirSubscription
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from adapters.temporal.subscriptions import start_subscription
from domain.delivery.model import Outcome, SubjectKind
from domain.fhir.subscriptions import FILTER_CRITERIA, PAYLOAD_CONTENT, TOPIC, SubscriptionView
from domain.fhir.task_states import TaskStatus
from domain.fhir.tasks import task
from domain.principals.model import PrincipalKind
from tests.crisis_builders import activate, crisis_content
from tests.gateway.api import Api, events, recorded_since
from tests.integration.test_fhir_api import FHIR, SUBJECT, TEAM_ORG, asked, outcome, put, task_of
from tests.integration.test_fhir_api import api as api
from tests.integration.test_webhooks import deliveries_of, partner_endpoint, to_community_team
from tests.webhook_receiver import Receiver, arrived, receiving
from usecases.crisis import CrisisCases
from usecases.delivery import Deliveries
from usecases.ententes import Ententes

SUBSCRIPTION = "/fhir/Subscription"


def subscription_body(endpoint: str, owner: str = TEAM_ORG, content: str = "id-only") -> dict[str, Any]:
    return {
        "resourceType": "Subscription", "status": "requested", "reason": "les Tasks de notre équipe",
        "criteria": TOPIC,
        "_criteria": {"extension": [{"url": FILTER_CRITERIA, "valueString": f"Task?owner=Organization/{owner}"}]},
        "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": FHIR,
                    "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]}},
    }


@pytest.fixture
async def partner(api: Api) -> AsyncIterator[Receiver]:
    """The team's FHIR system on loopback (its endpoint registered by `registered`)."""
    with receiving() as receiver:
        yield receiver


def registered(api: Api, receiver: Receiver) -> None:
    """The team's endpoint: its secret signs the notifications too (registered once its Task is asked, so that
    the handoff's own webhook is not among what the receiver gets)."""
    done = api.root.deliveries.register(TEAM_ORG, receiver.url, by="admin", at=_now())
    assert done.secret is not None
    receiver.secret = done.secret


def _now() -> datetime:
    return datetime.now(UTC)


async def subscribe(api: Api, body: dict[str, Any], who: str = TEAM_ORG, key: str | None = None) -> httpx.Response:
    return await api.client.post(SUBSCRIPTION, json=body, headers=api.headers(who, key or uuid.uuid4().hex))


async def settled(api: Api, subscription_id: str, done: Callable[[SubscriptionView], bool],
                  within: float = 30.0) -> SubscriptionView:
    """The subscription in the record once `done` holds (an attempt is recorded just after the partner answered)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not done(view := api.root.deliveries.subscriptions.get(subscription_id)):
        if loop.time() > deadline:
            pytest.fail(f"subscription {subscription_id}: {view.status}, {view.notifications}")
        await asyncio.sleep(0.05)
    return view


def parameters(delivery_body: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: p for p in delivery_body["entry"][0]["resource"]["parameter"]}


async def test_a_partner_subscribes_shakes_hands_and_is_told_of_its_task_by_id_only(
    api: Api, partner: Receiver
) -> None:
    code = await asked(api)  # the CISSS asks: the team's Task requested, before the subscription
    task_id = f"{code}-h1"
    registered(api, partner)

    created = await subscribe(api, subscription_body(partner.url))
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == FHIR
    resource = created.json()
    FhirSubscription.model_validate(resource)
    sub_id = resource["id"]
    assert (resource["status"], resource["criteria"]) == ("requested", TOPIC)
    assert resource["_criteria"]["extension"][0]["valueString"] == f"Task?owner=Organization/{TEAM_ORG}"

    # the handshake: signed like a webhook, FHIR JSON, a history Bundle whose status Parameters says handshake
    [handshake] = await arrived(partner, 1)
    assert (handshake.verdict, handshake.status) == ("ok", 200)
    assert handshake.headers["Content-Type"] == FHIR
    Bundle.model_validate(handshake.message)
    said = parameters(handshake.message)
    assert (handshake.message["type"], said["type"]["valueCode"], said["topic"]["valueCanonical"]) == (
        "history", "handshake", TOPIC)
    assert said["subscription"]["valueReference"]["reference"] == f"http://gateway/fhir/Subscription/{sub_id}"
    assert len(handshake.message["entry"]) == 1
    view = await settled(api, sub_id, lambda v: v.status.value == "active")
    assert [(a.attempt, a.outcome) for a in view.handshake] == [(1, Outcome.DELIVERED)]
    read = await api.client.get(f"{SUBSCRIPTION}/{sub_id}", headers=api.headers(TEAM_ORG))
    assert (read.status_code, read.json()["status"]) == (200, "active")

    # the team accepts its Task over FHIR: one notification, id-only, naming that Task
    assert task_of(await put(api, TEAM_ORG, task_id, "accepted"))["status"] == "accepted"
    [_, told] = await arrived(partner, 2)
    assert (told.verdict, told.status, told.headers["Content-Type"]) == ("ok", 200, FHIR)
    assert told.headers["Arrimage-Event-Id"] != handshake.headers["Arrimage-Event-Id"]
    Bundle.model_validate(told.message)
    said = parameters(told.message)
    assert (said["type"]["valueCode"], said["status"]["valueCode"]) == ("event-notification", "active")
    assert said["events-since-subscription-start"]["valueString"] == "1"
    event = {p["name"]: p for p in said["notification-event"]["part"]}
    focus = f"http://gateway/fhir/Task/{task_id}"
    assert event["event-number"]["valueString"] == "1"
    assert event["focus"]["valueReference"] == {"reference": focus}
    assert told.message["entry"][1] == {"fullUrl": focus, "request": {"method": "PUT", "url": f"Task/{task_id}"},
                                        "response": {"status": "200"}}  # no resource: nothing of the person
    assert "p-7f3a9c2e" not in told.body.decode() and "Idees" not in told.body.decode()

    # the partner follows the reference with its key: its own Task, without the person (its read registered as
    # GET /v1/cases/{code} registers it)
    fetched = task_of(await api.client.get(focus.removeprefix("http://gateway"), headers=api.headers(TEAM_ORG)))
    assert (fetched["id"], fetched["status"], fetched["owner"]["identifier"]["value"]) == (task_id, "accepted",
                                                                                            TEAM_ORG)
    assert "for" not in fetched and SUBJECT not in str(fetched)

    view = await settled(api, sub_id, lambda v: bool(v.notifications) and v.notifications[0].outcome is not None)
    assert [(n.number, n.focus, n.outcome) for n in view.notifications] == [(1, task_id, Outcome.DELIVERED)]
    # the next change is event 2 (the team with the person): nothing doubled, nothing lost
    assert task_of(await put(api, TEAM_ORG, task_id, "in-progress"))["status"] == "in-progress"
    [*_, second] = await arrived(partner, 3)
    assert parameters(second.message)["events-since-subscription-start"]["valueString"] == "2"
    assert len(partner.got) == 3 and all(d.verdict == "ok" for d in partner.got)

    status = await api.client.get(f"{SUBSCRIPTION}/{sub_id}/$status", headers=api.headers(TEAM_ORG))
    assert status.status_code == 200 and status.headers["content-type"] == FHIR
    Bundle.model_validate(status.json())
    said = parameters(status.json())
    assert (said["type"]["valueCode"], said["status"]["valueCode"]) == ("query-status", "active")
    assert said["events-since-subscription-start"]["valueString"] == "2"

    # deleted: off, and its partner is no longer among those told
    count = events(api.root.record)
    off = await api.client.delete(f"{SUBSCRIPTION}/{sub_id}", headers=api.headers(TEAM_ORG, uuid.uuid4().hex))
    assert (off.status_code, off.json()["status"]) == (200, "off")
    assert [t.rsplit(".", 1)[-1] for t in recorded_since(api.root.record, count)] == ["TurnedOff"]
    assert api.root.deliveries.subscriptions.listening([TEAM_ORG], _now()) == []


async def test_refused_subscriptions_record_nothing(api: Api, partner: Receiver) -> None:
    registered(api, partner)
    count = events(api.root.record)
    # another organisation's Tasks: never
    outcome(await subscribe(api, subscription_body(partner.url, owner="clsc-ouest")), 403, "not_your_tasks")
    # personal content never leaves in a notification
    outcome(await subscribe(api, subscription_body(partner.url, content="full-resource")), 422, "id_only")
    # a partner with no endpoint has no secret to sign with
    outcome(await subscribe(api, subscription_body(partner.url, owner="clsc-ouest"), who="clsc-ouest"), 409,
            "no_endpoint")
    # not a Subscription
    outcome(await subscribe(api, {"resourceType": "Subscription", "status": "requested"}), 422)
    # a write without its Idempotency-Key
    no_key = await api.client.post(SUBSCRIPTION, json=subscription_body(partner.url), headers=api.headers(TEAM_ORG))
    outcome(no_key, 400, "idempotency_key_required")
    assert events(api.root.record) == count
    assert partner.got == []

    # the same key and body again: the first answer, nothing new; another org reads no one else's subscription
    key = f"sub-{uuid.uuid4().hex}"  # its subscription's id and handshake workflow's come from it: one per run
    first = await subscribe(api, subscription_body(partner.url), key=key)
    assert first.status_code == 201
    made = recorded_since(api.root.record, count)
    assert sorted(t.rsplit(".", 1)[-1] for t in made) == ["Added", "Opened", "Requested"]
    again = await subscribe(api, subscription_body(partner.url), key=key)
    assert (again.status_code, again.json()["id"], again.headers.get("Idempotent-Replayed")) == (
        201, first.json()["id"], "true")
    await arrived(partner, 1)
    await settled(api, first.json()["id"], lambda v: v.status.value == "active")
    outcome(await api.client.get(f"{SUBSCRIPTION}/{first.json()['id']}", headers=api.headers("clsc-ouest")), 404)
    outcome(await api.client.delete(f"{SUBSCRIPTION}/{first.json()['id']}",
                                    headers=api.headers("clsc-ouest", uuid.uuid4().hex)), 404)
    assert len(partner.got) == 1  # one handshake, not two
    assert api.root.deliveries.subscriptions.get(first.json()["id"]).status.value == "active"


async def test_a_refused_handshake_leaves_the_subscription_in_error(api: Api) -> None:
    with receiving(Receiver(answer=lambda verdict: 410)) as gone:
        gone.secret = api.root.deliveries.register(TEAM_ORG, gone.url, by="admin", at=_now()).secret or ""
        created = await subscribe(api, subscription_body(gone.url))
        assert created.status_code == 201, created.text
        sub_id = created.json()["id"]
        view = await settled(api, sub_id, lambda v: v.status.value == "error")
    assert [(a.attempt, a.status, a.outcome) for a in view.handshake] == [(1, 410, Outcome.REFUSED)]
    assert [d.verdict for d in gone.got] == ["ok"]  # signed, taken, answered 410: not tried again
    read = (await api.client.get(f"{SUBSCRIPTION}/{sub_id}", headers=api.headers(TEAM_ORG))).json()
    assert (read["status"], read["error"]) == ("error", "handshake refused: 410")
    # a Task change of that organisation tells no one
    assert api.root.deliveries.subscriptions.listening([TEAM_ORG], _now()) == []


async def test_heartbeats_every_period_while_active_then_none_once_off(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """On the time-skipping server: a subscription with an hourly heartbeat (backport-heartbeat-period) takes
    its handshake, its Task's notifications (asked, then cancelled at the answer deadline) and a heartbeat each
    hour, each signed; once off, the next period ends its workflow and nothing more is sent."""
    env = time_env
    activate(Ententes(cases.record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
    deliveries = deliveries_of(cases)
    with receiving() as hooks, receiving() as fhir_system:
        hooks.secret = fhir_system.secret = partner_endpoint(deliveries, hooks.url)
        made = deliveries.subscriptions.request(
            "cc-laval", "cc-laval", fhir_system.url, "", None, "http://gateway/fhir", uuid.uuid4().hex,
            "cc-laval", await env.get_current_time(), heartbeat_period=3600)
        handle = env.client.get_workflow_handle(
            await start_subscription(env.client, task_queue, made.subscription_id, made.heartbeat_period))
        try:
            await arrived(fhir_system, 1)
            await settled_in(deliveries, made.subscription_id, lambda v: v.status.value == "active")
            code, _ = await to_community_team(env, task_queue)  # cc-laval's Task <code>-h2 requested: event 1
            # after other tests the time-skipping server's clock is far ahead of the worker's: the lookup of who
            # listens is on the workflow's clock (it used the worker's, and found nobody subscribed yet)
            await arrived(fhir_system, 2)
            await env.sleep(timedelta(hours=2, minutes=30))
            # two heartbeats, and a second event: nobody at cc-laval answered, its Task was cancelled at the deadline
            got = await arrived(fhir_system, 5)
            kinds = [parameters(d.message)["type"]["valueCode"] for d in got]
            assert sorted(kinds) == ["event-notification", "event-notification", "handshake", "heartbeat",
                                     "heartbeat"], kinds
            assert all(d.verdict == "ok" and d.headers["Content-Type"] == FHIR for d in got)
            told = [{p["name"]: p for p in parameters(d.message)["notification-event"]["part"]}
                    for d in got if parameters(d.message)["type"]["valueCode"] == "event-notification"]
            assert sorted((e["event-number"]["valueString"], e["focus"]["valueReference"]["reference"])
                          for e in told) == [("1", f"http://gateway/fhir/Task/{code}-h2"),
                                             ("2", f"http://gateway/fhir/Task/{code}-h2")]
            h2 = task(cases.view(code), f"{code}-h2")
            assert h2 is not None and h2.status is TaskStatus.CANCELLED
            beats = [d for d in got if parameters(d.message)["type"]["valueCode"] == "heartbeat"]
            assert len({d.headers["Arrimage-Event-Id"] for d in beats}) == 2
            assert all(d.message["entry"][0]["resource"]["parameter"][1]["valueCanonical"] == TOPIC for d in beats)

            off_at = await env.get_current_time()
            deliveries.subscriptions.turn_off(made.subscription_id, "cc-laval", "cc-laval", off_at)
            await env.sleep(timedelta(hours=1, minutes=5))  # the next period finds it off: no heartbeat, it ends
            await completed(handle)
            assert len(fhir_system.got) == 5
        finally:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate(reason="end of test")
    assert [m.type.value for m in deliveries.log(SubjectKind.CASE, code)] == ["handoff.requested"]  # the webhook


async def completed(handle: WorkflowHandle[Any, Any], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (status := (await handle.describe()).status) == WorkflowExecutionStatus.RUNNING:
        if loop.time() > deadline:
            pytest.fail(f"{handle.id} still running")
        await asyncio.sleep(0.05)
    assert status == WorkflowExecutionStatus.COMPLETED


async def settled_in(deliveries: Deliveries, subscription_id: str, done: Callable[[SubscriptionView], bool],
                     within: float = 30.0) -> SubscriptionView:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not done(view := deliveries.subscriptions.get(subscription_id)):
        if loop.time() > deadline:
            pytest.fail(f"subscription {subscription_id}: {view.status}")
        await asyncio.sleep(0.05)
    return view


async def test_a_revoked_partner_is_told_nothing_more(api: Api, partner: Receiver) -> None:
    registered(api, partner)
    created = await subscribe(api, subscription_body(partner.url))
    assert created.status_code == 201, created.text
    sub_id = created.json()["id"]
    await settled(api, sub_id, lambda v: v.status.value == "active")
    assert [s.subscription_id for s in api.root.deliveries.subscriptions.listening([TEAM_ORG], _now())] == [sub_id]
    api.root.principals.revoke(PrincipalKind.PARTNER, TEAM_ORG, "entente ended", by="admin", at=_now())
    assert api.root.deliveries.subscriptions.listening([TEAM_ORG], _now()) == []
