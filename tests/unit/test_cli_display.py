"""What people read: one way to write moments, codes in French, stored text escaped, long lists cut
(issue 7, "messages a person can act on"). The render helpers are pure: they are tested on their
own output, exactly."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum

import pytest
from rich.console import Console
from rich.table import Table

from cli import render
from cli import render_cases as rc
from cli.display import LABELS, cell, label, limited, more_line, printable, when
from cli.templates import case_template, without_comments
from domain.crisis import commands as c
from domain.crisis.model import IntakeService, RequestMode
from domain.crisis.state import CaseStage
from domain.ententes.state import EntenteStatus, ProposalStage
from domain.errors import RuleViolation
from domain.standards import config as s
from domain.standards.config import StandardsConfig
from tests.crisis_builders import HOUR, T0, sup
from tests.crisis_world import World

WINTER = datetime(2026, 11, 24, 2, 15, tzinfo=UTC)  # 2026-11-23 21:15 in Québec (HNE, UTC-5)


def printed(table: Table) -> str:
    out = io.StringIO()
    Console(file=out, width=250, color_system=None).print(table)
    return out.getvalue()


# ---------------------------------------------------------------------- item 1: times
def test_tables_show_quebec_time_with_its_zone_and_dates_as_they_are() -> None:
    assert when(WINTER) == "2026-11-23 21:15 HNE"
    assert when(datetime(2026, 7, 1, 13, 0, tzinfo=UTC)) == "2026-07-01 09:00 HAE"
    assert when(date(2027, 11, 23)) == "2027-11-23"
    assert when(None) == "—"


def test_json_gives_every_moment_in_utc_with_its_offset() -> None:
    data = {"z": "2026-11-24T02:15:00Z", "local": "2026-11-23T21:15:00-05:00", "dt": WINTER,
            "fraction": "2026-11-24T02:15:00.250000Z", "text": "2026-11-24T02:15:00Z est l'heure", "day": "2026-11-24",
            "nested": [{"at": datetime(2026, 11, 23, 22, 15, tzinfo=timezone(timedelta(hours=-4)))}]}
    assert render.jsonable(data) == {
        "z": "2026-11-24T02:15:00+00:00", "local": "2026-11-24T02:15:00+00:00", "dt": "2026-11-24T02:15:00+00:00",
        "fraction": "2026-11-24T02:15:00.250000+00:00", "text": "2026-11-24T02:15:00Z est l'heure",
        "day": "2026-11-24", "nested": [{"at": "2026-11-24T02:15:00+00:00"}],
    }


def test_a_domain_refusal_names_moments_in_quebec_time_with_its_zone() -> None:
    """The extension refusals quoted the due moment as UTC ISO text; they now read as every table does."""
    w = World()
    w.open(service=IntakeService.AAOR, received=T0 - 3 * HOUR, mode=RequestMode.IN_PERSON)
    due = T0 - 3 * HOUR + timedelta(days=10)  # 2027-03-11 11:00 UTC, before daylight time
    late = w.refused(sup(c.ExtendDeadline, deadline_id=s.AAOR_ANALYSE, until=due + HOUR, reason="x"), "already_due",
                     at=due + HOUR)
    assert late.message == "deadline aaor.analyse fell due at 2027-03-11 06:00 HNE"
    early: RuleViolation = w.refused(
        sup(c.ExtendDeadline, deadline_id=s.AAOR_ANALYSE, until=T0, reason="x"), "not_later")
    assert early.message == "an extension ends after the current due moment (2027-03-11 06:00 HNE)"


# ---------------------------------------------------------------------- item 2: no internal notes
def test_the_standards_tables_show_who_set_each_figure_not_the_source_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render.console, "width", 250)
    config = StandardsConfig()
    with render.console.capture() as captured:
        rc.standards_tables(config, "ministry defaults (no ARRIMAGE_STANDARDS_FILE)")
    text = captured.get()
    for internal in ("seed", "L1018", "annexe L", "ne précise pas", "ministere", "appel_recu"):
        assert internal not in text
    assert "appel reçu → appel répondu" in text and "the ministry (MSSS standard)" in text
    assert "the region (regional default)" in text
    # The provenance stays for --json.
    assert config.model_dump(mode="json")["standards"][s.INFO_SOCIAL_REPONSE]["reference"].startswith("seed 001")


def test_history_details_say_flags_in_words() -> None:
    rows = [{"seq": 3, "event": "HandoffRequested", "recorded_at": WINTER, "by": "routage", "actor_org": "cisss-laval",
             "by_supervisor": False, "number": 1, "at": WINTER},
            {"seq": 4, "event": "HandoffRequested", "recorded_at": WINTER, "by": "sup", "by_supervisor": True,
             "stage": "reference"}]
    text = printed(rc.history_table("C-ABCDEFGH23", rows))
    assert "by_supervisor" not in text and "False" not in text and "True" not in text
    assert text.splitlines()[4:6] == [
        "│ 3 │ HandoffRequested │ 2026-11-23 21:15 HNE │ routage │ cisss-laval │ "
        "asked by routing · number=1             │",
        "│ 4 │ HandoffRequested │ 2026-11-23 21:15 HNE │ sup     │ —           │ "
        "asked by a supervisor · stage=référence │",
    ]


# ---------------------------------------------------------------------- item 3: French labels
def test_every_code_of_every_labelled_enum_has_its_french_label() -> None:
    for kind, labels in LABELS.items():
        assert issubclass(kind, StrEnum)
        assert set(labels) == {m.value for m in kind}, kind.__name__


@pytest.mark.parametrize(("kind", "code", "text"), [
    (EntenteStatus, EntenteStatus.SIGNED, "signée"), (EntenteStatus, "en_vigueur", "en vigueur"),
    (EntenteStatus, "revoquee", "révoquée"), (EntenteStatus, "expiree", "expirée"),
    (ProposalStage, "redaction", "rédaction"), (CaseStage, "fermee", "fermée"), (CaseStage, "reference", "référence"),
    (CaseStage, "code_inconnu", "code inconnu"), (CaseStage, None, "—"),
])
def test_codes_read_in_french(kind: type[StrEnum], code: str | None, text: str) -> None:
    assert label(kind, code) == text


# ---------------------------------------------------------------------- item 4: long lists
def test_tables_show_fifty_rows_json_everything_unless_limited() -> None:
    rows = list(range(120))
    assert limited(rows, None, as_json=False) == (rows[:50], 70)
    assert limited(rows, None, as_json=True) == (rows, 0)
    assert limited(rows, 0, as_json=False) == (rows, 0)
    assert limited(rows, 10, as_json=True) == (rows[:10], 110)
    assert limited(rows[:3], 10, as_json=False) == (rows[:3], 0)
    assert more_line(70) == "… 70 more (use --limit)"
    assert more_line(0) is None


# ---------------------------------------------------------------------- item 5: escaping
def test_control_characters_and_escape_sequences_print_escaped() -> None:
    assert printable("a\x1b[31mb\u202ec\x07\x9b\n") == "a\\x1b[31mb\\u202ec\\x07\\x9b\\x0a"
    assert printable("Côté — « immédiat »") == "Côté — « immédiat »"


def test_rich_markup_in_stored_text_prints_literally() -> None:
    rows = [{"seq": 1, "event": "Drafted", "recorded_at": WINTER, "by": "[red]marie[/red]",
             "title": "[bold]Entente[/bold] \x1b[2J"}]
    text = printed(render.history_table("[bold]ENT-1[/bold]", rows))
    assert "History of [bold]ENT-1[/bold] (1 events)" in text
    assert "[red]marie[/red]" in text and "title=[bold]Entente[/bold] \\x1b[2J" in text and "\x1b" not in text
    assert cell("[link=http://x]y[/link]").plain == "[link=http://x]y[/link]"


# ---------------------------------------------------------------------- item 6: intake template
@pytest.mark.parametrize("service", list(IntakeService))
def test_the_intake_template_is_accepted_as_is_and_explains_each_field(service: IntakeService) -> None:
    data = case_template(service)
    cmd = c.OpenCase.model_validate({**without_comments(data), "by": "marie", "case_code": "C-ABCDEFGH23"})
    assert cmd.intake.service is service
    fields = [k for k in data if not k.startswith("//")]
    assert all(f"// {k}" in data for k in fields if k != "intake")
    assert all(f"// {k}" in data["intake"] for k in data["intake"] if not k.startswith("//"))
