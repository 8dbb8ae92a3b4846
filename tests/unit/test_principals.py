"""Principals and their API keys (issue 10): the key is shown once and recorded only as a scrypt hash, a
rotated-out key is accepted until the end of its overlap and refused after it, a revocation refuses the
next request at once (read from the record, no cache), and a user acts only in the organisation and role
it was added with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.record.api_keys import KEY_RE, KeyHasher
from adapters.record.record import Record
from domain.disclosure.roles import Role
from domain.errors import DomainError, NotFound
from domain.principals.model import PrincipalKind, Unauthenticated
from usecases.principals import Principals

T0 = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)
PARTNER = PrincipalKind.PARTNER


@pytest.fixture
def record(store_env: dict[str, str]) -> Iterator[Record]:
    """Over the store under test (SQLite, then PostgreSQL), closed after the test."""
    rec = Record(store_env)
    yield rec
    rec.close()


@pytest.fixture
def principals(record: Record) -> Principals:
    return Principals(record)


def stored_rows(record: Record) -> list[str]:
    """Every event of the record as stored (JSON state), to look for a key in them."""
    return [n.state.decode() for n in record.recorder.select_notifications(start=1, limit=10_000)]


def test_a_key_is_shown_once_and_recorded_only_as_its_hash(principals: Principals, record: Record) -> None:
    issued = principals.add_partner("info-social-811", "Info-Social 8-1-1", by="admin", at=T0)
    assert KEY_RE.match(issued.key) and issued.key.startswith(f"ark_{issued.kid}_")
    rows = stored_rows(record)
    secret = issued.key.split("_", 2)[2]
    assert not any(secret in row or issued.key in row for row in rows)
    hashes = [json.loads(row)["key_hash"] for row in rows if "key_hash" in row]
    assert len(hashes) == 1 and hashes[0].startswith("scrypt$16384$8$1$")
    who = principals.authenticate(issued.key, T0)
    assert (who.kind, who.principal_id, who.org_id, who.role) == (PARTNER, "info-social-811", "info-social-811",
                                                                   Role.PARTNER_ORG)


@pytest.mark.parametrize("token", [
    "", "Bearer x", "ark_123", "ark_0123456789ab_" + "A" * 43, "sk_live_" + "a" * 43,
])
def test_malformed_or_unknown_keys_are_unauthenticated(principals: Principals, token: str) -> None:
    principals.add_partner("info-social-811", "Info-Social 8-1-1", by="admin", at=T0)
    with pytest.raises(Unauthenticated) as refused:
        principals.authenticate(token, T0)
    assert refused.value.code == "unauthenticated"


def test_a_wrong_secret_for_a_real_key_id_is_refused(principals: Principals) -> None:
    issued = principals.add_partner("info-social-811", "Info-Social 8-1-1", by="admin", at=T0)
    forged = issued.key[:-4] + ("AAAA" if not issued.key.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated) as refused:
        principals.authenticate(forged, T0)
    assert refused.value.reason == f"key {issued.kid}: wrong secret"


def test_rotation_keeps_the_old_key_for_the_overlap_only(principals: Principals) -> None:
    old = principals.add_partner("cc-laval", "Centre de crise de Laval", by="admin", at=T0)
    new = principals.rotate_key(PARTNER, "cc-laval", timedelta(hours=24), at=T0 + timedelta(hours=1))
    assert new.kid != old.kid
    assert principals.authenticate(old.key, T0 + timedelta(hours=24)).kid == old.kid  # within the overlap
    with pytest.raises(Unauthenticated) as refused:
        principals.authenticate(old.key, T0 + timedelta(hours=25))  # overlap over
    assert refused.value.reason == f"key {old.kid}: revoked or rotated out"
    assert principals.authenticate(new.key, T0 + timedelta(days=400)).kid == new.kid
    keys = {k.kid: k for k in principals.get(PARTNER, "cc-laval").keys}
    assert keys[old.kid].valid_until == T0 + timedelta(hours=25) and keys[new.kid].valid_until is None


def test_an_overlap_is_bounded(principals: Principals) -> None:
    principals.add_partner("cc-laval", "Centre de crise de Laval", by="admin", at=T0)
    with pytest.raises(DomainError) as refused:
        principals.rotate_key(PARTNER, "cc-laval", timedelta(days=91), at=T0)
    assert refused.value.code == "invalid_overlap"


def test_revocation_refuses_the_next_request_from_another_process(principals: Principals,
                                                                   store_env: dict[str, str]) -> None:
    """The gateway's use case (this `principals`) has checked the key once (its scrypt check remembered); the
    revocation is recorded by another Record, as `arrimage partners revoke` does from its own process."""
    issued = principals.add_partner("cc-laval", "Centre de crise de Laval", by="admin", at=T0)
    principals.authenticate(issued.key, T0)
    other = Record(store_env)
    Principals(other).revoke(PARTNER, "cc-laval", "fin de l'entente", by="admin", at=T0 + timedelta(minutes=1))
    other.close()
    with pytest.raises(Unauthenticated) as refused:
        principals.authenticate(issued.key, T0 + timedelta(minutes=1))
    assert refused.value.reason == f"key {issued.kid}: revoked or rotated out"
    with pytest.raises(DomainError) as again:
        principals.rotate_key(PARTNER, "cc-laval", timedelta(0), at=T0 + timedelta(minutes=2))
    assert again.value.code == "principal_revoked"


def test_a_user_is_bound_to_its_organisation_and_role(principals: Principals) -> None:
    issued = principals.add_user("marie.tremblay", "cisss-laval", Role.SUPERVISOR, by="admin", at=T0)
    who = principals.authenticate(issued.key, T0)
    assert (who.kind, who.actor, who.org_id, who.role) == (PrincipalKind.USER, "marie.tremblay", "cisss-laval",
                                                          Role.SUPERVISOR)
    assert [p.principal_id for p in principals.list(PrincipalKind.USER)] == ["marie.tremblay"]
    assert principals.list(PARTNER) == []


def test_duplicates_and_unknowns_are_refused(principals: Principals) -> None:
    principals.add_partner("cc-laval", "Centre de crise de Laval", by="admin", at=T0)
    with pytest.raises(DomainError) as duplicate:
        principals.add_partner("cc-laval", "Autre", by="admin", at=T0)
    assert duplicate.value.code == "duplicate_principal"
    with pytest.raises(NotFound):
        principals.revoke(PARTNER, "nobody", "x", by="admin", at=T0)


def test_a_successful_check_runs_the_kdf_once_per_process() -> None:
    """What makes a check on every request affordable: scrypt runs once per key and process; a wrong secret
    runs it every time (nothing remembered for it)."""
    hasher = KeyHasher()
    token = "ark_0123456789ab_" + "x" * 43
    stored = hasher.hash(token)
    assert stored != token and token not in stored
    assert all(hasher.verify(token, stored) for _ in range(5))
    assert hasher.kdf_runs == 1
    assert not hasher.verify(token[:-1] + "y", stored) and not hasher.verify(token[:-1] + "y", stored)
    assert hasher.kdf_runs == 3
