"""A signature reminder counts itself on a new proposal, as `model_copy` would, without pydantic's generic copy.

`domain.ententes.aggregate._reminder_counted` replaces `proposal.model_copy(update=...)` in the reminder event's
body (a long signature period is mostly reminders: issue 12's 10,000-event entente). It must make the same
object: equal, the same fields set, frozen, picklable and copyable (the record's aggregate cache pickles states),
and leave the proposal it replaces as it was (whoever holds it, a view or an earlier state, sees no change).
"""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from adapters.record.record import Record
from domain.ententes import commands as c
from domain.ententes.aggregate import Entente, _reminder_counted, entente_id
from domain.ententes.state import EntentePolicy, Proposal, ProposalPurpose, ProposalStage, Signature
from tests.factories import service_entente
from usecases.ententes import Ententes

AT = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def proposals() -> list[Proposal]:
    signature = Signature(party_id="cc-laval", version=1, fingerprint="f" * 64, signatory="A. B.", title=None, at=AT)
    return [
        Proposal(version=1, purpose=ProposalPurpose.INITIAL, stage=ProposalStage.IN_SIGNATURE),
        Proposal(
            version=2,
            purpose=ProposalPurpose.AMENDMENT,
            stage=ProposalStage.IN_SIGNATURE,
            submitted_at=AT,
            signature_deadline=AT + timedelta(days=30),
            signatures=[signature],
            reminders_sent=3,
            last_reminder_at=AT - timedelta(days=1),
        ),
    ]


def test_the_model_keeps_no_private_or_extra_state() -> None:
    """What the copy relies on: no private attributes, extra fields forbidden."""
    assert Proposal.__private_attributes__ == {}
    assert Proposal.model_config.get("extra") == "forbid"
    assert Proposal.model_config.get("frozen") is True


@pytest.mark.parametrize("proposal", proposals())
def test_a_reminder_counted_is_what_model_copy_makes(proposal: Proposal) -> None:
    before = proposal.model_dump()
    counted = _reminder_counted(proposal, AT)
    expected = proposal.model_copy(update={"reminders_sent": proposal.reminders_sent + 1, "last_reminder_at": AT})
    assert type(counted) is Proposal
    assert counted == expected
    assert counted.model_fields_set == expected.model_fields_set
    assert counted.__pydantic_extra__ is None and counted.__pydantic_private__ is None
    assert counted.model_dump(mode="json") == expected.model_dump(mode="json")
    assert counted.reminders_sent == proposal.reminders_sent + 1 and counted.last_reminder_at == AT
    assert proposal.model_dump() == before  # the replaced proposal is unchanged
    assert counted.signatures == proposal.signatures
    with pytest.raises(ValidationError):
        counted.reminders_sent = 0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(counted)) == counted
    assert copy.deepcopy(counted) == counted
    assert Proposal.model_validate(counted.model_dump()) == counted


def test_reminders_replayed_give_the_same_entente() -> None:
    """An entente in signature reminded daily, loaded again from its events: every reminder counted."""
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ententes = Ententes(record, EntentePolicy(reminder_interval_days=1))
    ententes.draft(c.DraftEntente(by="t", code="R", content=service_entente(effective=None), command_id="d"), AT)
    ententes.execute("R", c.SubmitForSignature(by="t", command_id="s", signature_deadline=AT + timedelta(days=20)), AT)
    held = ententes.get("R").proposal
    ententes.advance("R", AT + timedelta(days=10, hours=1))
    entente = ententes.get("R")
    assert entente.proposal is not None and held is not None
    assert entente.proposal.reminders_sent == 10 and held.reminders_sent == 0
    assert entente.proposal.last_reminder_at is not None and entente.proposal.last_reminder_at > AT
    replayed: Entente = record.events_only.get(entente_id("R"))  # from the events alone, no cache
    assert replayed.view() == entente.view() and replayed.proposal == entente.proposal
    record.close()
