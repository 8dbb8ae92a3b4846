"""Issue 2 end to end on the time-skipping server: ententes driven only through the workflow's public
updates and queries, years of timers skipped, the record checked event by event.

Every test runs on both event stores (`store_env`: SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.clock import add_days, add_months, local_date, start_of
from domain.ententes import commands as c
from domain.ententes.model import EntenteContent
from domain.ententes.state import EntentePolicy, EntenteStatus, ProposalStage, ReviewOutcome
from domain.ententes.wakeup import review_wakeup
from tests.factories import entente_cadre, service_entente
from tests.integration.lifecycle import (
    Started,
    accepted_update_ids,
    assert_rejected,
    names,
    start,
    state,
    until,
    wait_for,
)
from usecases.ententes import Ententes
from workflows.entente import EntenteWorkflow


def unique(name: str, task_queue: str) -> str:
    """Workflow ids live as long as the session's server: each test's entente gets its own code."""
    return f"{name}-{task_queue.removeprefix('tq-')}".upper()  # entente codes are upper-case


def _content(kind: str, effective: date | None) -> tuple[EntenteContent, list[str]]:
    if kind == "service":
        return service_entente(effective=effective), ["cisss-laval", "cc-laval"]
    return entente_cadre(effective=effective), ["cisss-laval", "cc-laval", "cps-laval"]


@pytest.mark.parametrize("kind", ["service", "cadre"])
async def test_an_entente_goes_from_draft_to_revocation_through_two_reviews_and_an_amendment(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: Started, kind: str
) -> None:
    """The issue's scenario: draft → signed by every party → active on its effective date → two annual
    reviews (one after it fell due, one early within the window) → amendment in force → revocation with
    notice, effective at its date. The record holds exactly the events of that life, in order."""
    env = time_env
    code = unique(f"ENT-{kind.upper()}-LIFE", task_queue)
    today = local_date(await env.get_current_time())
    effective = add_days(today, 30)
    content, parties = _content(kind, effective)
    notice = content.provisions.revocation_notice_days

    handle, view = await start(env.client, code, content, task_queue, started=started)
    assert view.status is EntenteStatus.DRAFT and view.latest_version == 1

    view = await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"),
                                       id="submit-v1")
    assert view.status is EntenteStatus.IN_SIGNATURE
    for party in parties:
        view = await handle.execute_update(
            EntenteWorkflow.act,
            c.SignEntente(by=party, party_id=party, version=1, signatory=f"DG {party}"), id=f"sign-v1-{party}",
        )
    assert view.status is EntenteStatus.SIGNED
    assert view.proposal is not None
    assert {s.fingerprint for s in view.proposal.signatures} == {content.fingerprint()}

    # Effective date: activated at Québec midnight.
    await env.sleep(until(start_of(effective), await env.get_current_time()))
    view = await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    assert view.activated_on == effective and view.in_force_version == 1
    first_due = add_months(effective, 12)
    assert view.next_review_due == first_due

    # Year 1: the review falls due on the anniversary; the comité holds it five days later.
    # The workflow wakes later in the due day, by an offset from its code (`domain.ententes.wakeup`).
    await env.sleep(until(review_wakeup(code, first_due), await env.get_current_time()))
    view = await wait_for(handle, "review due", lambda v: v.review_pending == first_due)
    await env.sleep(timedelta(days=5))
    view = await handle.execute_update(
        EntenteWorkflow.act, c.RecordReview(by="comite", outcome=ReviewOutcome.MAINTAIN, notes="an 1"),
    )
    second_due = add_months(effective, 24)
    assert view.review_pending is None and view.next_review_due == second_due

    # Year 2: held early, within the 60-day window: no ReviewDue is raised.
    await env.sleep(until(start_of(add_days(second_due, -10)), await env.get_current_time()))
    view = await handle.execute_update(
        EntenteWorkflow.act, c.RecordReview(by="comite", outcome=ReviewOutcome.AMEND, notes="an 2"),
    )
    assert [r.due_on for r in view.reviews] == [first_due, second_due]
    assert view.next_review_due == add_months(effective, 36)

    # Amendment: proposed, submitted, signed; version 1 stays in force until the last signature.
    amended = content.model_copy(update={"title": content.title + " (modifiée)"})
    view = await handle.execute_update(
        EntenteWorkflow.act, c.ProposeAmendment(by="comite", content=amended, reason="révision an 2"),
    )
    assert view.status is EntenteStatus.ACTIVE and view.in_force_version == 1 and view.latest_version == 2
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    for party in parties[:-1]:
        view = await handle.execute_update(
            EntenteWorkflow.act, c.SignEntente(by=party, party_id=party, version=2, signatory="DG"),
        )
    assert view.in_force_version == 1 and view.title == content.title
    await handle.execute_update(
        EntenteWorkflow.act, c.SignEntente(by=parties[-1], party_id=parties[-1], version=2, signatory="DG"),
    )
    view = await wait_for(handle, "amendment in force", lambda v: v.in_force_version == 2)
    assert view.title == amended.title and view.proposal is None and view.next_review_due == add_months(effective, 36)

    # Revocation: refused short of the notice period, then given with it, effective at its date.
    now = await env.get_current_time()
    earliest = add_days(local_date(now), notice)
    await assert_rejected(
        handle, ententes, code, EntenteWorkflow.act,
        c.GiveRevocationNotice(by="cc", party_id="cc-laval", reason="fermeture", effective_date=add_days(earliest, -1)),
        "notice_period", f"requires {notice} days' notice", str(earliest),
    )
    view = await handle.execute_update(
        EntenteWorkflow.act,
        c.GiveRevocationNotice(by="cc", party_id="cc-laval", reason="fermeture", effective_date=earliest),
    )
    assert view.status is EntenteStatus.ACTIVE and view.revocation is not None
    await env.sleep(until(start_of(earliest), await env.get_current_time()))
    final = await handle.result()
    assert final is not None and final.status is EntenteStatus.REVOKED and final.ended_on == earliest

    signed = ["Signed"] * len(parties)
    assert names(ententes, code) == [
        "Drafted", "SubmittedForSignature", *signed, "Activated",
        "ReviewDue", "ReviewRecorded", "ReviewRecorded",
        "AmendmentProposed", "SubmittedForSignature", *signed, "AmendmentInForce",
        "RevocationNoticeGiven", "Revoked",
    ]
    # Every recorded command came from one accepted update (the detection of acceptances works).
    accepted = await accepted_update_ids(handle)
    assert {"submit-v1", *(f"sign-v1-{p}" for p in parties)} <= accepted
    command_ids = [h["command_id"] for h in ententes.history(code) if h.get("command_id")]
    assert len(command_ids) == len(set(command_ids))


async def test_signatures_on_a_superseded_version_are_refused(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: Started
) -> None:
    """A change after a signature voids it; once version 2 is submitted, a signature on version 1 is
    refused (`superseded_version`) before reaching history or the record."""
    code = unique("ENT-SUPERSEDED", task_queue)
    handle, _ = await start(time_env.client, code, service_entente(effective=None), task_queue, started=started)
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    await handle.execute_update(
        EntenteWorkflow.act, c.SignEntente(by="cisss", party_id="cisss-laval", version=1, signatory="DG"),
    )
    view = await handle.execute_update(
        EntenteWorkflow.act,
        c.ReviseDraft(by="conseillere", content=service_entente(effective=None, notice_days=60), reason="préavis"),
    )
    assert view.proposal is not None and view.proposal.version == 2 and view.proposal.signatures == []
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))

    await assert_rejected(
        handle, ententes, code, EntenteWorkflow.act,
        c.SignEntente(by="cc", party_id="cc-laval", version=1, signatory="DG"),
        "superseded_version", "version 1", "version 2 is the one to sign",
    )
    await assert_rejected(
        handle, ententes, code, EntenteWorkflow.act,
        c.SignEntente(by="cisss", party_id="cisss-laval", version=1, signatory="DG"),
        "superseded_version",
    )
    for party in ("cisss-laval", "cc-laval"):
        await handle.execute_update(
            EntenteWorkflow.act, c.SignEntente(by=party, party_id=party, version=2, signatory="DG"),
        )
    view = await wait_for(handle, "activation on the last signature", lambda v: v.status is EntenteStatus.ACTIVE)
    assert view.in_force_version == 2
    assert names(ententes, code) == [
        "Drafted", "SubmittedForSignature", "Signed", "DraftRevised", "SubmittedForSignature",
        "Signed", "Signed", "Activated",
    ]


async def test_a_party_outside_the_agreement_cannot_sign(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: Started
) -> None:
    """Only the version's parties sign: a third organisation is refused (`not_a_party`), nothing recorded."""
    code = unique("ENT-OUTSIDER", task_queue)
    handle, _ = await start(time_env.client, code, service_entente(), task_queue, started=started)
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    await assert_rejected(
        handle, ententes, code, EntenteWorkflow.act,
        c.SignEntente(by="cps", party_id="cps-laval", version=1, signatory="DG"),
        "not_a_party", f"cps-laval is not a party to entente {code}",
    )
    await assert_rejected(
        handle, ententes, code, EntenteWorkflow.act,
        c.RefuseSignature(by="cps", party_id="cps-laval", version=1, reason="pas concerné"),
        "not_a_party",
    )
    view = await state(handle)
    assert view.status is EntenteStatus.IN_SIGNATURE
    assert view.proposal is not None and view.proposal.signatures == []
    assert names(ententes, code) == ["Drafted", "SubmittedForSignature"]


async def test_a_revocation_before_the_notice_period_ends_is_refused(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: Started
) -> None:
    """A revocation taking effect sooner than the 90 days' notice is refused (`notice_period`); the entente
    stays in force and accepts a notice that respects the period."""
    code = unique("ENT-NOTICE", task_queue)
    content = service_entente(effective=None, notice_days=90)
    handle, _ = await start(time_env.client, code, content, task_queue, started=started)
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    for party in ("cisss-laval", "cc-laval"):
        await handle.execute_update(
            EntenteWorkflow.act, c.SignEntente(by=party, party_id=party, version=1, signatory="DG"),
        )
    await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    today = local_date(await time_env.get_current_time())
    for short in (today, add_days(today, 30), add_days(today, 89)):
        await assert_rejected(
            handle, ententes, code, EntenteWorkflow.act,
            c.GiveRevocationNotice(by="cisss", party_id="cisss-laval", reason="réorganisation", effective_date=short),
            "notice_period", "requires 90 days' notice", f"{add_days(today, 90)} at the earliest",
        )
    view = await state(handle)
    assert view.status is EntenteStatus.ACTIVE and view.revocation is None
    view = await handle.execute_update(
        EntenteWorkflow.act,
        c.GiveRevocationNotice(by="cisss", party_id="cisss-laval", reason="réorganisation",
                               effective_date=add_days(today, 90)),
    )
    assert view.revocation is not None and view.revocation.effective_date == add_days(today, 90)
    assert names(ententes, code)[-2:] == ["Activated", "RevocationNoticeGiven"]


async def test_a_review_left_undone_escalates_again_and_again(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: Started
) -> None:
    """An annual review not held within the 30-day grace escalates, then every 30 days until it is held."""
    code = unique("ENT-ESCALATION", task_queue)
    handle, _ = await start(time_env.client, code, service_entente(effective=None), task_queue, started=started)
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    for party in ("cisss-laval", "cc-laval"):
        await handle.execute_update(
            EntenteWorkflow.act, c.SignEntente(by=party, party_id=party, version=1, signatory="DG"),
        )
    view = await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    due = view.next_review_due
    assert due is not None
    await time_env.sleep(until(start_of(add_days(due, 60)), await time_env.get_current_time()))
    view = await wait_for(handle, "two escalations", lambda v: v.review_escalations == 2)
    assert view.review_pending == due
    view = await handle.execute_update(
        EntenteWorkflow.act, c.RecordReview(by="comite", outcome=ReviewOutcome.MAINTAIN, notes="en retard"),
    )
    assert view.review_escalations == 0 and view.next_review_due == add_months(due, 12)
    assert names(ententes, code) == [
        "Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated",
        "ReviewDue", "ReviewEscalated", "ReviewEscalated", "ReviewRecorded",
    ]
    assert [h["level"] for h in ententes.history(code) if h["event"] == "ReviewEscalated"] == [1, 2]


async def test_unsigned_parties_are_reminded_until_the_signature_deadline(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: Started
) -> None:
    """In signature, parties that have not signed are reminded weekly; unsigned at the deadline (30 days),
    the version goes back to drafting and the signatures collected are void."""
    code = unique("ENT-DEADLINE", task_queue)
    handle, _ = await start(time_env.client, code, service_entente(), task_queue, started=started)
    view = await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    assert view.proposal is not None and view.proposal.signature_deadline is not None
    deadline = view.proposal.signature_deadline
    await handle.execute_update(
        EntenteWorkflow.act, c.SignEntente(by="cisss", party_id="cisss-laval", version=1, signatory="DG"),
    )
    await time_env.sleep(until(deadline, await time_env.get_current_time()))
    view = await wait_for(handle, "deadline missed", lambda v: v.status is EntenteStatus.DRAFT)
    assert view.proposal is not None and view.proposal.stage is ProposalStage.DRAFTING
    assert view.proposal.signatures == []
    assert names(ententes, code) == [
        "Drafted", "SubmittedForSignature", "Signed", *["SignatureReminderSent"] * 4, "SignatureDeadlineMissed",
    ]
    reminded = [h["parties"] for h in ententes.history(code) if h["event"] == "SignatureReminderSent"]
    assert reminded == [["cc-laval"]] * 4
    await assert_rejected(
        handle, ententes, code, EntenteWorkflow.act,
        c.SignEntente(by="cc", party_id="cc-laval", version=1, signatory="DG"),
        "not_in_signature",
    )


async def test_the_workflow_calendar_and_the_recorded_calendar_follow_the_same_policy(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: Started
) -> None:
    """A workflow decides when to wake with the policy it was started with; the worker's own policy
    (its settings, default: reminders every 7 days) may differ. The record must follow the workflow's
    policy: reminders every 3 days here, each recorded once — not a workflow spinning on a moment its
    worker finds nothing due at (which grew the history by thousands of events a second)."""
    code = unique("ENT-POLICY", task_queue)
    policy = EntentePolicy(reminder_interval_days=3)
    handle, _ = await start(time_env.client, code, service_entente(), task_queue, policy=policy, started=started)
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    await time_env.sleep(timedelta(days=10))
    view = await wait_for(
        handle, "three reminders", lambda v: v.proposal is not None and v.proposal.reminders_sent == 3
    )
    assert view.status is EntenteStatus.IN_SIGNATURE
    assert names(ententes, code) == ["Drafted", "SubmittedForSignature", *["SignatureReminderSent"] * 3]
    assert (await handle.describe()).raw_description.workflow_execution_info.history_length < 100
