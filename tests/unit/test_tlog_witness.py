"""The tlog-witness protocol, pure (issue 13; ``domain.audit.witnessing``): the add-checkpoint body both ways,
the witness's decision with each status of https://c2sp.org/tlog-witness (200, 400, 403, 404, 409 with and without
``text/x.tlog.size``, 422), the log reading answers, and ARRIMAGE_WITNESSES.

The spec's example request body is used as data (its proof lines and checkpoint, source named); every tree here is
built from entries with ``domain.audit.merkle``, every key is Ed25519 through ``adapters.record.note_signing``.
"""

from __future__ import annotations

import pytest

from adapters.record.note_signing import ed25519_verify, note_signer, signer_key_from_seed
from domain.audit.merkle import MemoryNodes, consistency_proof, root_at
from domain.audit.note import COSIGNATURE_V1, Note, NoteError, SignerKey, TreeHead, parse_note, sign_checkpoint
from domain.audit.witnessing import (
    MAX_PROOF_LINES,
    SIZE_CONTENT_TYPE,
    AddCheckpoint,
    Answer,
    Cosigned,
    Outcome,
    WitnessRefusal,
    add_checkpoint,
    logs_by_origin,
    parse_add_checkpoint,
    parse_witnesses,
    read_answer,
    with_cosignatures,
)

ORIGIN = "arrimage/test-store"
LOG = signer_key_from_seed(ORIGIN, bytes(range(32)))
OTHER_LOG = signer_key_from_seed("arrimage/other", bytes(range(1, 33)))
WITNESS = signer_key_from_seed("witness.example/w1", bytes(range(2, 34)), COSIGNATURE_V1)
LOGS = logs_by_origin([LOG.verifier])

# https://c2sp.org/tlog-witness, "add-checkpoint", the example request body.
SPEC_EXAMPLE = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+"
    "zyWE+xeMcTOAYQ8=\n"
    "— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Ro"
    "vnzv++qbSzm9Q=\n"
)


def entries(n: int, tag: bytes = b"e") -> list[bytes]:
    return [tag + i.to_bytes(4, "big") for i in range(n)]


def signed(tree: MemoryNodes, size: int, key: SignerKey = LOG, origin: str = ORIGIN) -> Note:
    return sign_checkpoint(TreeHead(origin, size, root_at(tree, size)), note_signer(key))


def decide(request: AddCheckpoint, latest: Note | None, timestamp: int = 1_700_000_000) -> Cosigned:
    return add_checkpoint(request, logs=LOGS, latest=latest, witness=note_signer(WITNESS), timestamp=timestamp,
                          verify=ed25519_verify)


def refusal(request: AddCheckpoint, latest: Note | None) -> WitnessRefusal:
    with pytest.raises(WitnessRefusal) as caught:
        decide(request, latest)
    return caught.value


TREE = MemoryNodes.of_entries(entries(20))


# ------------------------------------------------------------------------------------------------- the body
def test_the_spec_example_body_parses_and_formats_back_byte_for_byte() -> None:
    request = parse_add_checkpoint(SPEC_EXAMPLE.encode())
    assert request.old_size == 20852014 and len(request.proof) == 4
    assert all(len(h) == 32 for h in request.proof)
    assert request.checkpoint.text.splitlines() == [
        "example.com/behind-the-sofa", "20852163", "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="]
    assert len(request.checkpoint.signatures) == 2
    assert request.body() == SPEC_EXAMPLE.encode()


def test_a_request_from_zero_has_no_proof_lines() -> None:
    note = signed(TREE, 5)
    body = AddCheckpoint(0, (), note).body()
    assert body.startswith(b"old 0\n\n" + ORIGIN.encode() + b"\n5\n")
    assert parse_add_checkpoint(body) == AddCheckpoint(0, (), note)


@pytest.mark.parametrize(("body", "words"), [
    (b"old 01\n\n", "old size '01'"),
    (b"new 1\n\n", "the first line is not 'old <size>'"),
    (b"old 1\n", "no empty line"),
    (b"old -1\n\n", "old size '-1'"),
    (b"old 1\nnot-base64\n\n", "proof line 1: not canonical base64"),
    (b"old 1\nAAAA\n\n", "proof line 1: not canonical base64 of a 32-byte hash"),
    (b"old 1\n" + b"A" * 43 + b"=\n" * 64 + b"\n", "64 proof lines, at most 63"),
    (b"old 1\n\n\xff", "not UTF-8"),
    (b"old 1\n\nno signatures\n", "request body: note:"),
])
def test_malformed_bodies_are_400_naming_the_rule(body: bytes, words: str) -> None:
    with pytest.raises(WitnessRefusal) as caught:
        parse_add_checkpoint(body)
    assert caught.value.status == 400
    assert words in caught.value.message


def test_at_most_63_proof_lines_are_sent() -> None:
    with pytest.raises(NoteError, match="at most 63 proof lines"):
        AddCheckpoint(1, (bytes(32),) * (MAX_PROOF_LINES + 1), signed(TREE, 5)).body()


# ------------------------------------------------------------------------------------------ the witness decides
def test_first_checkpoint_is_cosigned_and_the_answer_verifies_on_the_log_side() -> None:
    note = signed(TREE, 7)
    done = decide(AddCheckpoint(0, (), note), None)
    assert done.head.size == 7 and len(done.lines) == 1
    read = read_answer(Answer(200, "text/plain", done.body()), note, WITNESS.verifier, ed25519_verify)
    assert read.outcome is Outcome.COSIGNED and read.detail == "cosigned at 1700000000"
    merged = with_cosignatures(note, read.cosignatures)
    assert merged == done.note and str(merged).count("— ") == 2


def test_a_larger_tree_with_its_consistency_proof_is_cosigned() -> None:
    first = decide(AddCheckpoint(0, (), signed(TREE, 7)), None).note
    proof = tuple(consistency_proof(TREE, 7, 20))
    done = decide(AddCheckpoint(7, proof, signed(TREE, 20)), first)
    assert done.head.size == 20
    again = decide(AddCheckpoint(20, (), signed(TREE, 20)), done.note)  # the same head again: cosigned again
    assert again.head == done.head


def test_unknown_origin_is_404() -> None:
    other = MemoryNodes.of_entries(entries(3))
    found = refusal(AddCheckpoint(0, (), signed(other, 3, OTHER_LOG, "arrimage/other")), None)
    assert (found.status, found.message) == (404, "unknown log 'arrimage/other'")


def test_a_forged_log_signature_is_403() -> None:
    forger = signer_key_from_seed(ORIGIN, bytes(32))  # the origin's name, another key: an unknown key ID
    found = refusal(AddCheckpoint(0, (), signed(TREE, 3, forger)), None)
    assert (found.status, found.message) == (403, "log signature: note: no signature by a known key")
    good = signed(TREE, 3)
    sig = good.signatures[0]
    broken = Note(good.text, (sig.__class__(sig.name, sig.key_id, bytes(64)),))  # the log's key ID, a bad signature
    found = refusal(AddCheckpoint(0, (), broken), None)
    assert found.status == 403 and "invalid signature for key arrimage/test-store" in found.message


def test_old_size_larger_than_the_checkpoint_is_400() -> None:
    found = refusal(AddCheckpoint(9, (), signed(TREE, 3)), None)
    assert found.status == 400 and "old size 9 is larger than the checkpoint's size 3" in found.message


def test_a_stale_old_size_is_409_with_the_size_held() -> None:
    assert refusal(AddCheckpoint(3, (bytes(32),), signed(TREE, 5)), None).known_size == 0
    held = decide(AddCheckpoint(0, (), signed(TREE, 7)), None).note
    found = refusal(AddCheckpoint(0, (), signed(TREE, 9)), held)
    assert (found.status, found.known_size) == (409, 7)
    assert found.message == f"old size 0 is not the size 7 last cosigned for {ORIGIN}"


def test_a_bad_proof_is_422() -> None:
    held = decide(AddCheckpoint(0, (), signed(TREE, 7)), None).note
    proof = list(consistency_proof(TREE, 7, 20))
    proof[0] = bytes(32)
    found = refusal(AddCheckpoint(7, tuple(proof), signed(TREE, 20)), held)
    assert found.status == 422 and "consistency proof from size 7 to 20 does not verify" in found.message
    assert refusal(AddCheckpoint(7, tuple(proof[:-1]), signed(TREE, 20)), held).status == 422


def test_a_proof_from_zero_is_422() -> None:
    found = refusal(AddCheckpoint(0, (bytes(32),), signed(TREE, 5)), None)
    assert (found.status, found.message) == (422, "a consistency proof from size 0 is empty")


def test_a_fork_is_refused_and_the_witness_keeps_its_view() -> None:
    """Two trees of the same log (same key), sharing 7 entries: the witness that cosigned one refuses the
    other, 409 at the same size (a split view: no proof needed) and 422 on a larger size."""
    held = decide(AddCheckpoint(0, (), signed(TREE, 7)), None).note
    held = decide(AddCheckpoint(7, tuple(consistency_proof(TREE, 7, 12)), signed(TREE, 12)), held).note
    fork = MemoryNodes.of_entries(entries(7) + entries(13, b"f"))
    split = refusal(AddCheckpoint(12, (), signed(fork, 12)), held)
    assert split.status == 409 and split.known_size is None and split.message.startswith("split view: size 12")
    larger = refusal(AddCheckpoint(12, tuple(consistency_proof(fork, 12, 20)), signed(fork, 20)), held)
    assert larger.status == 422


def test_a_cosignature_has_a_time() -> None:
    with pytest.raises(NoteError, match="time is not zero"):
        decide(AddCheckpoint(0, (), signed(TREE, 1)), None, timestamp=0)


# ----------------------------------------------------------------------------------------- the log reads answers
@pytest.mark.parametrize(("content_type", "body", "outcome", "size"), [
    (SIZE_CONTENT_TYPE, b"50\n", Outcome.CONFLICT, 50),
    (SIZE_CONTENT_TYPE, b"0\n", Outcome.CONFLICT, 0),
    (SIZE_CONTENT_TYPE, b"50", Outcome.REFUSED, None),
    (SIZE_CONTENT_TYPE, b"050\n", Outcome.REFUSED, None),
    ("text/plain", b"split view\n", Outcome.REFUSED, None),
])
def test_a_409_is_a_conflict_only_with_a_well_formed_size(
    content_type: str, body: bytes, outcome: Outcome, size: int | None
) -> None:
    read = read_answer(Answer(409, content_type, body), signed(TREE, 3), WITNESS.verifier, ed25519_verify)
    assert (read.outcome, read.known_size) == (outcome, size)


def test_a_200_without_a_valid_cosignature_by_the_witness_is_refused() -> None:
    note = signed(TREE, 3)
    other = signer_key_from_seed("witness.example/w2", bytes(range(3, 35)), COSIGNATURE_V1)
    done = add_checkpoint(AddCheckpoint(0, (), note), logs=LOGS, latest=None, witness=note_signer(other),
                          timestamp=5, verify=ed25519_verify)
    read = read_answer(Answer(200, "text/plain", done.body()), note, WITNESS.verifier, ed25519_verify)
    assert read.outcome is Outcome.REFUSED and "without a valid cosignature" in read.detail
    assert read_answer(Answer(403, "text/plain", b"log signature: no\n"), note, WITNESS.verifier,
                       ed25519_verify).detail == "403: log signature: no"
    theirs = str(decide(AddCheckpoint(0, (), note), None).note).split("\n\n")[1]
    tampered = theirs.replace(theirs[-8:-2], "AAAAAA")
    read = read_answer(Answer(200, "text/plain", tampered.encode()), note, WITNESS.verifier, ed25519_verify)
    assert read.outcome is Outcome.REFUSED


# ----------------------------------------------------------------------------------------- ARRIMAGE_WITNESSES
def test_witnesses_are_parsed_and_every_bad_entry_named() -> None:
    w2 = signer_key_from_seed("w2.example", bytes(range(4, 36)), COSIGNATURE_V1)
    found = parse_witnesses(f"{WITNESS.verifier}=https://w1.example/witness , {w2.verifier}=http://127.0.0.1:8080")
    assert [w.add_checkpoint_url for w in found] == [
        "https://w1.example/witness/add-checkpoint", "http://127.0.0.1:8080/add-checkpoint"]
    assert parse_witnesses("  ") == ()
    with pytest.raises(NoteError) as bad:
        parse_witnesses(f"{LOG.verifier}=https://x.example {WITNESS.verifier}=ftp://x.example nothing "
                        f"{WITNESS.verifier}=https://a.example {WITNESS.verifier}=https://b.example")
    assert bad.value.message == (
        f"entry 1: {ORIGIN} is not a witness key (cosignature/v1, type 0x04); "
        "entry 2: 'ftp://x.example' is not an http(s) URL without query or fragment; "
        "entry 3: expected <verifier key>=<url>; entry 5: witness witness.example/w1 is listed twice")


def test_a_stored_note_round_trips() -> None:
    done = decide(AddCheckpoint(0, (), signed(TREE, 4)), None)
    assert parse_note(str(done.note)) == done.note


def test_arrimage_witnesses_is_validated_with_the_other_settings(clean: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from workers.settings import Settings

    clean.setenv("ARRIMAGE_WITNESSES", f"{WITNESS.verifier}=https://w1.example/w")
    assert [str(w) for w in Settings().witness_list()] == [f"{WITNESS.verifier}=https://w1.example/w"]
    clean.setenv("ARRIMAGE_WITNESSES", f"{LOG.verifier}=https://x.example")
    with pytest.raises(ValidationError) as bad:
        Settings()
    assert f"entry 1: {ORIGIN} is not a witness key (cosignature/v1, type 0x04); give <witness verifier key>=" in str(
        bad.value)
