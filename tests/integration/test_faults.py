"""Fault tests (issue 12, « Proof »), each bounded in time and stopping by itself; after each, every case and
entente ends with exactly the events it should have, each command recorded once, and the audit verify use case
(`arrimage audit verify`) passes.

Which test proves which fault of the issue:

- SIGKILL of a worker under load: test_crisis_worker_crash, test_worker_crash, test_update_retry (a worker
  process killed while commands are in flight);
- PostgreSQL backends terminated mid-append, PostgreSQL down then back: test_record_pg_faults;
- a partner endpoint down (503), answering 4xx, unreachable, or whose 200 is lost: test_webhooks,
  test_partner_journeys; one that **hangs, answers 500, then answers slowly**: here;
- the Temporal server restarted on its database: here;
- the gateway's idempotent retries: test_gateway_api, test_partner_journeys (the answer lost, not the gateway).
"""

from __future__ import annotations

import time
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain.crisis import commands as c
from domain.crisis.state import CaseStage
from domain.delivery.model import Outcome, SubjectKind
from tests.crisis_builders import activate, command_ids, crisis_content, names, state, sup, until, wait_for
from tests.integration.test_webhooks import deliveries_of, logged, partner_endpoint, to_community_team
from tests.webhook_receiver import Receiver, arrived, receiving
from usecases.audit.trail import verify
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes

HANG = 15.0  # seconds a hanging partner holds a POST: longer than the sender waits (adapters.webhooks.sender, 10 s)
SLOW = 2.0  # seconds a slow partner takes to answer: within what the sender waits


async def test_a_partner_that_hangs_then_answers_500_then_slowly_holds_nothing_and_the_case_completes(
    time_env: WorkflowEnvironment, task_queue: str, sq: CrisisCases
) -> None:
    """The community organisation asked for a handoff has an endpoint that hangs on the first POST (the sender
    gives up after its timeout: ReadTimeout), answers 500 to the second, and takes the third after a slow answer.
    Meanwhile the case is not held: it answers while the POST hangs, its answer deadline (crise.reponse_equipe)
    falls at its due moment and escalates as for a team that does not answer (workflows.deliveries: the workflow
    never waits for a delivery), and the supervisor closes it. One message, three attempts, the same event id."""
    env = time_env
    activate(Ententes(sq.record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
    deliveries = deliveries_of(sq)
    answers = {2: 500}
    holds = {1: HANG, 3: SLOW}
    begun = time.monotonic()
    partner = Receiver(answer=lambda verdict: answers.get(len(partner.got) + 1, 200),
                       hold=lambda number: holds.get(number, 0.0))
    with receiving(partner):
        partner.secret = partner_endpoint(deliveries, partner.url)
        code, view = await to_community_team(env, task_queue)
        handle = env.client.get_workflow_handle(f"case-{code}")
        await arrived(partner, 1)
        assert partner.holding == 1  # the first POST hangs …
        during = await state(handle)  # … and the case answers meanwhile: nothing is held
        assert during.stage is CaseStage.HANDOFF and during.pending_attempt is not None

        # each attempt recorded once the partner's answer (or the sender's timeout) came; the back-off skipped
        await logged(deliveries, code, lambda log: bool(log) and len(log[0].attempts) == 1)
        await env.sleep(timedelta(seconds=8))  # the first back-off (5 s)
        await logged(deliveries, code, lambda log: len(log[0].attempts) == 2)
        await env.sleep(timedelta(seconds=15))  # the second (10 s); the slow answer comes within the attempt's time
        [message] = await logged(deliveries, code, lambda log: log[0].outcome is Outcome.DELIVERED)
    assert [(a.attempt, a.status, a.error, a.outcome) for a in message.attempts] == [
        (1, None, "ReadTimeout", Outcome.RETRYING), (2, 500, None, Outcome.RETRYING),
        (3, 200, None, Outcome.DELIVERED)]
    assert len(partner.got) == 3 and {d.headers["Arrimage-Event-Id"] for d in partner.got} == {message.event_id}
    assert [d.verdict for d in partner.got] == ["ok", "duplicate", "duplicate"]  # the partner keeps it once

    # the answer deadline runs as for a team that does not answer: timed out at its due moment, escalated
    attempt = view.pending_attempt
    assert attempt is not None
    due = view.deadline(attempt.answer_deadline)
    assert due is not None
    await env.sleep(until(due.due_at, await env.get_current_time()))
    await wait_for(handle, "escalated to a supervisor", lambda v: v.stage is CaseStage.SUPERVISOR)
    timed_out = [h for h in sq.history(code) if h["event"] == "HandoffTimedOut"]
    assert [h["at"] for h in timed_out] == [due.due_at]
    await handle.execute_update("act", sup(c.SupervisorClose, reason="personne rejointe par la police"))

    assert names(sq, code) == ["Opened", "MobileInterventionRequested", "TeamAsked", "HandoffDeclined", "TeamAsked",
                               "HandoffTimedOut", "Escalated", "CaseClosed"]
    ids = command_ids(sq, code)
    assert len(ids) == len(set(ids))
    assert len(deliveries.log(SubjectKind.CASE, code)[0].attempts) == 3  # nothing sent after it was taken
    report = verify(sq.record)
    assert report.ok, report.to_dict()
    print(f"\nhanging partner: {len(message.attempts)} attempts "
          f"({', '.join(f'{a.status or a.error} in {a.duration_ms} ms' for a in message.attempts)}), "
          f"{len(names(sq, code))} events, verify {report.events_checked} events; "
          f"{time.monotonic() - begun:.1f} s")
