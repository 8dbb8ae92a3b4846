"""The payload codec binds each payload to its workflow and seals a case's payloads with its person's key
(issue 9: AES-GCM limits; shredding reaches Temporal). The record is the in-memory store; the keys are real."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

from adapters.record.environment import record_env
from adapters.record.keys import DEV_PAYLOAD_KEYS, parse_key_ring
from adapters.record.record import Record
from adapters.record.sql import CaseBoundElsewhere
from adapters.temporal.case_keys import RecordCaseKeys, case_subjects
from adapters.temporal.codec import (
    ENCODING,
    KEY_ID,
    KEY_SCOPE,
    LEGACY_ENCODING,
    PAYLOAD_SCOPE,
    SUBJECT_SCOPE,
    WORKFLOW_ID,
    EncryptionCodec,
    PayloadDecryptionError,
    PayloadErased,
    PlaintextPayloadRefused,
)
from domain.audit.erasure import SubjectErased

HISTORIES = Path(__file__).parents[1] / "histories"
PERSON = "p-7f3a9c2e"
CLEAR = Payload(metadata={"encoding": b"json/plain"}, data=b'{"reason": "Idees suicidaires"}')


def in_context(codec: EncryptionCodec, workflow_id: str) -> EncryptionCodec:
    return codec.with_context(WorkflowSerializationContext(namespace="default", workflow_id=workflow_id))


@pytest.fixture
def record() -> Iterator[Record]:
    rec = Record(record_env())  # in memory, with in-memory subject keys
    yield rec
    rec.close()


@pytest.fixture
def codec(record: Record) -> EncryptionCodec:
    return EncryptionCodec(DEV_PAYLOAD_KEYS, cases=lambda: RecordCaseKeys.of(record))


async def test_a_payload_copied_into_another_workflows_history_does_not_open(codec: EncryptionCodec) -> None:
    sealed = await in_context(codec, "entente-ENT-A").encode([CLEAR])
    assert sealed[0].metadata[KEY_SCOPE] == PAYLOAD_SCOPE
    assert await in_context(codec, "entente-ENT-A").decode(sealed) == [CLEAR]
    with pytest.raises(PayloadDecryptionError) as caught:
        await in_context(codec, "entente-ENT-B").decode(sealed)
    assert str(caught.value) == ("payload under key id 'dev-payload' does not open in workflow 'entente-ENT-B' "
                                 "(altered, or copied from another workflow's history)")
    with pytest.raises(PayloadDecryptionError):  # nor outside any workflow
        await codec.decode(sealed)


async def test_a_case_bound_to_its_person_is_sealed_with_that_persons_key(
    record: Record, codec: EncryptionCodec
) -> None:
    case_subjects(record).bind("C-ABC123", PERSON)
    bound = in_context(codec, "case-C-ABC123")
    sealed = await bound.encode([CLEAR])
    person_kid = record.subject_keys.current_key_id(PERSON)
    assert dict(sealed[0].metadata) == {
        "encoding": ENCODING, KEY_ID: str(person_kid).encode(), KEY_SCOPE: SUBJECT_SCOPE,
        WORKFLOW_ID: b"case-C-ABC123"}  # named for the codec server, and bound by the associated data
    assert await bound.decode(sealed) == [CLEAR]
    # The shared payload key opens nothing of it, even in the right workflow.
    with pytest.raises(PayloadDecryptionError, match="knows no person for it"):
        await in_context(EncryptionCodec(DEV_PAYLOAD_KEYS), "case-C-ABC123").decode(sealed)
    # Another of the same person's cases does not open it either (bound to its workflow).
    case_subjects(record).bind("C-XYZ789", PERSON)
    with pytest.raises(PayloadDecryptionError, match="copied from another workflow"):
        await in_context(codec, "case-C-XYZ789").decode(sealed)
    # The shred: unreadable, and nothing new is sealed for that person.
    record.subject_keys.destroy(PERSON, "2027-03-01T00:00:00+00:00")
    with pytest.raises(PayloadErased) as erased:
        await bound.decode(sealed)
    assert str(erased.value) == "erased: the person's key was destroyed (workflow case-C-ABC123)"
    with pytest.raises(PayloadErased):
        await bound.encode([CLEAR])
    with pytest.raises(SubjectErased):
        record.subject_keys.key_for_writing(PERSON)


async def test_a_case_is_about_one_person_for_ever(record: Record) -> None:
    subjects = case_subjects(record)
    subjects.bind("C-ABC123", PERSON)
    subjects.bind("C-ABC123", PERSON)  # a resent opening: nothing
    with pytest.raises(CaseBoundElsewhere) as caught:
        subjects.bind("C-ABC123", "p-other-person")
    assert (caught.value.code, str(caught.value)) == ("case_of_another_person",
                                                      "case C-ABC123 is about another person")
    assert subjects.subject_of("C-ABC123") == PERSON


async def test_ententes_and_unbound_cases_stay_under_the_shared_ring(codec: EncryptionCodec) -> None:
    for wf_id in ("entente-ENT-A", "case-C-NOTBOUND"):
        sealed = await in_context(codec, wf_id).encode([CLEAR])
        assert sealed[0].metadata[KEY_SCOPE] == PAYLOAD_SCOPE, wf_id
        assert await in_context(EncryptionCodec(DEV_PAYLOAD_KEYS), wf_id).decode(sealed) == [CLEAR]


async def test_each_workflow_has_keys_of_its_own_and_rotation_keeps_old_ones() -> None:
    old = "p2026-09-01:" + base64.b64encode(b"o" * 32).decode()
    new = "p2026-12-01:" + base64.b64encode(b"n" * 32).decode()
    before = in_context(EncryptionCodec(parse_key_ring(old)), "entente-ENT-A")
    after = in_context(EncryptionCodec(parse_key_ring(f"{new},{old}")), "entente-ENT-A")
    sealed = await before.encode([CLEAR])
    assert sealed[0].metadata[KEY_ID] == b"p2026-09-01"
    assert await after.decode(sealed) == [CLEAR]
    assert (await after.encode([CLEAR]))[0].metadata[KEY_ID] == b"p2026-12-01"


async def test_a_history_recorded_with_the_v1_encoding_still_decodes() -> None:
    started = json.loads((HISTORIES / "crisis_full_path.json").read_text())["events"][0]
    raw = started["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    v1 = Payload(metadata={k: base64.b64decode(v) for k, v in raw["metadata"].items()},
                 data=base64.b64decode(raw["data"]))
    assert v1.metadata["encoding"] == LEGACY_ENCODING
    clear = (await in_context(EncryptionCodec(DEV_PAYLOAD_KEYS), "case-anything").decode([v1]))[0]
    assert clear.metadata["encoding"] == b"json/plain" and b"case_code" in clear.data


async def test_plaintext_is_refused_outside_development_in_a_workflow_too() -> None:
    with pytest.raises(PlaintextPayloadRefused) as caught:
        await in_context(EncryptionCodec(DEV_PAYLOAD_KEYS), "case-C-ABC123").decode([CLEAR])
    assert str(caught.value) == "payload not encrypted (encoding 'json/plain') refused outside development mode"
    development = in_context(EncryptionCodec(DEV_PAYLOAD_KEYS, allow_plaintext=True), "case-C-ABC123")
    assert await development.decode([CLEAR]) == [CLEAR]
