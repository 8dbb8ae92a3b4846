"""How `audit prove` and the proofs' callers name an event (`usecases.audit.proofs.EventRef`): a notification
id or `<aggregate uuid>@<version>`; anything else refused with what is wrong."""

from __future__ import annotations

from uuid import UUID

import pytest

from usecases.audit.proofs import EventRef, origin

AID = UUID("41cc36b6-eab2-590e-a581-428e7a96cc1a")


def test_an_event_by_notification_id_or_aggregate_and_version() -> None:
    assert EventRef.parse("12") == EventRef(notification_id=12)
    assert EventRef.parse(f" {AID}@3 ") == EventRef(aggregate_id=AID, version=3)
    assert str(EventRef.parse("12")) == "notification 12"
    assert str(EventRef.parse(f"{AID.hex}@3")) == f"{AID}@3"


@pytest.mark.parametrize(("text", "why"), [
    ("0", "a notification id is 1 or more"),
    ("-1", "expected a notification id, or <aggregate uuid>@<version>"),
    ("abc", "expected a notification id, or <aggregate uuid>@<version>"),
    ("xyz@3", "'xyz' is not an aggregate uuid"),
    (f"{AID}@0", "version '0' is not a number of 1 or more"),
    (f"{AID}@v2", "version 'v2' is not a number of 1 or more"),
    (f"{AID}@", "version '' is not a number of 1 or more"),
])
def test_anything_else_is_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(")", r"\)")):
        EventRef.parse(text)


def test_the_log_origin_names_the_store() -> None:
    assert origin("f4b0c5ec") == "arrimage/f4b0c5ec"
