"""Nothing personal in Temporal in clear (issue 4): a crisis case's history, read through the official
client without the payload codec, holds ciphertext and opaque codes only."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from adapters.temporal.codec import ENCODING
from domain.crisis import commands as c
from domain.crisis.model import HandoffSharing, new_case_code
from domain.disclosure.legal_bases import Condition
from tests.crisis_builders import (
    CSSS,
    PERSON_REF,
    REASON,
    SUBJECT,
    TEAM,
    act,
    crisis_worker,
    decline,
    open_cmd,
    start_case,
)
from workflows.crisis import (
    DELIVERS,
    DELIVERS_REFERRALS,
    ENDS_WHEN_OPEN_REFUSED,
    NOTIFIES_SUBSCRIBERS,
    ONE_STEP,
    SENDS_INTAKE,
)

NOTE = {
    "person_or_group_in_danger": "Jean-Tremblay-1957 lui-meme", "act_to_prevent": "tentative de suicide",
    "danger": "corde achetee ce matin", "urgency": "ce soir", "communicated": "motif et risques",
    "reasons": "refuse tout contact",
}
# The patch markers: ids, nothing personal.
PATCH_IDS = {ENDS_WHEN_OPEN_REFUSED, SENDS_INTAKE, DELIVERS, DELIVERS_REFERRALS, NOTIFIES_SUBSCRIBERS, ONE_STEP}
# which partners have a webhook endpoint, and which FHIR subscriptions listen to a Task's owner (issue 10)
LOCAL_ACTIVITIES = {"delivery.endpoints", "fhir.subscribers"}
LOCAL_MARKER_FIELDS = {"seq", "attempt", "activity_id", "activity_type", "complete_time", "backoff",
                       "original_schedule_time", "activation_index"}
PERSONAL = [REASON, PERSON_REF, SUBJECT, "Jean-Tremblay-1957", "corde achetee ce matin", "refuse tout contact"]


def all_payloads(message: Message) -> Iterator[Payload]:
    """Every payload anywhere in a history event: inputs, update arguments, results, failures, memo."""
    if isinstance(message, Payload):
        yield message
        return
    for _field, value in message.ListFields():
        if isinstance(value, Message):
            yield from all_payloads(value)
        elif hasattr(value, "values") and callable(value.values):  # a map field
            for item in value.values():
                if isinstance(item, Message):
                    yield from all_payloads(item)
        elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
            for item in value:
                if isinstance(item, Message):
                    yield from all_payloads(item)


async def test_a_crisis_case_history_read_without_the_codec_shows_no_personal_detail(
    time_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    """Inputs, update arguments and results (the intake's reason, the person's reference, the emergency
    note, the subject id) go through the encrypting codec; the workflow id is the opaque case code."""
    record = Record(store_env)
    code = new_case_code()
    async with crisis_worker(time_env.client, task_queue, record, tmp_path):
        handle, _ = await start_case(time_env.client, open_cmd(code), task_queue)
        await act(handle, c.RequestMobileIntervention(
            by="intervenant-1", actor_org=CSSS, csss_teams=[TEAM],
            sharing=HandoffSharing(attestations=list(Condition)[:7]), personal=NOTE,
        ))
        await act(handle, decline())
        with_codec = await handle.fetch_history()
        plain = await Client.connect(
            time_env.client.service_client.config.target_host, data_converter=pydantic_data_converter
        )
        history = await plain.get_workflow_handle(handle.id).fetch_history()
    payloads = [p for event in history.events for p in all_payloads(event)]
    assert len(payloads) > 10
    assert code in handle.id and not any(p in handle.id for p in PERSONAL)
    for payload in payloads:
        # The payloads Temporal itself writes in clear: a patch marker's id (and its mirror in the
        # `TemporalChangeVersion` search attribute), a fixed string of the code; a local activity's marker
        # (sequence, type, times: its input and result go through the codec). Never personal.
        if payload.metadata.get("encoding") == b"json/plain":
            data = json.loads(payload.data)
            if isinstance(data, dict) and "activity_type" in data:
                assert data["activity_type"] in LOCAL_ACTIVITIES, payload.data
                assert set(data) <= LOCAL_MARKER_FIELDS, payload.data
                continue
            ids = [data["id"]] if isinstance(data, dict) else data
            assert set(ids) <= PATCH_IDS, payload.data
            continue
        assert payload.metadata.get("encoding") == ENCODING, payload.metadata
        for secret in PERSONAL:
            assert secret.encode() not in payload.data, secret
    # Not vacuous: the same history holds them once decrypted by the shared converter, in the workflow's context
    # (each payload is bound to its workflow: `adapters.temporal.codec`).
    converter = time_env.client.data_converter.with_context(
        WorkflowSerializationContext(namespace=time_env.client.namespace, workflow_id=handle.id))
    clear = await converter.decode(
        [e.workflow_execution_started_event_attributes.input.payloads[0]
         for e in with_codec.events if e.HasField("workflow_execution_started_event_attributes")]
    )
    assert clear  # the start input decodes with the codec
    updates = [e.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads[0]
               for e in with_codec.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    texts = [str(v) for v in await converter.decode(updates)]
    assert any(REASON in t for t in texts) and any("corde achetee ce matin" in t for t in texts)
    record.close()
