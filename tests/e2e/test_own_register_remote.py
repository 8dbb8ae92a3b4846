"""`arrimage audit my-register` and `audit fhir-events` on a person's machine, through the gateway (issue 11): the
token's account is the person (or the auditor); identity options are refused and record nothing. Same set-up as
`test_cli_through_gateway` (its fixture): a real gateway, a real Temporal dev server, a SQLite record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.bundle import Bundle

from adapters.fhir.auditevent import PATIENT_READ
from domain.audit.record_reads import ReadKind
from domain.disclosure.roles import Role
from tests.crisis_builders import CSSS
from tests.e2e.test_cli_through_gateway import SUBJECT, TOKEN_SAYS, Remote, intake, refused, remote
from tests.gateway.api import events

pytestmark = pytest.mark.slow
__all__ = ["remote"]  # the fixture, used by name


async def test_the_person_and_the_auditor_read_through_the_gateway_as_their_token_says(remote: Remote) -> None:
    api = remote.api
    api.keys["moi"] = api.root.principals.add_user(SUBJECT, CSSS, Role.USAGER, by="t", at=datetime.now(UTC)).key
    opened = await remote.cli("superviseure").run(
        "cases", "open", "--file", remote.write("intake.json", intake()), "--json")
    assert opened.code == 0, opened
    person = remote.cli("moi")
    before = events(api.root.record)
    refused(await person.run("audit", "my-register", "--role", "usager", "--born", "1990-01-01"),
            f"refused [identity_from_token]: --role: {TOKEN_SAYS}")
    assert events(api.root.record) == before
    mine = await person.run("audit", "my-register", "--born", "1990-01-01", "--json")
    assert mine.code == 0, mine
    last = mine.json()[-1]
    assert (last["kind"], last["who"], last["role"], last["organisation"], last["outcome"]) == (
        "acces", SUBJECT, "usager", CSSS, "autorise")
    assert api.root.disclosures.accesses(subject_id=SUBJECT)[-1].decision_id == last["reference"]

    trail = await remote.cli("auditrice").run("audit", "fhir-events", "--person", SUBJECT, "--since", "2020-01-01")
    assert trail.code == 0, trail
    bundle = Bundle.model_validate_json(trail.out).model_dump(mode="json")
    assert bundle["type"] == "searchset"
    own = [e["resource"] for e in bundle["entry"] if e["resource"]["agent"][0]["who"]["identifier"]["value"]
           == SUBJECT]
    assert [(e["meta"]["profile"], e["outcome"]) for e in own] == [([PATIENT_READ], "0")]
    (export,) = [r for r in api.root.reads.record_reads(actor_id="auditrice") if r.kind is ReadKind.EXPORT]
    assert export.scope == {"format": "fhir-auditevent", "person": SUBJECT, "since": "2020-01-01T05:00:00+00:00"}
    count = events(api.root.record)
    no = await person.run("audit", "fhir-events")
    assert (no.code, no.out) == (2, "")
    assert no.err.startswith("refused [not_a_metadata_reader]: ")
    assert events(api.root.record) == count + 1  # the refusal, registered
    assert not remote.nowhere.exists()
