"""Issue 7, crisis cases: bad input never sticks, nothing is invented.

Every moment a caller gives is aware (a naive one means something else on every machine, and used
to fail in the worker, where the activity retried forever); every moment is plausible for the case,
by a rule with a code, judged against the command's own moment (`now`) and the region's limits;
every command has bounded lists, a bounded `personal` mapping and a byte budget; case codes are
one spelling. All refused before anything is recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from activities.crisis import ActInput, AdvanceCaseInput, OpenInput
from domain.crisis import commands as c
from domain.crisis import rules
from domain.crisis.model import EmergencyService, InterventionOutcome, TeamRef, UrgencyLevel
from domain.errors import NotFound, RuleViolation
from domain.standards import config as s
from domain.standards.config import StandardsConfig
from domain.values import MAX_COMMAND_BYTES
from tests.crisis_builders import CSSS, DAY, HOUR, MIN, T0, sup
from tests.crisis_world import CODE, World, referral

COMMAND = TypeAdapter(c.CaseCommand)


def intake_fields(**kw: Any) -> dict[str, Any]:
    return {
        "by": "intervenant-1", "actor_org": CSSS, "case_code": CODE, "responsible_org": CSSS, "territory": "laval",
        "subject_id": "p-7f3a9c2e", "intake": {"service": "info_social", "urgency": "urgent",
                                               "face_to_face_needed": True},
        **kw,
    }


def only_error(err: ValidationError) -> tuple[tuple[Any, ...], str]:
    assert err.error_count() == 1, err
    e = err.errors()[0]
    return tuple(e["loc"]), e["msg"]


# ---------------------------------------------------------------------- 1. aware moments
@pytest.mark.parametrize("field", ["received_at", "first_contact_at"])
def test_an_intake_moment_without_its_time_zone_is_refused(field: str) -> None:
    with pytest.raises(ValidationError) as info:
        c.OpenCase.model_validate(intake_fields(**{field: "2026-12-01T05:00:00"}))
    assert only_error(info.value) == ((field,), "Input should have timezone info")


def test_an_intake_moment_is_kept_in_utc() -> None:
    cmd = c.OpenCase.model_validate(intake_fields(received_at="2026-12-01T00:00:00-05:00"))
    assert cmd.received_at == datetime(2026, 12, 1, 5, tzinfo=UTC) and cmd.received_at.tzinfo is UTC


def test_an_extension_without_its_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        COMMAND.validate_python({"type": "extend", "by": "s", "actor_org": CSSS, "deadline_id": "crise.urgence",
                                 "until": "2026-12-01T05:00:00", "reason": "r"})
    assert only_error(info.value) == (("extend", "until"), "Input should have timezone info")


@pytest.mark.parametrize("model,field,extra", [
    (OpenInput, "at", {"command": intake_fields()}),
    (ActInput, "at", {"case_code": CODE, "command": {"type": "arrive", "by": "e", "actor_org": CSSS}}),
    (AdvanceCaseInput, "now", {"case_code": CODE}),
])
def test_activity_inputs_take_aware_moments_only(model: Any, field: str, extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate({**extra, field: "2026-12-01T05:00:00"})
    assert only_error(info.value) == ((field,), "Input should have timezone info")
    assert getattr(model.model_validate({**extra, field: "2026-12-01T05:00:00Z"}), field).tzinfo is UTC


# ---------------------------------------------------------------------- 2. plausible moments
def test_a_request_received_in_1999_is_not_a_moment_of_arrimage() -> None:
    with pytest.raises(ValidationError) as info:
        c.OpenCase.model_validate(intake_fields(received_at="1999-12-01T05:00:00Z"))
    assert only_error(info.value) == (
        ("received_at",), "Value error, 1999-12-01T05:00:00+00:00 is not a plausible moment (expected 2000–2099)")


def test_an_intake_moment_after_the_opening_beyond_the_clock_skew_is_refused() -> None:
    """Partners' clocks may run up to `limits.clock_skew` (5 min) ahead of the engine's; beyond, it is an error."""
    w = World()
    with pytest.raises(RuleViolation) as info:
        w.open(received=T0 + 5 * MIN + timedelta(seconds=1))
    assert info.value.code == "moment_in_future"
    assert info.value.message == (
        "received_at 2027-03-01 09:05 HNE is later than the opening (2027-03-01 09:00 HNE) "
        "by more than the 5 min allowed for clocks that disagree")
    with pytest.raises(RuleViolation) as info:
        w.open(first=T0 + HOUR)
    assert info.value.code == "moment_in_future" and info.value.message.startswith("first_contact_at ")
    with pytest.raises(NotFound):
        w.cases.view(CODE)
    view = w.open(received=T0 + 4 * MIN, first=T0 + 5 * MIN)  # within the skew: accepted
    assert view.deadline(s.INFO_SOCIAL_REPONSE) is not None


def test_a_request_older_than_the_lookback_is_refused() -> None:
    """A case cannot have waited more than `limits.intake_lookback` (7 days) to exist: it is a typing error."""
    w = World()
    with pytest.raises(RuleViolation) as info:
        w.open(received=T0 - 7 * DAY - MIN, first=T0 - MIN)
    assert info.value.code == "moment_too_old"
    assert info.value.message == (
        "received_at 2027-02-22 08:59 HNE is more than 7 days before the opening "
        "(2027-03-01 09:00 HNE): a case cannot begin that long before it is opened")
    with pytest.raises(NotFound):
        w.cases.view(CODE)
    assert w.open(received=T0 - 7 * DAY, first=T0 - MIN).opened_at == T0


def test_the_limits_are_the_regions() -> None:
    config = StandardsConfig().with_overrides({"limits": {"clock_skew": "PT0S", "intake_lookback": "P30D"}})
    assert config.limits.clock_skew == timedelta(0) and config.limits.intake_lookback == timedelta(days=30)
    w = World(config)
    with pytest.raises(RuleViolation) as info:
        w.open(received=T0 + timedelta(seconds=1))
    assert info.value.code == "moment_in_future"
    assert w.open(received=T0 - 20 * DAY, first=T0).opened_at == T0
    with pytest.raises(ValidationError):
        StandardsConfig().with_overrides({"limits": {"extension_max": "P1000D"}})


def test_the_first_contact_cannot_precede_the_request() -> None:
    with pytest.raises(ValidationError, match="the first contact cannot precede the request"):
        c.OpenCase.model_validate(intake_fields(received_at="2027-03-01T14:00:00Z",
                                                first_contact_at="2027-03-01T13:59:00Z"))


def test_an_opening_is_judged_without_the_record() -> None:
    """What the workflow's validator and the CLI run before anything starts: every rule but the ententes."""
    config = StandardsConfig()
    cmd = c.OpenCase.model_validate(intake_fields(received_at=(T0 + HOUR).isoformat()))
    with pytest.raises(RuleViolation) as info:
        rules.check_open_command(cmd, T0, config)
    assert info.value.code == "moment_in_future"
    wrong = c.OpenCase.model_validate(intake_fields(actor_org="cps-laval"))
    with pytest.raises(RuleViolation) as info:
        rules.check_open_command(wrong, T0, config)
    assert (info.value.code, info.value.message) == (
        "wrong_party", "opening a case through Info-Social 8-1-1 is done by cisss-laval, not by cps-laval")
    rules.check_open_command(c.OpenCase.model_validate(intake_fields()), T0, config)


def reference_accepted(w: World) -> datetime:
    """A case whose référence personnalisée was accepted at T0 + 4 h: `reference.1.arrivee` is due 7 days later."""
    w.to_intervention(urgency=UrgencyLevel.NONE)
    w.do(referral(), T0 + 3 * HOUR)
    w.do(c.AcceptReferral(by="a", actor_org="clsc-ouest", intake_worker="accueil"), T0 + 4 * HOUR)
    due = w.cases.view(CODE).deadline("reference.1.arrivee").due_at  # type: ignore[union-attr]
    assert due == T0 + 4 * HOUR + 7 * DAY
    return due


def test_an_extension_beyond_the_maximum_is_refused() -> None:
    """At most `limits.extension_max` (72 h) past the deadline's current due moment: 100,000 hours is a typo."""
    w = World()
    due = reference_accepted(w)
    refused = w.refused(sup(c.ExtendDeadline, deadline_id="reference.1.arrivee", until=due + 100_000 * HOUR,
                            reason="x"), "extension_too_long", T0 + 5 * DAY)
    assert refused.message == (
        "an extension gives at most 72 h past the current due moment (2027-03-08 13:00 HNE): "
        "until 2027-03-11 13:00 HNE at the latest")
    w.refused(sup(c.ExtendDeadline, deadline_id="reference.1.arrivee", until=due + 72 * HOUR + MIN, reason="x"),
              "extension_too_long", T0 + 5 * DAY)
    view = w.do(sup(c.ExtendDeadline, deadline_id="reference.1.arrivee", until=due + 72 * HOUR, reason="x"),
                T0 + 5 * DAY)
    assert view.deadline("reference.1.arrivee").due_at == due + 72 * HOUR  # type: ignore[union-attr]
    # Extended again: the maximum counts from the current due moment.
    view = w.do(sup(c.ExtendDeadline, deadline_id="reference.1.arrivee", until=due + 144 * HOUR, reason="y"),
                T0 + 6 * DAY)
    assert view.deadline("reference.1.arrivee").due_at == due + 144 * HOUR  # type: ignore[union-attr]


def test_the_workflow_validator_refuses_a_long_extension_too() -> None:
    w = World()
    due = reference_accepted(w)
    with pytest.raises(RuleViolation) as info:
        rules.check(w.cases.view(CODE), sup(c.ExtendDeadline, deadline_id="reference.1.arrivee",
                                            until=due + 80 * HOUR, reason="x"), T0 + 5 * DAY, StandardsConfig())
    assert info.value.code == "extension_too_long"


# ---------------------------------------------------------------------- 3. sizes
def test_personal_mappings_and_lists_are_bounded() -> None:
    with pytest.raises(ValidationError) as info:
        c.OpenCase.model_validate(intake_fields(personal={f"f_{chr(97 + i // 26)}{chr(97 + i % 26)}": "x"
                                                          for i in range(21)}))
    assert only_error(info.value) == (("personal",), "Dictionary should have at most 20 items after validation, "
                                                     "not more")
    teams = [TeamRef(team_id=f"t-{i}", org_id=CSSS) for i in range(21)]
    with pytest.raises(ValidationError) as info:
        c.RequestMobileIntervention(by="i", actor_org=CSSS, csss_teams=teams)
    assert only_error(info.value)[0] == ("csss_teams",)
    with pytest.raises(ValidationError) as info:
        c.RecordOutcome(by="e", actor_org=CSSS, outcome=InterventionOutcome.CRISIS_RESOLVED, subject_id="p-7f3a9c2e",
                        emergency_services=[EmergencyService.POLICE] * 4)
    assert only_error(info.value)[0] == ("emergency_services",)
    with pytest.raises(ValidationError) as info:
        COMMAND.validate_python({"type": "request_mobile", "by": "i", "actor_org": CSSS,
                                 "sharing": {"consent_key": "k-1", "items": [f"i{n}" for n in range(21)]}})
    assert only_error(info.value)[0] == ("request_mobile", "sharing", "items")


def big_personal() -> dict[str, str]:
    """20 fields of 4,000 characters of 4 bytes each: every field valid, the whole over the budget."""
    return {f"note_{chr(97 + i)}": "😀" * 4000 for i in range(20)}


def test_a_command_over_the_byte_budget_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        c.OpenCase.model_validate(intake_fields(personal=big_personal()))
    loc, message = only_error(info.value)
    assert loc == ()
    assert message.startswith("Value error, the command is 32") and message.endswith(
        f"bytes; the limit is {MAX_COMMAND_BYTES:,} bytes (256 KiB)")
    with pytest.raises(ValidationError) as info:
        COMMAND.validate_python({"type": "refer", "by": "e", "actor_org": CSSS, "subject_id": "p-7f3a9c2e",
                                 "channel": "telephone", "personal": big_personal(),
                                 "receiving": {"org_id": "clsc-ouest", "service": "consultation_sociale"}})
    assert only_error(info.value)[1].endswith("the limit is 262,144 bytes (256 KiB)")


# ---------------------------------------------------------------------- 5. one spelling of a case code
def test_a_lower_case_case_code_is_the_same_case() -> None:
    cmd = c.OpenCase.model_validate(intake_fields(case_code=" c-abcdefgh23 "))
    assert cmd.case_code == "C-ABCDEFGH23"
    with pytest.raises(ValidationError):
        c.OpenCase.model_validate(intake_fields(case_code="c-abcdefgh1"))  # 1 is not base32
