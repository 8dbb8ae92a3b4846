"""The access standards as configuration, and the compliance figures (seed 001, Annex II and fiches 1-5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from pydantic import ValidationError

from adapters.standards_file import load_standards
from domain.standards import (
    Observation,
    StandardsConfig,
    Timing,
    UrgencyLevel,
    UrgencyRule,
    compliance,
    nearest_rank,
)
from domain.standards import config as s

T0 = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("standard_id", "duration"),
    [
        (s.INFO_SOCIAL_REPONSE, timedelta(minutes=4)),  # L1018-1019
        (s.AAOR_PREMIER_CONTACT, timedelta(hours=2)),  # L778-779
        (s.AAOR_RETOUR_APPEL, timedelta(hours=24)),  # L781-782
        (s.AAOR_ANALYSE, timedelta(days=10)),  # L784-785
        (s.CONSULTATION_SOCIALE_PREMIER_CONTACT, timedelta(days=7)),  # L1485-1487
        (s.CONSULTATION_SOCIALE_AMORCE_SUIVI, timedelta(days=30)),  # L1489-1490
        (s.CONSULTATION_PSYCHOLOGIQUE_PREMIER_CONTACT, timedelta(days=7)),  # L1731-1733
        (s.CONSULTATION_PSYCHOLOGIQUE_AMORCE_SUIVI, timedelta(days=30)),  # L1735-1736
    ],
)
def test_fixed_defaults_are_the_ministry_figures(standard_id: str, duration: timedelta) -> None:
    """Seed 001 fiches 1, 2, 4, 5: the fixed access delays are the defaults, each citing its seed lines."""
    std = StandardsConfig().standard(standard_id)
    assert std.timing is Timing.FIXED
    assert std.duration == duration
    assert std.source == "ministere"
    assert std.reference.startswith("seed 001 L")
    assert StandardsConfig().deadline(standard_id, T0) == T0 + duration


def test_info_social_target_is_ninety_percent() -> None:
    """Seed 001 L1018-1019: « 90 % des appels … réponse dans un délai de 4 minutes ou moins »."""
    assert StandardsConfig().standard(s.INFO_SOCIAL_REPONSE).target_ratio == 0.9
    assert StandardsConfig().targets() == {s.INFO_SOCIAL_REPONSE: 0.9}


def test_urgency_scale_immediate_and_up_to_24_hours() -> None:
    """Seed 001 L787-788: urgent is handled immediately or within 24 h « selon le degré d'urgence »;
    L1267: mobile crisis urgent is immediate. "Immédiat" is 60 minutes by default (not in the seed)."""
    cfg = StandardsConfig()
    assert cfg.immediate == timedelta(minutes=60)
    assert cfg.deadline(s.AAOR_URGENCE, T0, UrgencyLevel.IMMEDIATE) == T0 + timedelta(minutes=60)
    assert cfg.deadline(s.AAOR_URGENCE, T0, UrgencyLevel.HIGH) == T0 + timedelta(hours=4)
    assert cfg.deadline(s.AAOR_URGENCE, T0, UrgencyLevel.MODERATE) == T0 + timedelta(hours=24)
    assert cfg.deadline(s.AAOR_URGENCE, T0, UrgencyLevel.NONE) is None
    assert cfg.deadline(s.CRISE_URGENCE, T0) == T0 + timedelta(minutes=60)
    faster = cfg.with_overrides({"immediate_minutes": 30})
    assert faster.deadline(s.CRISE_URGENCE, T0) == T0 + timedelta(minutes=30)


def test_an_urgency_level_beyond_24_hours_is_refused() -> None:
    """Seed 001 L787-788: « au plus tard dans les 24 heures » bounds every urgent level."""
    with pytest.raises(ValidationError, match="within 24 hours at the latest"):
        UrgencyRule(label="Trop long", urgent=True, within=timedelta(hours=36))
    with pytest.raises(ValidationError, match="within 24 hours at the latest"):
        StandardsConfig().with_overrides({"urgency": {"semi_urgent": {"within": "PT36H"}}})


def test_follow_up_plans_are_the_three_kinds_the_seed_names() -> None:
    """Seed 001 L1204-1207 names short-term crisis follow-up, close follow-up and temporary housing,
    and leaves their content to future work: the contacts are configuration."""
    plans = StandardsConfig().follow_up_plans
    assert set(plans) == {"suivi_crise_courte_duree", "suivi_etroit", "hebergement_temporaire"}
    short = plans["suivi_crise_courte_duree"]
    assert [c.offset for c in short.contacts] == [timedelta(days=1), timedelta(days=3), timedelta(days=30)]
    with pytest.raises(ValueError, match="timed by its follow-up plan"):
        StandardsConfig().deadline(s.SUIVI_CONTACT, T0)


def test_meeting_caps() -> None:
    """Seed 001 L721-723 (AAOR ≤ 3 meetings), L1423-1426 and L1671-1674 (consultations ≤ 12, then the PI is revised)."""
    cfg = StandardsConfig()
    assert cfg.meeting_caps == {"aaor": 3, "consultation_sociale": 12, "consultation_psychologique": 12}
    assert not cfg.meeting_cap_reached("aaor", 2)
    assert cfg.meeting_cap_reached("aaor", 3)
    assert not cfg.meeting_cap_reached("consultation_sociale", 11)
    assert cfg.meeting_cap_reached("consultation_psychologique", 12)
    assert not cfg.meeting_cap_reached("info_social", 50)  # no cap


def test_region_file_in_toml_overrides_only_what_it_names(tmp_path: Path) -> None:
    """Annex II « RR » (réalités régionales, L2307): a region sets its figures in a file, without code changes."""
    f = tmp_path / "laval.toml"
    f.write_text(
        'region = "13-laval"\nimmediate_minutes = 45\n'
        '[standards."aaor.premier_contact"]\nduration = "PT1H30M"\n'
        '[follow_up_plans.suivi_etroit]\nlabel = "Suivi étroit (Laval)"\n'
        'contacts = [{ label = "J+1", offset = "P1D", within = "PT12H" }]\n',
        encoding="utf-8",
    )
    cfg = load_standards(f)
    assert cfg.region == "13-laval"
    assert cfg.immediate_minutes == 45
    assert cfg.standard(s.AAOR_PREMIER_CONTACT).duration == timedelta(hours=1, minutes=30)
    assert cfg.standard(s.AAOR_PREMIER_CONTACT).reference.startswith("seed 001 L778")  # the rest is kept
    assert cfg.standard(s.AAOR_RETOUR_APPEL).duration == timedelta(hours=24)
    assert [c.label for c in cfg.follow_up_plans["suivi_etroit"].contacts] == ["J+1"]
    assert "hebergement_temporaire" in cfg.follow_up_plans


def test_region_file_in_json_and_bad_files(tmp_path: Path) -> None:
    """The same configuration from JSON; a file of another kind, or a bad figure, is refused."""
    f = tmp_path / "region.json"
    f.write_text(json.dumps({"standards": {"reference.decision": {"duration": "P1D"}}}), encoding="utf-8")
    assert load_standards(f).standard(s.REFERENCE_DECISION).duration == timedelta(days=1)
    other = tmp_path / "region.yaml"
    other.write_text("x: 1", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\.toml or \.json"):
        load_standards(other)
    f.write_text(json.dumps({"standards": {"aaor.analyse": {"duration": None}}}), encoding="utf-8")
    with pytest.raises(ValidationError, match="a fixed standard has a duration"):
        load_standards(f)


def test_config_round_trips_through_json() -> None:
    """One validated settings object, serialisable so that the worker and the CLI read the same figures."""
    cfg = StandardsConfig().with_overrides({"region": "06-montreal"})
    assert StandardsConfig.model_validate_json(cfg.model_dump_json()) == cfg


def test_nearest_rank_percentiles() -> None:
    """The documented percentile method: the ⌈p·n/100⌉-th smallest value, always an observed value."""
    values = [timedelta(minutes=m) for m in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)]
    assert nearest_rank(values, 50) == 5 * MIN
    assert nearest_rank(values, 90) == 9 * MIN
    assert nearest_rank(values, 100) == 10 * MIN
    assert nearest_rank(values[:3], 90) == 3 * MIN  # ⌈2.7⌉ = 3
    assert nearest_rank(values[:4], 50) == 2 * MIN  # even count: the lower middle value
    assert nearest_rank([], 50) is None
    with pytest.raises(ValueError, match="between 1 and 100"):
        nearest_rank(values, 0)


def test_compliance_figures_from_known_delays() -> None:
    """Seed 001 L1018-1019 (4 min, 90 %) and L784-785 (10 days): exact counts, ratio, median and p90."""
    four = timedelta(minutes=4)
    calls = [
        Observation(standard_id=s.INFO_SOCIAL_REPONSE, started_at=T0, stopped_at=T0 + m * MIN, deadline=T0 + four)
        for m in (1, 2, 3, 4, 5, 6, 2, 3, 1, 9)
    ]
    analyses = [
        Observation(standard_id=s.AAOR_ANALYSE, started_at=T0, stopped_at=T0 + timedelta(days=3),
                    deadline=T0 + timedelta(days=10)),
        Observation(standard_id=s.AAOR_ANALYSE, started_at=T0, stopped_at=None, deadline=T0 + timedelta(days=10)),
        Observation(standard_id=s.AAOR_ANALYSE, started_at=T0, stopped_at=None, deadline=T0 + timedelta(days=20)),
    ]
    figures = compliance(calls + analyses, as_of=T0 + timedelta(days=12), targets={s.INFO_SOCIAL_REPONSE: 0.9})
    assert list(figures) == [s.AAOR_ANALYSE, s.INFO_SOCIAL_REPONSE]
    call = figures[s.INFO_SOCIAL_REPONSE]
    # delays sorted: 1 1 2 2 3 3 4 5 6 9 — in time (≤ 4): 7, late: 3
    assert (call.observations, call.in_time, call.late, call.open_overdue, call.open_in_time) == (10, 7, 3, 0, 0)
    assert call.in_time_ratio == Fraction(7, 10)
    assert call.median_delay == 3 * MIN  # 5th of 10
    assert call.p90_delay == 6 * MIN  # 9th of 10
    assert call.meets_target is False
    analysis = figures[s.AAOR_ANALYSE]
    assert (analysis.in_time, analysis.late, analysis.open_overdue, analysis.open_in_time) == (1, 0, 1, 1)
    assert analysis.in_time_ratio == Fraction(1, 2)
    assert analysis.median_delay == analysis.p90_delay == timedelta(days=3)
    assert analysis.meets_target is None


def test_compliance_meets_a_target_exactly_at_ninety_percent() -> None:
    """Seed 001 L1018-1019: 9 calls of 10 within 4 minutes meets the 90 % target (no float rounding)."""
    obs = [
        Observation(standard_id=s.INFO_SOCIAL_REPONSE, started_at=T0, stopped_at=T0 + m * MIN,
                    deadline=T0 + 4 * MIN)
        for m in (1, 1, 1, 1, 1, 1, 1, 1, 1, 5)
    ]
    fig = compliance(obs, as_of=T0, targets={s.INFO_SOCIAL_REPONSE: 0.9})[s.INFO_SOCIAL_REPONSE]
    assert fig.in_time_ratio == Fraction(9, 10)
    assert fig.meets_target is True


def test_compliance_with_nothing_decided() -> None:
    """A clock still running before its deadline is counted neither in time nor late."""
    obs = [Observation(standard_id="x", started_at=T0, stopped_at=None, deadline=T0 + MIN)]
    fig = compliance(obs, as_of=T0)["x"]
    assert (fig.open_in_time, fig.in_time_ratio, fig.median_delay, fig.p90_delay) == (1, None, None, None)
    assert compliance([], as_of=T0) == {}
