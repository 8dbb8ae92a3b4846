"""Issue 4, nothing personal in Temporal in clear: a workflow's input, update, signal and
result pass through the shared data converter; read with the official client *without* the
codec (plain pydantic converter), the history holds ciphertext and key ids only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.temporal.codec import ENCODING, KEY_ID
from workers.bootstrap import data_converter


class Person(BaseModel):
    name: str
    phone: str


class Greeting(BaseModel):
    text: str


@workflow.defn(sandboxed=False)
class EchoWorkflow:
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, person: Person) -> Greeting:
        await workflow.wait_condition(lambda: self.done, timeout=timedelta(hours=1))
        return Greeting(text=f"Bonjour {person.name} ({person.phone}); notes: {', '.join(self.notes)}")

    @workflow.update
    async def add_note(self, note: str) -> str:
        self.notes.append(note)
        return f"noted: {note}"

    @workflow.signal
    def finish(self, why: str) -> None:
        self.notes.append(why)
        self.done = True

    @workflow.query
    def current(self) -> list[str]:
        return self.notes


def payloads_of(history_events: list[object]) -> list[Payload]:
    found: list[Payload] = []

    def walk(msg: object) -> None:
        if isinstance(msg, Payload):
            found.append(msg)
            return
        for _, value in msg.ListFields():  # type: ignore[attr-defined]
            if hasattr(value, "ListFields"):
                walk(value)
            elif isinstance(value, str | bytes | int | float | bool):
                continue
            else:  # repeated field or map
                items = value.values() if hasattr(value, "values") else value
                for item in items:
                    if hasattr(item, "ListFields"):
                        walk(item)

    for e in history_events:
        walk(e)
    return found


async def test_history_holds_ciphertext_only(time_env: WorkflowEnvironment, task_queue: str) -> None:
    client = time_env.client
    assert client.data_converter.payload_codec is not None  # the fixture uses the shared factory
    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        handle = await client.start_workflow(
            EchoWorkflow.run, Person(name="Marie Tremblay", phone="514-555-0101"), id=task_queue, task_queue=task_queue
        )
        assert await handle.execute_update(EchoWorkflow.add_note, "pleure au téléphone") == "noted: pleure au téléphone"
        assert await handle.query(EchoWorkflow.current) == ["pleure au téléphone"]
        await handle.signal(EchoWorkflow.finish, "rappel fait par Gagnon")
        result = await handle.result()
    # Through the shared converter, everything round-trips.
    assert result == Greeting(
        text="Bonjour Marie Tremblay (514-555-0101); notes: pleure au téléphone, rappel fait par Gagnon"
    )

    # Through the official client without the codec: ciphertext only.
    plain = Client(client.service_client, namespace=client.namespace, data_converter=pydantic_data_converter)
    history = await plain.get_workflow_handle(task_queue).fetch_history()
    raw = b"".join(e.SerializeToString() for e in history.events)
    for clear in (b"Marie", b"Tremblay", b"514-555", b"pleure", b"Gagnon", b"Bonjour"):
        assert clear not in raw
    payloads = payloads_of(list(history.events))
    assert len(payloads) >= 5  # input, update arg + result, signal arg, result
    assert {p.metadata["encoding"] for p in payloads} == {ENCODING}
    assert {p.metadata[KEY_ID] for p in payloads} == {b"dev-payload"}
    # And the plain client cannot read the result as a Greeting: it does not know the encoding.
    with pytest.raises(KeyError) as caught:
        await plain.get_workflow_handle(task_queue, result_type=Greeting).result()
    assert caught.value.args == (f"Unknown payload encoding {ENCODING.decode()}",)


async def test_a_rotated_key_still_reads_history(time_env: WorkflowEnvironment) -> None:
    """Payloads encrypted with an old key decode once a new key is put first (rotation)."""
    from workers.settings import Settings

    old = "k0:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    new = "k1:" + "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
    before = data_converter(Settings(payload_keys=old))
    after = data_converter(Settings(payload_keys=f"{new},{old}"))
    sealed = await before.encode([Person(name="Marie", phone="1")])
    assert sealed[0].metadata[KEY_ID] == b"k0"
    assert await after.decode(sealed, [Person]) == [Person(name="Marie", phone="1")]
    assert (await after.encode(["x"]))[0].metadata[KEY_ID] == b"k1"
