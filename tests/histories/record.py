"""Record representative histories of the entente workflow, for `tests/integration/test_replay.py`.

    .venv/bin/python -m tests.histories.record              # the histories of today's shape (`act`)
    .venv/bin/python -m tests.histories.record --list       # every scenario and its file
    .venv/bin/python -m tests.histories.record NAME…        # some scenarios only

Runs, on the time-skipping test server with a real worker and a throw-away SQLite record, and saves
each history as `<workflow id>.json` (`WorkflowHistory.to_json()`); the replay test replays every
`entente-*.json` against the current `EntenteWorkflow`. An existing file is never overwritten
(`--replace` to do so, see below).

Two shapes of history are kept, both must replay:

- **`act` shape** (recorded with `act`, issue 8: every command after the draft is the one `act` update),
  what today's clients send — the default scenarios:
  - `entente-REPLAY-ACT-SERVICE`, `entente-REPLAY-ACT-CADRE`: a service entente and a three-party
    entente-cadre from draft to revocation (submission, signatures, activation on the effective date,
    two annual reviews, an amendment signed into force, a refused revocation, a revocation with notice);
  - `entente-REPLAY-ACT-DEADLINE`: reminders, a missed signature deadline, a revision, a refusal,
    a withdrawal;
  - `entente-REPLAY-ACT-ESCALATION`: a review left undone escalating twice, a revocation.
  - `entente-REPLAY-SPREAD` (`SPREAD`, not a default): two annual reviews whose timers fire later in their due
    day, at the start of the day plus the code's offset (patch `review-wakeup-spread`, `domain.ententes.wakeup`),
    each ReviewDue dated at the start of the day; a revocation. The `ACT-*` and `DELIVERS` files were recorded
    before that patch: their review timers fire at the first instant of the due day, and must replay so.
  - `entente-REPLAY-DELIVERS` (`DELIVERS`, not a default: it needs the record's partners): both parties are
    partners with endpoints (receivers on loopback); each asked to sign is told by webhook (patch
    `entente-delivers-signature-requests`), two reminders, the signatures, activation, the annual review
    falling due and recorded, a revocation. Recorded at commit 32c04b5, before reminders and reviews were
    delivered (their patch came later): running ententes of that shape must replay without them.
- **per-command shape** (the files without `ACT`: `entente-REPLAY-SERVICE`, `-CADRE`, `-DEADLINE`,
  `-ESCALATION`, `-CAN.run1` / `.run2`): recorded before `act` existed (before commit a44695f), when
  each command had its own update (`revise`, `submit`, `sign`, `refuse`, `withdraw`, `amend`, `renew`,
  `review`, `revoke`). They prove that workflows started then, and clients still sending those names,
  keep replaying: the workflow keeps those updates as delegations to `act`'s code. Their scenarios are
  still here under the same names (`SERVICE`, `CADRE`, `DEADLINE`, `ESCALATION`, `CAN`: a review left
  undone escalating twice; a workflow continuing as new past its history limit, carrying its view, and
  the run that follows it), sending the old update names; running them today records the delegations
  of today's code, not the code that recorded those files — do not replace those files with them.

When to re-record — almost never:
- **Never to make a failing replay pass.** A failing replay means the workflow code is no longer
  deterministic with respect to histories that exist: every entente running in production (they live
  for years) would fail on its next workflow task. Make the change compatible instead — guard the new
  behaviour with `workflow.patched("change-id")` (and later `workflow.deprecate_patch`), or version the
  workflow under a new name and let old runs finish.
- Do record **new** histories (add a scenario here, keep the old files) when the workflow gains a
  behaviour worth protecting, so that later changes are checked against it too.
- Replace a file only once no running workflow can still have such a history (every run of the old code
  closed, patches deprecated), and say so in the commit message.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.clock import add_days, add_months, local_date, start_of
from domain.ententes import commands as c
from domain.ententes.model import EntenteContent
from domain.ententes.state import EntentePolicy, EntenteStatus, ReviewOutcome
from domain.ententes.wakeup import review_wakeup
from tests.factories import entente_cadre, service_entente
from tests.integration.lifecycle import start, until, wait_for
from workers.binaries import temporal_test_server
from workers.bootstrap import data_converter
from workers.settings import Settings
from workers.worker import build_worker
from workflows.entente import EntenteWorkflow

HERE = Path(__file__).resolve().parent
SERVICE = ["cisss-laval", "cc-laval"]
CADRE = ["cisss-laval", "cc-laval", "cps-laval"]


def _sign(party: str, version: int) -> c.SignEntente:
    return c.SignEntente(by=party, party_id=party, version=version, signatory=f"DG {party}")


def _via(shape: str, name: str) -> Any:
    """The update a command is sent through: `act` (today's shape) or its own update of before (old)."""
    return EntenteWorkflow.act if shape == "act" else getattr(EntenteWorkflow, name)


REPLACE = False  # --replace


async def _save(handle: WorkflowHandle[Any, Any], name: str) -> Path:
    history = await handle.fetch_history()
    path = HERE / f"{name}.json"
    if path.exists() and not REPLACE:
        sys.exit(f"{path.name} exists: not overwritten (see this module's docstring; --replace to do so)")
    path.write_text(history.to_json() + "\n", encoding="utf-8")
    print(f"{path.name}: {len(history.events)} events")
    return path


async def full_life(env: WorkflowEnvironment, tq: str, code: str, content: EntenteContent,
                    parties: list[str], shape: str) -> None:
    handle, _ = await start(env.client, code, content, tq)
    await handle.execute_update(_via(shape, "submit"), c.SubmitForSignature(by="superviseur"))
    for p in parties:
        await handle.execute_update(_via(shape, "sign"), _sign(p, 1))
    effective = content.duration.effective_date
    assert effective is not None
    await env.sleep(until(start_of(effective), await env.get_current_time()))
    await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    first_due = add_months(effective, 12)
    await env.sleep(until(review_wakeup(code, first_due), await env.get_current_time()))
    await wait_for(handle, "review due", lambda v: v.review_pending == first_due)
    await handle.execute_update(_via(shape, "review"), c.RecordReview(by="comite", outcome=ReviewOutcome.MAINTAIN))
    await env.sleep(until(start_of(add_days(add_months(effective, 24), -10)), await env.get_current_time()))
    await handle.execute_update(_via(shape, "review"), c.RecordReview(by="comite", outcome=ReviewOutcome.AMEND))
    amended = content.model_copy(update={"title": content.title + " (modifiée)"})
    await handle.execute_update(_via(shape, "amend"), c.ProposeAmendment(by="comite", content=amended, reason="r"))
    await handle.execute_update(_via(shape, "submit"), c.SubmitForSignature(by="superviseur"))
    for p in parties:
        await handle.execute_update(_via(shape, "sign"), _sign(p, 2))
    await wait_for(handle, "amendment in force", lambda v: v.in_force_version == 2)
    today = local_date(await env.get_current_time())
    notice = content.provisions.revocation_notice_days
    try:
        await handle.execute_update(_via(shape, "revoke"), c.GiveRevocationNotice(
            by="cc", party_id="cc-laval", reason="fermeture", effective_date=today))
        raise AssertionError("a revocation without notice was accepted")
    except WorkflowUpdateFailedError:
        pass
    when = add_days(today, notice)
    await handle.execute_update(_via(shape, "revoke"), c.GiveRevocationNotice(
        by="cc", party_id="cc-laval", reason="fermeture", effective_date=when))
    await env.sleep(until(start_of(when), await env.get_current_time()))
    final = await handle.result()
    assert final is not None and final.status is EntenteStatus.REVOKED
    await _save(handle, handle.id)


async def deadline(env: WorkflowEnvironment, tq: str, code: str, shape: str) -> None:
    handle, _ = await start(env.client, code, service_entente(), tq)
    view = await handle.execute_update(_via(shape, "submit"), c.SubmitForSignature(by="superviseur"))
    await handle.execute_update(_via(shape, "sign"), _sign("cisss-laval", 1))
    assert view.proposal is not None and view.proposal.signature_deadline is not None
    await env.sleep(until(view.proposal.signature_deadline, await env.get_current_time()))
    await wait_for(handle, "deadline missed", lambda v: v.status is EntenteStatus.DRAFT)
    await handle.execute_update(_via(shape, "revise"), c.ReviseDraft(
        by="conseillere", content=service_entente(notice_days=60), reason="préavis"))
    await handle.execute_update(_via(shape, "submit"), c.SubmitForSignature(by="superviseur"))
    await handle.execute_update(_via(shape, "refuse"), c.RefuseSignature(
        by="cc", party_id="cc-laval", version=2, reason="volumes"))
    await handle.execute_update(_via(shape, "withdraw"), c.WithdrawFromEntente(
        by="cc", party_id="cc-laval", reason="financement"))
    final = await handle.result()
    assert final is not None and final.status is EntenteStatus.ABANDONED
    await _save(handle, handle.id)


async def escalation(env: WorkflowEnvironment, tq: str, code: str, shape: str) -> None:
    handle, _ = await start(env.client, code, service_entente(effective=None, notice_days=0), tq)
    await handle.execute_update(_via(shape, "submit"), c.SubmitForSignature(by="superviseur"))
    for p in SERVICE:
        await handle.execute_update(_via(shape, "sign"), _sign(p, 1))
    view = await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    assert view.next_review_due is not None
    await env.sleep(until(start_of(add_days(view.next_review_due, 60)), await env.get_current_time()))
    await wait_for(handle, "escalations", lambda v: v.review_escalations == 2)
    await handle.execute_update(_via(shape, "review"), c.RecordReview(by="comite", outcome=ReviewOutcome.REVOKE))
    today = local_date(await env.get_current_time())
    await handle.execute_update(_via(shape, "revoke"), c.GiveRevocationNotice(
        by="cisss", party_id="cisss-laval", reason="revue", effective_date=add_days(today, 1)))
    await env.sleep(until(start_of(add_days(today, 1)), await env.get_current_time()))
    final = await handle.result()
    assert final is not None and final.status is EntenteStatus.REVOKED
    await _save(handle, handle.id)


async def continue_as_new(client: Client, env: WorkflowEnvironment, tq: str, policy: EntentePolicy,
                          shape: str) -> None:
    handle, _ = await start(client, "REPLAY-CAN", service_entente(), tq, policy=policy, history_limit=40)
    first_run = (await handle.describe()).run_id
    await handle.execute_update(_via(shape, "submit"), c.SubmitForSignature(by="superviseur"))
    await env.sleep(timedelta(days=20, hours=1))
    latest = client.get_workflow_handle(handle.id)
    await latest.execute_update(_via(shape, "sign"), _sign("cisss-laval", 1))
    assert (await latest.describe()).run_id != first_run
    await latest.terminate(reason="recorded")
    await _save(client.get_workflow_handle(handle.id, run_id=first_run), f"{handle.id}.run1")
    await _save(latest, f"{handle.id}.run2")


async def delivers(env: WorkflowEnvironment, tq: str, record: Record) -> None:
    from datetime import datetime

    from tests.webhook_receiver import arrived, receiving
    from usecases.principals import Principals
    from workers.bootstrap import use_cases

    deliveries = use_cases(record, Settings()).deliveries
    with receiving() as cisss, receiving() as cc:
        for org, partner in zip(SERVICE, (cisss, cc), strict=True):
            now = datetime.now().astimezone()
            Principals(record).add_partner(org, f"Organisme {org}", by="admin", at=now)
            secret = deliveries.register(org, partner.url, by="admin", at=now).secret
            assert secret is not None
            partner.secret = secret
        handle, _ = await start(env.client, "REPLAY-DELIVERS", service_entente(effective=None, notice_days=0), tq)
        view = await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
        await arrived(cisss, 1)
        await arrived(cc, 1)
        assert view.proposal is not None and view.proposal.submitted_at is not None
        await env.sleep(until(view.proposal.submitted_at + timedelta(days=7, hours=1), await env.get_current_time()))
        await wait_for(handle, "first reminder", lambda v: v.proposal is not None and v.proposal.reminders_sent == 1)
        await handle.execute_update(EntenteWorkflow.act, _sign("cc-laval", 1))
        await env.sleep(timedelta(days=7))
        await wait_for(handle, "second reminder", lambda v: v.proposal is not None and v.proposal.reminders_sent == 2)
        await handle.execute_update(EntenteWorkflow.act, _sign("cisss-laval", 1))
        view = await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
        due = view.next_review_due
        assert due is not None
        await env.sleep(until(review_wakeup("REPLAY-DELIVERS", due), await env.get_current_time()))
        await wait_for(handle, "review due", lambda v: v.review_pending == due)
        await handle.execute_update(EntenteWorkflow.act, c.RecordReview(by="comite", outcome=ReviewOutcome.REVOKE))
        today = local_date(await env.get_current_time())
        await handle.execute_update(EntenteWorkflow.act, c.GiveRevocationNotice(
            by="cisss", party_id="cisss-laval", reason="revue", effective_date=add_days(today, 1)))
        await env.sleep(until(start_of(add_days(today, 1)), await env.get_current_time()))
        final = await handle.result()
        assert final is not None and final.status is EntenteStatus.REVOKED
        assert [len(cisss.got), len(cc.got)] == [1, 1]  # signature requests only: nothing else was delivered then
        await _save(handle, handle.id)


async def spread(env: WorkflowEnvironment, tq: str) -> None:
    """Two annual reviews woken later in their due day (patch `review-wakeup-spread`): each timer fires at the
    start of the due day plus the code's offset, each ReviewDue dated at the start of the day; then a revocation."""
    code = "REPLAY-SPREAD"
    handle, _ = await start(env.client, code, service_entente(effective=None, notice_days=0), tq)
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    for p in SERVICE:
        await handle.execute_update(EntenteWorkflow.act, _sign(p, 1))
    view = await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    for year in (1, 2):
        due = view.next_review_due
        assert due is not None
        assert await handle.query(EntenteWorkflow.next_wakeup) == start_of(due)
        await env.sleep(until(review_wakeup(code, due), await env.get_current_time()))
        await wait_for(handle, f"review {year} due", lambda v, due=due: v.review_pending == due)  # type: ignore[misc]
        outcome = ReviewOutcome.MAINTAIN if year == 1 else ReviewOutcome.REVOKE
        view = await handle.execute_update(EntenteWorkflow.act, c.RecordReview(by="comite", outcome=outcome))
    today = local_date(await env.get_current_time())
    await handle.execute_update(EntenteWorkflow.act, c.GiveRevocationNotice(
        by="cisss", party_id="cisss-laval", reason="revue", effective_date=add_days(today, 1)))
    await env.sleep(until(start_of(add_days(today, 1)), await env.get_current_time()))
    final = await handle.result()
    assert final is not None and final.status is EntenteStatus.REVOKED
    await _save(handle, handle.id)


Scenario = Callable[[WorkflowEnvironment, str], Awaitable[None]]


def _life(code: str, kind: Callable[..., EntenteContent], parties: list[str], shape: str) -> Scenario:
    """A full life, in force 30 days after the scenario starts (the server's clock has moved on since
    the scenarios before it: dates are taken from it when the scenario begins)."""
    async def run(env: WorkflowEnvironment, tq: str) -> None:
        today = local_date(await env.get_current_time())
        await full_life(env, tq, code, kind(effective=add_days(today, 30)), parties, shape)
    return run


SCENARIOS: dict[str, Scenario] = {
    # today's shape: every command after the draft through `act`
    "ACT-SERVICE": _life("REPLAY-ACT-SERVICE", service_entente, SERVICE, "act"),
    "ACT-CADRE": _life("REPLAY-ACT-CADRE", entente_cadre, CADRE, "act"),
    "ACT-DEADLINE": lambda env, tq: deadline(env, tq, "REPLAY-ACT-DEADLINE", "act"),
    "ACT-ESCALATION": lambda env, tq: escalation(env, tq, "REPLAY-ACT-ESCALATION", "act"),
    "SPREAD": spread,
    # the shape before `act` (one update per command): see the docstring before running these
    "SERVICE": _life("REPLAY-SERVICE", service_entente, SERVICE, "old"),
    "CADRE": _life("REPLAY-CADRE", entente_cadre, CADRE, "old"),
    "DEADLINE": lambda env, tq: deadline(env, tq, "REPLAY-DEADLINE", "old"),
    "ESCALATION": lambda env, tq: escalation(env, tq, "REPLAY-ESCALATION", "old"),
}


def files(name: str) -> list[Path]:
    stems = [f"entente-REPLAY-{name}.run1", f"entente-REPLAY-{name}.run2"] if name == "CAN" else [
        f"entente-REPLAY-{name}"]
    return [HERE / f"{stem}.json" for stem in stems]


DEFAULT = ["ACT-SERVICE", "ACT-CADRE", "ACT-DEADLINE", "ACT-ESCALATION"]
ALL = [*DEFAULT, "SPREAD", "DELIVERS", "SERVICE", "CADRE", "DEADLINE", "ESCALATION", "CAN"]


async def main(names: list[str]) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=data_converter()
    )
    try:
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(4) as executor:
            record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{tmp}/record.sqlite"})
            tq = "replay-recording"
            async with build_worker(env.client, Settings(task_queue=tq, data_dir=Path(tmp)), record,
                                    executor=executor):
                for name in names:
                    if name in SCENARIOS:
                        await SCENARIOS[name](env, tq)
                if "DELIVERS" in names:
                    await delivers(env, tq, record)
            if "CAN" in names:
                # Continue-as-new needs the worker's policy to match the workflow's (daily reminders).
                policy = EntentePolicy(signature_period_days=90, reminder_interval_days=1)
                settings = Settings(task_queue=tq + "-can", data_dir=Path(tmp), entente_policy=policy)
                async with build_worker(env.client, settings, record, executor=executor):
                    await continue_as_new(env.client, env, tq + "-can", policy, "old")
            record.close()
    finally:
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Record entente workflow histories (see the module docstring).")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"scenarios (default: {' '.join(DEFAULT)})")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--replace", action="store_true", help="overwrite existing files (see the docstring)")
    args = parser.parse_args()
    if args.list:
        for n in ALL:
            print(f"{n:<14} {' '.join(f.name for f in files(n)):<55}"
                  f"{'  (default)' if n in DEFAULT else '  (per-command shape)'}")
        sys.exit(0)
    if unknown := [n for n in args.names if n not in ALL]:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; --list shows them")
    REPLACE = args.replace
    names = args.names or DEFAULT
    if not REPLACE and (existing := [f.name for n in names for f in files(n) if f.exists()]):
        parser.error(f"{', '.join(existing)} exist(s): not overwritten (see the docstring; --replace to do so)")
    asyncio.run(main(names))
