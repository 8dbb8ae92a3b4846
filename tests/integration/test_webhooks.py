"""Outbound delivery (issue 10) on the time-skipping server, to partner systems simulated by real HTTP servers on
loopback (tests/webhook_receiver.py) that check each delivery with the README's own ten lines.

- a community team asked takes the handoff's webhook, signed; a forged, altered, replayed or late one is told
  apart by the documented check; a second message to it about the same case carries the next sequence, so
  deliveries taken out of order are put back in order;
- a partner that answers 503 is tried again with the same event id until it takes the message; a 4xx refuses
  it once, not retried;
- a partner that stays unreachable is tried MAX_ATTEMPTS times, then given up, and the case runs exactly as
  for a partner without an endpoint: the answer deadline falls at the same moment, the same events follow;
- a party asked to sign an entente takes a `signature.requested` webhook.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.webhooks import signing
from domain.crisis import commands as c
from domain.crisis.model import TeamRef, new_case_code
from domain.crisis.state import CaseStage, CaseView
from domain.delivery.model import MAX_ATTEMPTS, Message, Outcome, SubjectKind
from domain.ententes import commands as ec
from domain.ententes.state import EntenteStatus, EntenteView
from tests.crisis_builders import (
    DAY,
    HOUR,
    accept,
    act,
    activate,
    crisis_content,
    decline,
    open_cmd,
    request,
    start_case,
    state,
    sup,
    until,
    wait_for,
)
from tests.factories import service_entente
from tests.integration import lifecycle
from tests.webhook_receiver import Receiver, arrived, dead_url, receiving
from usecases.crisis import CrisisCases
from usecases.delivery import Deliveries
from usecases.ententes import Ententes
from usecases.principals import Principals
from workers.bootstrap import use_cases
from workers.settings import Settings

CC = TeamRef(team_id="cc-laval", org_id="cc-laval")


def deliveries_of(cases: CrisisCases) -> Deliveries:
    """The delivery use cases over the worker's record, wired as the worker wires them (same sealing ring)."""
    return use_cases(cases.record, Settings()).deliveries


def partner_endpoint(deliveries: Deliveries, url: str, org: str = "cc-laval") -> str:
    Principals(deliveries.record).add_partner(org, f"Organisme {org}", by="admin", at=datetime.now().astimezone())
    done = deliveries.register(org, url, by="admin", at=datetime.now().astimezone())
    assert done.secret is not None
    return done.secret


async def to_community_team(env: WorkflowEnvironment, task_queue: str) -> tuple[str, CaseView]:
    """A case whose CSSS team declines: the crisis centre under the entente in force (cc-laval) is asked."""
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code), task_queue)
    await act(handle, request())
    view = await act(handle, decline())
    assert view.pending_attempt is not None and view.pending_attempt.candidate.team.team_id == CC.team_id
    return code, view


async def logged(deliveries: Deliveries, code: str, done: Callable[[list[Message]], bool], *,
                 within: float = 60.0) -> list[Message]:
    """The case's delivery log once `done` holds (bounded in real time)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not done(log := deliveries.log(SubjectKind.CASE, code)):
        if loop.time() > deadline:
            pytest.fail(f"delivery log of {code}: {[(m.sequence, [a.outcome for a in m.attempts]) for m in log]}")
        await asyncio.sleep(0.05)
    return log


async def test_a_community_team_asked_takes_a_signed_webhook_and_a_forged_or_replayed_one_is_detected(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    env = time_env
    activate(Ententes(cases.record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
    deliveries = deliveries_of(cases)
    with receiving() as partner:
        partner.secret = partner_endpoint(deliveries, partner.url)
        code, view = await to_community_team(env, task_queue)
        [first] = await arrived(partner, 1)
        message = first.message
        attempt = view.pending_attempt
        assert attempt is not None
        due = view.deadline(attempt.answer_deadline)
        assert due is not None
        assert (first.verdict, first.status) == ("ok", 200)
        assert message == {
            "id": first.headers["Arrimage-Event-Id"], "type": "handoff.requested", "sequence": 1,
            "subject": {"kind": "case", "code": code}, "occurred_at": attempt.asked_at.isoformat(),
            "data": {"case_code": code, "attempt": 2, "team_id": "cc-laval", "org_id": "cc-laval",
                     "answer_by": due.due_at.isoformat(), "sharing": {"basis": "none", "items": []},
                     "read": f"/v1/cases/{code}"},
        }
        assert first.headers["Arrimage-Signature"].startswith("v1=")

        # What an attacker on the way can do, sent over the wire to the partner: each is told apart.
        async with httpx.AsyncClient() as client:
            async def post(body: bytes, headers: dict[str, str]) -> int:
                return (await client.post(partner.url, content=body, headers=headers)).status_code

            altered = first.body.replace(b'"attempt":2', b'"attempt":3')
            assert await post(altered, first.headers) == 401  # the body altered on the way
            guessed = signing.headers("whsec_guessed", message["id"], int(time.time()), first.body)
            assert await post(first.body, guessed) == 401  # signed without the partner's secret
            assert await post(first.body, first.headers) == 200  # the same delivery replayed: taken once
            stale = signing.headers(partner.secret, "an-old-capture", int(time.time()) - 600, first.body)
            assert await post(first.body, stale) == 401  # signed 10 minutes ago: outside the window
        assert [d.verdict for d in partner.got] == ["ok", "forged", "forged", "duplicate", "late"]
        assert [m.message for m in partner.taken()] == [message]  # nothing doubled

        [logged_first] = deliveries.log(SubjectKind.CASE, code)
        assert (logged_first.event_id, logged_first.sequence, logged_first.outcome) == (
            message["id"], 1, Outcome.DELIVERED)
        assert [(a.attempt, a.status, a.outcome) for a in logged_first.attempts] == [(1, 200, Outcome.DELIVERED)]

        # The crisis centre declines; the supervisor asks it again: a second message, the next sequence.
        handle = env.client.get_workflow_handle(f"case-{code}")
        view = await act(handle, decline(CC))
        assert view.stage is CaseStage.SUPERVISOR
        await act(handle, sup(c.Reassign, team=CC, reason="le centre de crise a une équipe libérée"))
        await arrived(partner, 6)
        second = partner.got[-1]
        assert (second.verdict, second.message["sequence"], second.message["data"]["attempt"]) == ("ok", 2, 3)
        assert second.message["id"] != message["id"]
        await act(handle, accept(CC))

    # Taken out of order (the second before the first), a receiver puts them back in order by sequence.
    with receiving(Receiver(secret=partner.secret)) as late_reader:
        async with httpx.AsyncClient() as client:
            for d in (second, first):
                assert (await client.post(late_reader.url, content=d.body, headers=d.headers)).status_code == 200
        ordered = sorted(late_reader.taken(), key=lambda d: d.message["sequence"])
        assert [d.message["id"] for d in ordered] == [message["id"], second.message["id"]]
    log = deliveries.log(SubjectKind.CASE, code)
    assert [(m.sequence, m.outcome) for m in log] == [(1, Outcome.DELIVERED), (2, Outcome.DELIVERED)]


@pytest.mark.parametrize(("answers", "outcomes"), [
    ([503, 503, 200], [Outcome.RETRYING, Outcome.RETRYING, Outcome.DELIVERED]),
    ([429, 200], [Outcome.RETRYING, Outcome.DELIVERED]),
    ([410], [Outcome.REFUSED]),
])
async def test_a_partner_that_fails_for_a_while_is_tried_again_and_a_4xx_refuses_once(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases, answers: list[int], outcomes: list[Outcome],
) -> None:
    env = time_env
    activate(Ententes(cases.record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
    deliveries = deliveries_of(cases)
    left = list(answers)
    with receiving(Receiver(answer=lambda verdict: left.pop(0) if left else 200)) as partner:
        partner.secret = partner_endpoint(deliveries, partner.url)
        code, _ = await to_community_team(env, task_queue)
        await env.sleep(timedelta(minutes=2))  # the back-off between attempts (5 s, 10 s), skipped
        [message] = await logged(deliveries, code, lambda log: bool(log) and len(log[0].attempts) == len(outcomes)
                                 and log[0].outcome is not Outcome.RETRYING)
        await env.sleep(timedelta(minutes=5))
    assert [a.outcome for a in deliveries.log(SubjectKind.CASE, code)[0].attempts] == outcomes  # nothing more
    assert [a.status for a in message.attempts] == answers
    assert len(partner.got) == len(answers)
    assert {d.headers["Arrimage-Event-Id"] for d in partner.got} == {message.event_id}  # the same event each time
    assert all(d.verdict in ("ok", "duplicate") for d in partner.got)  # each attempt signed afresh, valid


async def _timed_out_and_escalated(env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
                                   ) -> tuple[str, list[tuple[str, timedelta]]]:
    """A case asking cc-laval, left without an answer: the events recorded from the ask on, each with its delay
    from the ask."""
    code, view = await to_community_team(env, task_queue)
    attempt = view.pending_attempt
    assert attempt is not None
    due = view.deadline(attempt.answer_deadline)
    assert due is not None
    handle = env.client.get_workflow_handle(f"case-{code}")
    await env.sleep(until(due.due_at, await env.get_current_time()))
    await wait_for(handle, "escalated to a supervisor", lambda v: v.stage is CaseStage.SUPERVISOR)
    history = cases.history(code)
    asked = [i for i, h in enumerate(history) if h["event"] == "TeamAsked"][-1]
    return code, [(h["event"], h["at"] - attempt.asked_at) for h in history[asked + 1:]]


async def test_a_partner_that_stays_unreachable_is_given_up_and_the_case_runs_as_without_webhooks(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    env = time_env
    activate(Ententes(cases.record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
    deliveries = deliveries_of(cases)
    without, expected = await _timed_out_and_escalated(env, task_queue, cases)
    assert [e for e, _ in expected] == ["HandoffTimedOut", "Escalated"]
    assert deliveries.log(SubjectKind.CASE, without) == []

    partner_endpoint(deliveries, dead_url())
    code, found = await _timed_out_and_escalated(env, task_queue, cases)
    assert found == expected  # the same events at the same delays: the webhook changed nothing
    await env.sleep(2 * HOUR)  # the retries' back-off (about 50 minutes in all), skipped
    [message] = await logged(deliveries, code, lambda log: bool(log) and log[0].outcome is Outcome.ABANDONED)
    assert [a.attempt for a in message.attempts] == list(range(1, MAX_ATTEMPTS + 1))
    assert {(a.status, a.error) for a in message.attempts} == {(None, "ConnectError")}
    assert [a.outcome for a in message.attempts] == [Outcome.RETRYING] * (MAX_ATTEMPTS - 1) + [Outcome.ABANDONED]
    handle = env.client.get_workflow_handle(f"case-{code}")
    view = await state(handle)
    assert view.stage is CaseStage.SUPERVISOR  # still waiting for the supervisor: nothing else happened
    await env.sleep(DAY)
    assert len(deliveries.log(SubjectKind.CASE, code)[0].attempts) == MAX_ATTEMPTS  # and nothing more is tried


async def test_a_party_asked_to_sign_takes_a_signature_request_webhook(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: lifecycle.Started
) -> None:
    env = time_env
    deliveries = use_cases(ententes.record, Settings()).deliveries
    code = f"ENT-HOOK-{task_queue.removeprefix('tq-')}".upper()
    with receiving() as partner:
        partner.secret = partner_endpoint(deliveries, partner.url)
        handle, _ = await lifecycle.start(env.client, code, service_entente(effective=None), task_queue,
                                          started=started)
        view = await handle.execute_update("act", ec.SubmitForSignature(by="dsp"), result_type=EntenteView)
        [got] = await arrived(partner, 1)
        assert got.verdict == "ok"
        proposal = view.proposal
        assert proposal is not None and proposal.signature_deadline is not None
        assert got.message["type"] == "signature.requested" and got.message["sequence"] == 1
        assert got.message["data"] == {
            "entente_code": code, "version": 1, "fingerprint": view.versions[0].fingerprint, "party_id": "cc-laval",
            "sign_by": proposal.signature_deadline.isoformat(), "read": f"/v1/ententes/{code}"}
        for party in ("cisss-laval", "cc-laval"):
            view = await handle.execute_update("act", ec.SignEntente(by=party, party_id=party, version=1,
                                                                     signatory="D.G."),
                                               result_type=EntenteView)
        assert view.status in (EntenteStatus.SIGNED, EntenteStatus.ACTIVE)
        await env.sleep(timedelta(minutes=5))
    assert len(partner.got) == 1  # one request per party and version, whatever follows
    [message] = deliveries.log(SubjectKind.ENTENTE, code)
    assert (message.org_id, message.outcome) == ("cc-laval", Outcome.DELIVERED)
