"""The later steps delivered to partners (issue 10), on the time-skipping server, to partner systems simulated by
real loopback servers that check every delivery with the README's ten lines (tests/webhook_receiver.py):

- the receiving service of a référence personnalisée takes `referral.sent`, once; its acceptance and the person's
  arrival, its own commands, are not sent back to it; the case records exactly what it records without webhooks;
- the parties of an entente take, beside their signature requests, each reminder while they have not signed and
  the annual review falling due (`entente.review_due`), once each: not again at its escalation nor at its
  recording; the entente records exactly its own events;
- a secret rotated with an overlap: deliveries carry both signatures and a partner checking with either secret
  takes them; after the overlap only the new one signs, and a partner that kept the old one refuses (401, not
  retried).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rich.console import Console
from temporalio.testing import WorkflowEnvironment

from cli.render_cases import deliveries_table
from domain.clock import add_days, start_of
from domain.crisis.model import new_case_code
from domain.crisis.state import CaseStage
from domain.delivery.model import Outcome, SubjectKind
from domain.ententes import commands as ec
from domain.ententes.state import EntenteStatus, EntenteView, ReviewOutcome
from domain.ententes.wakeup import review_wakeup
from tests.crisis_builders import (
    RECEIVING,
    TEAM,
    accept,
    accept_referral,
    act,
    activate,
    arrive,
    crisis_content,
    open_cmd,
    outcome,
    reached,
    referral,
    request,
    start_case,
)
from tests.factories import service_entente
from tests.integration import lifecycle
from tests.integration.test_webhooks import CC, deliveries_of, partner_endpoint, to_community_team
from tests.webhook_receiver import Receiver, arrived, readme_verify, receiving
from usecases.crisis import CrisisCases
from usecases.delivery import Deliveries
from usecases.ententes import Ententes
from usecases.principals import Principals
from workers.bootstrap import use_cases
from workers.settings import Settings


async def test_the_receiving_service_takes_the_referral_once_and_the_case_runs_as_without_webhooks(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    env = time_env
    deliveries = deliveries_of(cases)

    async def refer() -> str:
        code = new_case_code()
        handle, _ = await start_case(env.client, open_cmd(code), task_queue)
        for cmd in (request(), accept(TEAM), arrive(), outcome(), referral()):
            view = await act(handle, cmd)
        assert view.stage is CaseStage.REFERRAL
        return code

    without = await refer()  # before the CLSC registers an endpoint
    with receiving() as clsc:
        clsc.secret = partner_endpoint(deliveries, clsc.url, RECEIVING)
        code = await refer()
        [got] = await arrived(clsc, 1)
        handle = env.client.get_workflow_handle(f"case-{code}")
        for cmd in (accept_referral(), reached()):
            view = await act(handle, cmd)
        assert view.stage is CaseStage.CLOSED
        await env.sleep(timedelta(minutes=5))
    assert (got.verdict, got.status) == ("ok", 200)
    [sent] = view.referrals
    decision = view.deadline(sent.decision_deadline)
    assert decision is not None
    assert got.message == {
        "id": got.headers["Arrimage-Event-Id"], "type": "referral.sent", "sequence": 1,
        "subject": {"kind": "case", "code": code}, "occurred_at": sent.sent_at.isoformat(),
        "data": {"case_code": code, "referral": 1, "org_id": RECEIVING, "service": "consultation_sociale",
                 "measure": "reference_personnalisee", "channel": "telephone", "referred_by": "cisss-laval",
                 "decide_by": decision.due_at.isoformat(), "read": f"/v1/cases/{code}",
                 "task": f"/fhir/Task/{code}-r1"},
    }
    assert len(clsc.got) == 1  # its acceptance and the person's arrival are its own commands: nothing sent back
    [message] = deliveries.log(SubjectKind.CASE, code)
    assert (message.event_id, message.org_id, message.outcome) == (got.message["id"], RECEIVING, Outcome.DELIVERED)
    assert [(a.attempt, a.status) for a in message.attempts] == [(1, 200)]
    assert deliveries.log(SubjectKind.CASE, without) == []
    # The same events, in the same order, as the case referred before the CLSC had an endpoint (closed here).
    handle = env.client.get_workflow_handle(f"case-{without}")
    for cmd in (accept_referral(), reached()):
        await act(handle, cmd)
    assert [h["event"] for h in cases.history(code)] == [h["event"] for h in cases.history(without)]
    # `cases show` lists it (the table it prints, and its --json from the same log).
    console = Console(width=200, record=True)
    console.print(deliveries_table([message]))
    shown = console.export_text()
    assert "Webhooks (1)" in shown and "referral.sent (referral 1)" in shown and "HTTP 200" in shown


async def test_the_parties_take_each_reminder_and_the_annual_review_due_once(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: lifecycle.Started
) -> None:
    env = time_env
    deliveries = use_cases(ententes.record, Settings()).deliveries
    code = f"ENT-REVIEW-{task_queue.removeprefix('tq-')}".upper()
    with receiving() as cisss, receiving() as cc:
        cisss.secret = partner_endpoint(deliveries, cisss.url, "cisss-laval")
        cc.secret = partner_endpoint(deliveries, cc.url, "cc-laval")
        handle, _ = await lifecycle.start(env.client, code, service_entente(effective=None), task_queue,
                                          started=started)
        view = await handle.execute_update("act", ec.SubmitForSignature(by="dsp"), result_type=EntenteView)
        await arrived(cisss, 1)
        await arrived(cc, 1)
        proposal = view.proposal
        assert proposal is not None and proposal.submitted_at is not None
        await env.sleep(lifecycle.until(proposal.submitted_at + timedelta(days=7), await env.get_current_time()))
        await arrived(cisss, 2)
        await arrived(cc, 2)
        await handle.execute_update("act", ec.SignEntente(by="cc", party_id="cc-laval", version=1, signatory="D.G."),
                                    result_type=EntenteView)
        await env.sleep(timedelta(days=7))
        await arrived(cisss, 3)  # the second reminder: to the party still to sign only
        await handle.execute_update("act", ec.SignEntente(by="cisss", party_id="cisss-laval", version=1,
                                                          signatory="P.D.G."), result_type=EntenteView)
        view = await lifecycle.wait_for(handle, "in force", lambda v: v.status is EntenteStatus.ACTIVE)
        due = view.next_review_due
        assert due is not None
        # The workflow wakes later in the due day, by an offset from its code (`domain.ententes.wakeup`).
        await env.sleep(lifecycle.until(review_wakeup(code, due), await env.get_current_time()))
        await arrived(cisss, 4)
        await arrived(cc, 3)
        # Left undone past its grace period, the review escalates; then the committee records it: nothing more.
        await env.sleep(lifecycle.until(start_of(add_days(due, 31)), await env.get_current_time()))
        view = await lifecycle.wait_for(handle, "escalated", lambda v: v.review_escalations == 1)
        await handle.execute_update("act", ec.RecordReview(by="comite", outcome=ReviewOutcome.MAINTAIN),
                                    result_type=EntenteView)
        await env.sleep(timedelta(hours=1))

    def kinds(partner: Receiver) -> list[tuple[int, str, object]]:
        return [(d.message["sequence"], d.message["type"], d.message["data"].get("reminder")) for d in partner.got]

    assert all(d.verdict == "ok" for d in [*cisss.got, *cc.got])
    assert kinds(cisss) == [(1, "signature.requested", None), (2, "signature.reminder", 1),
                            (3, "signature.reminder", 2), (4, "entente.review_due", None)]
    assert kinds(cc) == [(1, "signature.requested", None), (2, "signature.reminder", 1),
                         (3, "entente.review_due", None)]
    review = cc.got[-1].message
    assert review["occurred_at"] == start_of(due).isoformat()
    assert review["data"] == {"entente_code": code, "version": 1, "party_id": "cc-laval", "due_on": due.isoformat(),
                              "review_interval_months": 12, "read": f"/v1/ententes/{code}"}
    assert proposal.signature_deadline is not None
    assert cisss.got[2].message["data"]["sign_by"] == proposal.signature_deadline.isoformat()
    log = deliveries.log(SubjectKind.ENTENTE, code)
    assert len(log) == 7 and {m.outcome for m in log} == {Outcome.DELIVERED}
    events = [h["event"] for h in ententes.history(code)]
    assert events == ["Drafted", "SubmittedForSignature", "SignatureReminderSent", "Signed",
                      "SignatureReminderSent", "Signed", "Activated", "ReviewDue", "ReviewEscalated",
                      "ReviewRecorded"]


async def test_a_rotated_secret_signs_beside_the_new_one_during_the_overlap_and_not_after(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    env = time_env
    activate(Ententes(cases.record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
    deliveries: Deliveries = deliveries_of(cases)
    verify = readme_verify()
    now = datetime.now().astimezone()
    with receiving() as centre, receiving() as clsc:
        # The crisis centre rotates now, with a week's overlap, and has not swapped its copy yet.
        centre.secret = partner_endpoint(deliveries, centre.url, "cc-laval")
        new = deliveries.rotate_secret("cc-laval", timedelta(days=7), by="admin", at=now).secret
        # The CLSC rotated 8 days ago with a week's overlap, and kept the old secret: the overlap is over.
        Principals(deliveries.record).add_partner(RECEIVING, "CLSC", by="admin", at=now - timedelta(days=10))
        clsc.secret = deliveries.register(RECEIVING, clsc.url, by="admin", at=now - timedelta(days=10)).secret or ""
        clsc_new = deliveries.rotate_secret(RECEIVING, timedelta(days=7), by="admin",
                                            at=now - timedelta(days=8)).secret
        assert new is not None and clsc_new is not None

        code, _ = await to_community_team(env, task_queue)
        [handoff] = await arrived(centre, 1)
        handle = env.client.get_workflow_handle(f"case-{code}")
        for cmd in (accept(CC), arrive("cc-laval"), outcome(org="cc-laval"), referral(org="cc-laval")):
            await act(handle, cmd)
        [sent] = await arrived(clsc, 1)
        await env.sleep(timedelta(hours=2))  # no retry follows a 401
    assert handoff.headers["Arrimage-Signature"].count("v1=") == 2
    assert (handoff.verdict, handoff.status) == ("ok", 200)  # checked with the old secret by the centre
    assert verify(new, handoff.headers, handoff.body, set()) == "ok"  # and with the new one
    assert sent.headers["Arrimage-Signature"].count("v1=") == 1
    assert (sent.verdict, sent.status) == ("forged", 401)  # the old secret verifies nothing after the overlap
    assert verify(clsc_new, sent.headers, sent.body, set()) == "ok"
    assert len(clsc.got) == 1
    log = deliveries.log(SubjectKind.CASE, code)
    assert [(m.type.value, m.org_id, m.outcome, [a.status for a in m.attempts]) for m in log] == [
        ("handoff.requested", "cc-laval", Outcome.DELIVERED, [200]),
        ("referral.sent", RECEIVING, Outcome.REFUSED, [401]),
    ]

