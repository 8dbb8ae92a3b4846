"""Issue 9, « Personal content only inside the seal »: each attack reproduced, then shown to fail
(SQLite and PostgreSQL).

- An input shaped like a sealed value (``{"sealed": "arrimage.sealed/1", "kid": …, "ct": …}``) used to be
  stored as is: its case then failed on every read, and every listing of the store with it. Now the
  command model refuses the reserved keys, the sealing mapper seals every mapping whatever its shape,
  and a listing skips (and names) an aggregate that does not load instead of failing whole.
- A destroyed wrapped key used to survive as a dead row (PostgreSQL's heap) or in SQLite's write-ahead
  log when a reader was open during the shred. Now the shred vacuums / checkpoints, checks that it
  could, and says what is left (`ShredResult.residue`); run again once the reader is gone, it finishes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Mapper
from pydantic import ValidationError

from adapters.record.record import Record
from adapters.record.sealing import SEALED, PersonalDataMapper
from domain.crisis import commands as c
from tests.crisis_builders import T0, open_cmd
from usecases.crisis import CrisisCases

UNREADABLE = r"personal content of \S+ v1 (does not open with its subject's key|is not a sealed value this engine made)"
FORGED = {"sealed": SEALED, "kid": "0123456789ab", "ct": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}


class Suivi(Aggregate):
    @event("Opened")
    def __init__(self, subject_id: str, personal: dict[str, Any]) -> None:
        self.subject_id = subject_id
        self.personal = personal

    @event("Noted")
    def note(self, subject_id: str, personal: dict[str, Any]) -> None:
        self.personal = personal


@pytest.fixture
def record(store_env: dict[str, str]) -> Iterator[Record]:
    rec = Record(store_env)
    yield rec
    rec.close()


@contextmanager
def stored_as_before_the_fix() -> Iterator[None]:
    """The mapper of the versions that stored a sealed-looking mapping as is (a row of an older record)."""
    original = PersonalDataMapper.to_stored_event
    PersonalDataMapper.to_stored_event = Mapper.to_stored_event  # type: ignore[method-assign]
    try:
        yield
    finally:
        PersonalDataMapper.to_stored_event = original  # type: ignore[method-assign]


# ---------------------------------------------------------------------- sealed-looking input
def test_the_command_model_refuses_the_reserved_keys_in_one_clear_message() -> None:
    for personal in (FORGED, {"sealed": "x"}, {"shredded": "true"}):
        with pytest.raises(ValidationError) as caught:
            open_cmd("C-AAAAAAAAAA", personal=personal)
        messages = [e["msg"] for e in caught.value.errors()]
        assert len(messages) == 1, messages
        assert "reserved" in messages[0] and "personal" in messages[0], messages
    # Other keys, and the reserved words as values, are ordinary content.
    assert open_cmd("C-AAAAAAAAAA", personal={"reason": "sealed", "kid": "x", "ct": "y"}).personal["kid"] == "x"
    # Every command's `personal` is the same type: the outcome of an intervention refuses them too.
    fields = open_cmd("C-AAAAAAAAAA").model_dump()
    with pytest.raises(ValidationError) as caught:
        c.OpenCase.model_validate({**fields, "personal": {"reason": "x", "sealed": SEALED}})
    assert [e["loc"][0] for e in caught.value.errors()] == ["personal"]


def test_a_mapping_shaped_like_a_sealed_value_is_sealed_like_any_other(
    record: Record, store_env: dict[str, str]
) -> None:
    s = Suivi(subject_id="S-100", personal={"name": "Anne"})
    s.note(subject_id="S-100", personal=dict(FORGED))
    record.save(s)
    # Before: stored as is, and then "does not open with its subject's key" on every read.
    assert [e.personal for e in record.events.get(s.id)] == [{"name": "Anne"}, FORGED]  # type: ignore[attr-defined]
    assert record.repository.get(s.id).personal == FORGED
    # A subject with no key yet gets one for it too: nothing shaped like a seal is kept in clear.
    t = Suivi(subject_id="S-101", personal=dict(FORGED))
    record.save(t)
    assert record.repository.get(t.id).personal == FORGED
    assert record.subject_keys.current_key_id("S-101") is not None


def _unreadable_case(cases: CrisisCases) -> tuple[str, str]:
    """Two cases; the second with an event stored by an older version, whose `personal` does not open."""
    good, bad = "C-GOODGOODGO", "C-BADBADBADB"
    cases.open(open_cmd(good), T0, ententes=[])  # the person's key is made here
    forged = open_cmd(bad).model_copy(update={"personal": dict(FORGED)})  # past the model, as before the fix
    with stored_as_before_the_fix():
        cases.open(forged, T0, ententes=[])
    with pytest.raises(ValueError, match=UNREADABLE):
        cases.view(bad)
    return good, bad


def test_one_unreadable_case_does_not_break_the_listings(record: Record) -> None:
    cases = CrisisCases(record)
    good, bad = _unreadable_case(cases)
    # The opened cases are found without opening anyone's content.
    assert [code for code, _ in cases.opened()] == [good, bad]
    skipped: list[tuple[str, str]] = []
    views = list(cases.views(cases.opened(), skipped=skipped.append))
    assert [v.case_code for _, _, v in views] == [good]
    assert [code for code, _ in skipped] == [bad]
    assert re.search(UNREADABLE, skipped[0][1])


def test_cases_list_all_and_report_standards_skip_and_name_the_unreadable_case(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    import subprocess

    from tests.e2e.harness import ARRIMAGE, cli_env

    rec = Record(sqlite_env)
    good, bad = _unreadable_case(CrisisCases(rec))
    rec.close()
    env = cli_env(record_path=Path(sqlite_env["SQLITE_DBNAME"]), data_dir=tmp_path, columns=200,
                  target="127.0.0.1:1")
    for args in (["cases", "list", "--all", "--json"], ["report", "standards", "--from", "2027-03-01",
                                                         "--to", "2027-03-01", "--json"]):
        proc = subprocess.run([ARRIMAGE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc
        assert f"skipped case {bad}: unreadable" in proc.stderr, proc.stderr
        assert good in proc.stdout or '"cases": 1' in proc.stdout, proc.stdout
        assert bad not in proc.stdout
