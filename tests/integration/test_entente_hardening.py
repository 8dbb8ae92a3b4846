"""Issue 7 on the time-skipping server: the entente workflow records nothing back-dated and refuses
implausible moments before they reach its history or the record.

Driven only through the workflow's public updates and queries; the record (SQLite, then PostgreSQL: the
integration `record` fixture) is read event by event.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.clock import add_months, local_date
from domain.ententes import commands as c
from domain.ententes.state import EntenteStatus
from domain.ententes.wakeup import review_wakeup
from tests.factories import service_entente
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

PARTIES = ("cisss-laval", "cc-laval")


def unique(name: str, task_queue: str) -> str:
    return f"{name}-{task_queue.removeprefix('tq-')}"


async def test_an_entente_with_a_past_effective_date_takes_effect_at_its_last_signature(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: Started
) -> None:
    """Drafted with `effective_date` 2024-01-01 and signed today, an entente takes effect today: its
    activation is dated at the last signature, its first review falls a year later, and no
    `ReviewEscalated` is recorded for the reviews "missed" before it existed (there were 23)."""
    code = unique("ENT-PAST", task_queue)
    handle, drafted = await start(time_env.client, code, service_entente(effective=date(2024, 1, 1)), task_queue,
                                  started=started)
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    for party in PARTIES:
        last = await handle.execute_update(
            EntenteWorkflow.act, c.SignEntente(by=party, party_id=party, version=1, signatory="DG"),
        )
    assert last.proposal is not None
    signed_at = max(s.at for s in last.proposal.signatures)
    view = await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    assert view.activated_on == local_date(signed_at)
    assert view.next_review_due == add_months(local_date(signed_at), 12)
    history = ententes.history(code)
    assert [h["event"] for h in history] == ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated"]
    assert history[-1]["at"] == signed_at and history[-1]["on"] == local_date(signed_at).isoformat()

    # Eleven months on, nothing is due; at the first anniversary, exactly one review.
    await time_env.sleep(timedelta(days=330))
    assert (await state(handle)).event_count == 5
    due = view.next_review_due
    assert due is not None
    # The workflow wakes later in the due day, by an offset from its code as the view holds it (upper-case).
    await time_env.sleep(until(review_wakeup(view.code, due), await time_env.get_current_time()))
    view = await wait_for(handle, "review due", lambda v: v.review_pending == due)
    assert names(ententes, code)[5:] == ["ReviewDue"]
    recorded = [h["at"] for h in ententes.history(code)]
    assert recorded == sorted(recorded) and recorded[0] == drafted.versions[0].at


async def test_implausible_moments_are_refused_before_history(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: Started
) -> None:
    """A signature deadline more than a year ahead (`date_implausible`) or already past
    (`deadline_in_past`), and a revocation more than 25 years ahead, are refused by the validators:
    nothing in the workflow's history, nothing in the record. A naive moment never becomes a command."""
    code = unique("ENT-MOMENTS", task_queue)
    handle, _ = await start(time_env.client, code, service_entente(effective=None), task_queue, started=started)
    now = await time_env.get_current_time()
    await assert_rejected(handle, ententes, code, EntenteWorkflow.act,
                          c.SubmitForSignature(by="s", signature_deadline=now + timedelta(days=400)),
                          "date_implausible", "more than 365 days ahead")
    await assert_rejected(handle, ententes, code, EntenteWorkflow.act,
                          c.SubmitForSignature(by="s", signature_deadline=now - timedelta(days=1)),
                          "deadline_in_past", "must be in the future")
    # A partner system sending a naive moment: refused when the update's argument is read.
    before = names(ententes, code)
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("submit", {"by": "s", "signature_deadline": "2027-01-01T00:00:00"},
                                    id="naive-deadline")
    assert "naive-deadline" not in await accepted_update_ids(handle)
    assert names(ententes, code) == before

    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="s"))
    for party in PARTIES:
        await handle.execute_update(
            EntenteWorkflow.act, c.SignEntente(by=party, party_id=party, version=1, signatory="DG"),
        )
    await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    await assert_rejected(handle, ententes, code, EntenteWorkflow.act,
                          c.GiveRevocationNotice(by="cc", party_id="cc-laval", reason="r",
                                                 effective_date=date(2090, 1, 1)),
                          "date_implausible", "more than 25 years ahead")
