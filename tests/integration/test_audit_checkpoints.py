"""Issue 9, "Checkpoints that mean something": the attacks on signed checkpoints, each reproduced on
SQLite and PostgreSQL with plain SQL (someone with write access to the database) and the project's
own linking function, then refused.

- a rechained store: an event rewritten and the chain recomputed verifies on its own; `checkpoint`
  (what `audit export` signs) must refuse a head that does not extend the last trusted checkpoint;
- a checkpoint of another store whose head the store was made to match: refused by its store id;
- a checkpoint signed by a key that is not pinned: refused once the auditor pins keys;
- a checkpoint made before store ids (no `store_id`): still accepted, with a note.

The store, its dossiers and the attacker's SQL are test_audit_tamper's (its fixtures, imported).
"""


from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from adapters.record.keys import DEV_CHECKPOINT_KEYS, parse_key_ring
from adapters.record.record import Record
from adapters.record.signing import public_key_b64
from domain.audit.checkpoint import Checkpoint, CheckpointError
from domain.audit.verify import ProblemKind
from tests.conftest import PostgresSchema
from tests.tamper_builders import NOW, Dossier, Raw, rewrite_history
from usecases.audit.trail import checkpoint, store_id, verify

STRANGER = parse_key_ring("mallory:" + base64.b64encode(bytes(range(32))).decode())
ENGINE_PUBLIC = public_key_b64(DEV_CHECKPOINT_KEYS.active)


def test_export_refuses_to_sign_a_rechained_store_against_the_last_checkpoint(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    """The attack of issue 9: an event rewritten, the chain recomputed with `link_batch`, the database's
    own copies removed. Verify alone still says ok (internal consistency: the documented limit), and
    signing the forged head is refused against the checkpoint kept elsewhere, naming it."""
    kept = checkpoint(record, now=NOW)
    rewrite_history(raw, record, 5, b'{"text":"nothing happened"}')
    raw.x("DELETE FROM {cps}")
    assert verify(record).ok is True
    with pytest.raises(CheckpointError) as refused:
        checkpoint(record, now=NOW, against=[kept])
    assert "will not sign this store's head" in refused.value.message
    assert "checkpoint_mismatch at notification 5" in refused.value.message  # the rewritten event itself
    assert refused.value.message.endswith("this event was rewritten (the chain still meets the checkpoint at the "
                                          "event before)")
    assert f"signed checkpoint {kept.key_id}@{kept.signed_at}" in refused.value.message
    assert raw.x("SELECT count(*) FROM {cps}")[0][0] == 0  # nothing signed, nothing kept


def test_a_store_that_extends_the_last_checkpoint_is_signed(record: Record, dossiers: list[Dossier]) -> None:
    kept = checkpoint(record, now=NOW)
    dossiers[0].note("later")
    record.save(dossiers[0])
    cp = checkpoint(record, now=NOW, against=[kept], pinned_keys=[ENGINE_PUBLIC])
    assert (cp.count, cp.store_id) == (10, kept.store_id)


def test_checkpoints_bind_the_store_id_kept_in_the_store(
    record: Record, dossiers: list[Dossier], store_env: dict[str, str]
) -> None:
    sid = store_id(record)
    assert sid and store_id(record) == sid  # created once with the record, the same on every read
    again = Record(store_env)
    try:
        assert store_id(again) == sid  # and on every opening
    finally:
        again.close()
    cp = checkpoint(record, now=NOW)
    assert cp.store_id == sid and cp.format == "arrimage-audit-checkpoint/3"
    assert Checkpoint.from_json(cp.to_json()) == cp
    # The store id is under the signature: changing it breaks it.
    moved = replace(cp, store_id="0" * 32)
    problem = verify(record, [moved], include_stored=False).problem
    assert problem is not None and problem.kind is ProblemKind.BAD_SIGNATURE


@pytest.fixture
def other_store(store_env: dict[str, str], tmp_path: Any) -> Iterator[dict[str, str]]:
    if store_env["PERSISTENCE_MODULE"] == "adapters.record.postgres":
        schema = PostgresSchema()
        try:
            yield schema.env()
        finally:
            schema.drop()
    else:
        yield {**store_env, "SQLITE_DBNAME": str(tmp_path / "other.sqlite")}


def test_a_checkpoint_of_another_store_is_refused(
    record: Record, raw: Raw, dossiers: list[Dossier], other_store: dict[str, str]
) -> None:
    """Another store (its own id) made to hold the very same events and chain rows, and its head signed
    there with the same engine key: the signature and the chain hash both check against this store, but
    the checkpoint is of the other store: refused, naming both ids."""
    other = Record(other_store)
    try:
        theirs = Raw(other_store)
        try:
            events = "{nid}, originator_id, originator_version, topic, state"
            for row in raw.x(f"SELECT {events} FROM {{events}} ORDER BY {{nid}}"):
                theirs.x(f"INSERT INTO {{events}} ({events}) VALUES (?, ?, ?, ?, ?)", *row)
            for row in raw.x("SELECT * FROM {chain} ORDER BY notification_id"):
                theirs.x("INSERT INTO {chain} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", *row)
        finally:
            theirs.close()
        assert verify(other).ok is True
        foreign = checkpoint(other, now=NOW)
        assert store_id(other) != store_id(record)
    finally:
        other.close()
    report = verify(record, [foreign], include_stored=False)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.detail) == (
        ProblemKind.OTHER_STORE,
        f"checkpoint signed_at {foreign.signed_at} by 'dev-checkpoint' is of store {foreign.store_id}; "
        f"this store is {store_id(record)}",
    )
    with pytest.raises(CheckpointError, match="other_store"):
        checkpoint(record, now=NOW, against=[foreign])


def test_a_checkpoint_signed_by_an_unpinned_key_is_refused_when_keys_are_pinned(
    record: Record, dossiers: list[Dossier]
) -> None:
    """The engine's configuration (environment, `.env`) is the operator's: an auditor pins the public keys
    they trust. A checkpoint signed by a key the configuration trusts but the auditor did not pin is refused."""
    cp = checkpoint(record, checkpoint_keys=STRANGER, now=NOW)
    # Before: the configuration decides what is trusted (here the operator's ring holds mallory's key).
    assert verify(record, [cp], checkpoint_keys=STRANGER, include_stored=False).ok is True
    report = verify(record, [cp], checkpoint_keys=STRANGER, include_stored=False, pinned_keys=[ENGINE_PUBLIC])
    assert report.problem is not None and report.problem.kind is ProblemKind.BAD_SIGNATURE
    assert report.problem.detail.endswith(f"key {cp.public_key} is not a pinned trusted key")
    # Pinned, the key is trusted whatever the configuration says, and the output says what was checked.
    pinned = verify(record, [cp], include_stored=False, pinned_keys=[cp.public_key])
    assert pinned.ok is True
    assert pinned.trust[0] == "checkpoint signatures checked against 1 pinned public key"
    unpinned = verify(record, [cp], checkpoint_keys=STRANGER, include_stored=False)
    assert unpinned.trust[0] == (
        "checkpoint signatures checked against the engine's own key only (its configuration): "
        "pin the public key with --trusted-key"
    )
    # Refused at signing time too: no head is signed against a checkpoint of an unpinned key.
    with pytest.raises(CheckpointError, match="not a pinned trusted key"):
        checkpoint(record, now=NOW, against=[cp], pinned_keys=[ENGINE_PUBLIC])


def test_a_checkpoint_without_store_id_is_accepted_with_a_note(record: Record, dossiers: list[Dossier]) -> None:
    """Checkpoints made before store ids (format /1, like tests/fixtures/legacy_2026_11) keep verifying."""
    seed = Ed25519PrivateKey.from_private_bytes(DEV_CHECKPOINT_KEYS.active)
    head = verify(record).head
    assert head is not None
    old = Checkpoint(notification_id=head.notification_id, count=head.seq, chain_hash=head.chain_hash,
                     signed_at=NOW.isoformat(), key_id="dev-checkpoint", public_key=ENGINE_PUBLIC, signature="",
                     format="arrimage-audit-checkpoint/1")
    old = replace(old, signature=base64.b64encode(seed.sign(old.signed_bytes())).decode())
    assert "store_id" not in old.to_json()
    report = verify(record, [Checkpoint.from_json(old.to_json())], include_stored=False)
    assert report.ok is True
    assert (f"checkpoint dev-checkpoint@{old.signed_at} names no store (made before store ids): "
            "only its chain head was compared") in report.trust
    raw_pub = seed.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.b64encode(raw_pub).decode() == ENGINE_PUBLIC
