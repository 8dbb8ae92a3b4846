"""Shredding reaches Temporal (issue 9): a crisis case's history is encrypted with a key derived from its
person's own key, so that `arrimage audit shred` (destroying that key) leaves Temporal's copy of the
intake unreadable too, while before the shred the case runs, answers and replays normally.

The attacker holds what every worker holds: the shared payload key (ARRIMAGE_PAYLOAD_KEYS) and the
code, and reads the raw history through the official client without the codec."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from adapters.record.keys import DEV_PAYLOAD_KEYS
from adapters.temporal.codec import ENCODING, KEY_SCOPE, SUBJECT_SCOPE, EncryptionCodec, PayloadErased
from cli.client import ask
from domain.crisis import commands as c
from domain.crisis.model import HandoffSharing, new_case_code
from domain.disclosure.legal_bases import Condition
from tests.crisis_builders import CSSS, PERSON_REF, REASON, SUBJECT, TEAM, open_cmd
from usecases.audit.trail import shred
from workers.bootstrap import Root, bootstrap
from workers.settings import Settings
from workers.worker import build_worker
from workflows.crisis import CrisisCaseWorkflow, workflow_id

EMERGENCY = "corde achetee ce matin"
PERSONAL = (REASON.encode(), PERSON_REF.encode(), EMERGENCY.encode())


def all_payloads(message: Message) -> Iterator[Payload]:
    """Every payload anywhere in a history event: inputs, update arguments, results, failures."""
    if isinstance(message, Payload):
        yield message
        return
    for _field, value in message.ListFields():
        items = value.values() if hasattr(value, "values") and callable(value.values) else value
        if isinstance(value, Message):
            yield from all_payloads(value)
        elif isinstance(items, Iterable) and not isinstance(items, str | bytes):
            for item in items:
                if isinstance(item, Message):
                    yield from all_payloads(item)


async def raw_history(client: Client, wf_id: str) -> WorkflowHistory:
    """The history as the server gives it to anyone with access: no codec."""
    plain = Client(client.service_client, namespace=client.namespace, data_converter=pydantic_data_converter)
    return await plain.get_workflow_handle(wf_id).fetch_history()


async def readable_with(codec: EncryptionCodec, namespace: str, wf_id: str, payloads: list[Payload]) -> list[bytes]:
    """What of `payloads` this codec opens, in the workflow's context (as a worker would): the clear bytes."""
    context = WorkflowSerializationContext(namespace=namespace, workflow_id=wf_id)
    bound = DataConverter(payload_codec=codec).with_context(context).payload_codec
    assert bound is not None
    opened = []
    for p in payloads:
        try:
            opened.append((await bound.decode([p]))[0].data)
        except ValueError:  # PayloadDecryptionError and its kinds
            continue
    return opened


def leaks(clear: list[bytes]) -> list[bytes]:
    return [secret for secret in PERSONAL if any(secret in c for c in clear)]


@pytest.fixture
def root(
    visible_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
) -> Iterator[Root]:
    """What `arrimage cases …` builds (the CLI's root), on the test server and the store under test."""
    settings = Settings(_env_file=None, task_queue=task_queue, data_dir=tmp_path)
    with bootstrap(settings, record_env=store_env, client=visible_env.client) as r:
        yield r


async def test_a_shred_leaves_the_case_history_in_temporal_unreadable(
    visible_env: WorkflowEnvironment, root: Root, task_queue: str
) -> None:
    """Before the change this failed: every payload (the intake's reason, the person's health number, the
    emergency note) opened with the shared payload key alone, before and after the shred. Now the case's
    payloads are sealed with its person's key: the shared key opens none, the shred makes them unreadable to
    the record too, and readers (a replay, `cases show` asking the workflow) say the history is erased."""
    code = new_case_code()
    wf_id = workflow_id(code)
    ns = visible_env.client.namespace
    with ThreadPoolExecutor(4) as executor:
        async with build_worker(visible_env.client, root.settings, root.record, executor=executor):
            await root.case_client.open(open_cmd(code), timeout=30)
            await root.case_client.act(code, c.RequestMobileIntervention(
                by="intervenant-1", actor_org=CSSS, csss_teams=[TEAM],
                sharing=HandoffSharing(attestations=list(Condition)[:7]),
                personal={"person_or_group_in_danger": "lui-meme", "act_to_prevent": "tentative",
                          "danger": EMERGENCY, "urgency": "ce soir", "communicated": "motif", "reasons": "refus"},
            ), timeout=30)
            # Before the shred: the case answers, and its history replays with the record's keys.
            answer = await ask(lambda: root.case_client.ask(code))
            assert answer.reachable and answer.running, answer
            client = await root.temporal.client()
            codec = client.data_converter.payload_codec
            assert isinstance(codec, EncryptionCodec)
            handle = client.get_workflow_handle(wf_id)
            history = await handle.fetch_history()
            await Replayer(workflows=[CrisisCaseWorkflow], data_converter=client.data_converter
                           ).replay_workflow(history)
            # A person is erased once their cases are closed (`check_erasable`): the supervisor closes it.
            await root.case_client.act(code, c.SupervisorClose(by="superviseur-1", actor_org=CSSS,
                                                               reason="la personne demande l'effacement"), timeout=30)
            await handle.result()

    payloads = [p for e in (await raw_history(visible_env.client, wf_id)).events for p in all_payloads(e)]
    assert len(payloads) > 6
    # Not vacuous: with the person's key (the record), the personal content is there.
    assert leaks(await readable_with(codec, ns, wf_id, payloads)) == list(PERSONAL)
    # The shared payload key alone (every worker's, every codec server's) opens nothing of the person.
    shared_only = EncryptionCodec(DEV_PAYLOAD_KEYS, allow_plaintext=True)
    assert leaks(await readable_with(shared_only, ns, wf_id, payloads)) == []

    shred(root.record, SUBJECT, by="responsable-acces", reason="demande de la personne", now=datetime.now(UTC))

    # After the shred, not even with the record: the person's key is gone.
    sealed = [p for p in payloads if p.metadata.get("encoding") == ENCODING]
    subject_scoped = [p for p in sealed if p.metadata.get(KEY_SCOPE) == SUBJECT_SCOPE]
    assert subject_scoped == sealed  # every encrypted payload of the case: none under the shared key
    assert await readable_with(codec, ns, wf_id, sealed) == []
    bound = codec.with_context(WorkflowSerializationContext(ns, wf_id))
    with pytest.raises(PayloadErased) as erased:
        await bound.decode(subject_scoped[:1])
    assert str(erased.value) == f"erased: the person's key was destroyed (workflow {wf_id})"
    assert leaks(await readable_with(shared_only, ns, wf_id, payloads)) == []

    # Readers degrade: the history no longer replays, and `cases show` says the workflow's history is erased.
    with pytest.raises(RuntimeError) as replay:
        await Replayer(workflows=[CrisisCaseWorkflow], data_converter=client.data_converter).replay_workflow(history)
    assert f"erased: the person's key was destroyed (workflow {wf_id})" in str(replay.value)
    with ThreadPoolExecutor(4) as executor:
        async with build_worker(visible_env.client, root.settings, root.record, executor=executor):
            answer = await ask(lambda: root.case_client.ask(code))
    assert not answer.reachable and answer.error is not None
    assert answer.error == f"erased: the person's key was destroyed (workflow {wf_id})", answer.error
