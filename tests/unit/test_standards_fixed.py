"""Fixed standards, the provenance of every figure, the Info-Social call and the P-38.001 designations (seed 001)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from adapters.standards_file import load_standards
from domain.crisis import commands as c
from domain.crisis import rules
from domain.crisis.model import EmergencyService, InterventionOutcome
from domain.crisis.state import CaseView
from domain.errors import RuleViolation
from domain.standards import StandardsConfig
from domain.standards import config as s
from domain.standards.compliance import info_social_call
from domain.standards.config import LoosenedStandard, P38Designation, loosenings
from domain.standards.provenance import figures
from tests.crisis_builders import CSSS, DAY, HOUR, MIN, T0, TEAM, request
from tests.crisis_world import World, outcome


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"standards": {"aaor.premier_contact": {"duration": "PT3H"}}},  # L778-779
         "aaor.premier_contact is fixed by the ministry at 2 heures (seed 001 L778-779; annexe L2300-2305); "
         "the region asks 3 h: a region may tighten a fixed standard, never loosen it"),
        ({"standards": {"consultation_sociale.amorce_suivi": {"duration": "P45D"}}},  # L1489-1490
         "consultation_sociale.amorce_suivi is fixed by the ministry at 30 jours (seed 001 L1489-1490; annexe "
         "L2359-2365); the region asks 45 jours: a region may tighten a fixed standard, never loosen it"),
        ({"standards": {"info_social.reponse": {"target_ratio": 0.8}}},  # L1018-1019
         "info_social.reponse is fixed by the ministry at 4 minutes, 90 % des appels (seed 001 L1018-1019; annexe "
         "L2382-2386); the region asks 80% of cases: a region may tighten a fixed standard, never loosen it"),
        ({"standards": {"aaor.analyse": {"fixed": False, "duration": "P20D"}}},  # the marking is not the region's
         "aaor.analyse is fixed by the ministry at 10 jours (seed 001 L784-785; annexe L2346-2350 (jours civils : le "
         "seed ne précise pas)); the region asks that it be no longer fixed by the ministry: a region may tighten "
         "a fixed standard, never loosen it"),
        ({"standards": {"crise.urgence": {"timing": "fixe", "duration": "PT4H"}}},  # L1267: immédiat
         "crise.urgence is fixed by the ministry at immédiat (seed 001 L1267; annexe L2374); the region asks a "
         "clock of its own (intervention_demandee → arrivee_equipe, 4 h): a region may tighten a fixed standard, "
         "never loosen it"),
        ({"meeting_caps": {"aaor": 5}},  # L721-723
         "meeting_caps.aaor is fixed by the ministry at 3 rencontres (seed 001 L721-723); the region asks 5 "
         "rencontres: a region may tighten a fixed standard, never loosen it"),
        ({"urgency": {"immediat": {"immediate": False, "within": "PT12H"}}},  # L787-788
         "urgency.immediat is fixed by the ministry at immédiat (seed 001 L787-788, L1267); the region asks 12 h: "
         "a region may tighten a fixed standard, never loosen it"),
    ],
)
def test_a_region_may_not_loosen_a_fixed_standard(overrides: dict[str, object], message: str) -> None:
    """Annex II legend « SF : standard fixé » (seed 001 L2307): the ministry's figures bind the region."""
    with pytest.raises(LoosenedStandard) as refused:
        StandardsConfig().with_overrides(overrides)
    assert str(refused.value) == message
    assert len(refused.value.loosenings) == 1


def test_a_region_may_tighten_a_fixed_standard_and_set_what_the_seed_leaves_open() -> None:
    """Tightening (shorter, higher share, fewer meetings) is allowed; « RR » figures are the region's (L2382)."""
    cfg = StandardsConfig().with_overrides({
        "standards": {"aaor.premier_contact": {"duration": "PT1H30M"}, "info_social.reponse": {"target_ratio": 0.95},
                      "crise.reponse_equipe": {"duration": "PT30M"}},
        "meeting_caps": {"consultation_sociale": 10}, "immediate_minutes": 45,
    })
    assert loosenings(cfg) == []
    assert cfg.standard(s.AAOR_PREMIER_CONTACT).duration == timedelta(hours=1, minutes=30)
    assert cfg.standard(s.CRISE_REPONSE_EQUIPE).duration == timedelta(minutes=30)  # not fixed: may be longer


def test_a_loosening_region_file_is_refused_at_load(tmp_path: Path) -> None:
    f = tmp_path / "laxiste.toml"
    f.write_text('region = "laxiste"\n[standards."aaor.retour_appel"]\nduration = "PT48H"\n', encoding="utf-8")
    with pytest.raises(LoosenedStandard, match=r"aaor.retour_appel is fixed by the ministry at 24 heures .* 2 jours"):
        load_standards(f)


def test_the_fixed_standards_are_the_ministry_figures() -> None:
    """Every ministry figure of the fiches is fixed; the engine's own defaults are not (« pas dans le seed »)."""
    cfg = StandardsConfig()
    fixed = {sid for sid, std in cfg.standards.items() if std.fixed}
    assert fixed == {sid for sid, std in cfg.standards.items() if std.source == "ministere"}
    assert {s.CRISE_REPONSE_EQUIPE, s.SUIVI_CONTACT, s.REFERENCE_DECISION, s.REFERENCE_ARRIVEE}.isdisjoint(fixed)
    assert cfg.standard(s.AAOR_PREMIER_CONTACT).seed_figure == "2 heures"


def test_every_figure_says_where_it_comes_from() -> None:
    """Ministry (its seed line), the region's file, or an engine default the seed does not give, said as such."""
    cfg = StandardsConfig().with_overrides({"standards": {"aaor.analyse": {"duration": "P5D"}},
                                            "immediate_minutes": 30})
    shown = {f.key: f for f in figures(cfg)}
    first = shown["standards.aaor.premier_contact"]
    assert (first.provenance, first.fixed, first.reference) == (
        "ministere", True, "seed 001 L778-779; annexe L2300-2305")
    analysis = shown["standards.aaor.analyse"]
    assert (analysis.provenance, analysis.fixed, analysis.value["duration"]) == ("fichier_region", True, "P5D")
    answer = shown["standards.crise.reponse_equipe"]
    assert (answer.provenance, answer.fixed) == ("defaut_moteur", False)
    assert answer.reference.startswith("pas dans le seed")
    immediate = shown["immediate_minutes"]
    assert (immediate.provenance, immediate.value) == ("fichier_region", 30)
    assert immediate.reference.startswith("pas dans le seed : « immédiat »")
    assert {shown[f"urgency.{lv}"].provenance for lv in ("immediat", "urgent", "semi_urgent", "non_urgent")} == {
        "defaut_moteur"}
    assert shown["urgency.urgent"].reference.startswith("pas dans le seed")
    call = shown["info_social.duree_moyenne_appel"]
    assert (call.value, call.provenance, call.fixed, call.reference) == (
        "PT25M", "ministere", True, "seed 001 L1030-1031; annexe L2452-2453")
    assert (shown["meeting_caps.aaor"].provenance, shown["meeting_caps.aaor"].fixed) == ("ministere", True)
    assert shown["p38_designations"].value is None and shown["p38_designations"].provenance == "defaut_moteur"


def test_info_social_average_call_not_measured_without_durations() -> None:
    """Seed 001 L1030-1031: « la durée moyenne d'un appel … est de 25 minutes »; with no call durations in
    the record, the indicator says so rather than inventing a figure."""
    ind = info_social_call([])
    assert (ind.seed_average, ind.measured_average, ind.calls) == (timedelta(minutes=25), None, 0)
    assert ind.not_measured == ("the record holds no Info-Social call durations (a case records when a call was "
                                "received and answered, not when it ended)")
    measured = info_social_call([timedelta(minutes=20), timedelta(minutes=31)])
    assert (measured.measured_average, measured.calls, measured.not_measured, measured.within_seed) == (
        timedelta(minutes=25, seconds=30), 2, None, False)


# ---------------------------------------------------------------------- P-38.001 designations
DESIGNATED = P38Designation(org_id=CSSS, team_id=TEAM.team_id, since=date(2027, 1, 1), until=date(2027, 2, 28),
                            reference="décision CISSS de Laval 2026-12")


def _arrived(config: StandardsConfig) -> CaseView:
    w = World(config)
    w.open()
    w.do(request(), T0)
    w.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0 + MIN)
    return w.do(c.RecordArrival(by="eq-1", actor_org=CSSS), T0 + 30 * MIN)


def test_p38_application_by_a_team_not_designated_is_refused() -> None:
    """Seed 001 L1175-1179: the crisis service applies P-38.001 « désigné par l'agence »; L943-945. T0 is
    2027-03-01: the designation ended 2027-02-28, so the team is no longer designated."""
    config = StandardsConfig().with_overrides({"p38_designations": [DESIGNATED.model_dump(mode="json")]})
    view = _arrived(config)
    cmd = outcome(outcome=InterventionOutcome.P38_APPLICATION, emergency_services=[EmergencyService.POLICE],
                  p38_applied=True)
    with pytest.raises(RuleViolation) as refused:
        rules.check(view, cmd, T0 + 2 * HOUR, config)
    assert refused.value.code == "p38_not_designated"
    assert refused.value.message == (
        f"team {TEAM.team_id} ({CSSS}) is not designated by the agency for the application of P-38.001 on "
        "2027-03-01 (seed 001 L1175-1179): record the outcome without applying it, or refer the person to a "
        "designated service")
    # the same outcome without applying P-38.001 passes, and so does a team designated on that day
    rules.check(view, outcome(outcome=InterventionOutcome.CRISIS_RESOLVED), T0 + 2 * HOUR, config)
    still = config.with_overrides({"p38_designations": [DESIGNATED.model_copy(update={"until": None}).model_dump(
        mode="json")]})
    rules.check(view, cmd, T0 + 2 * HOUR, still)
    # no designation declared: not restricted (said as such by `arrimage standards`)
    rules.check(view, cmd, T0 + 2 * HOUR, StandardsConfig())


def test_a_designation_held_since_the_opening_is_judged_at_the_moment_of_the_outcome() -> None:
    """Designations are configuration with their dates (issue 11; seed 001 L1175-1179): the case keeps the
    configuration it opened with (T0, 2027-03-01), and the dates in it are read at the outcome's moment, not at
    the opening. A designation starting 2027-03-03 lets the team apply P-38.001 from that day; one ending on
    2027-03-01 lets it that day and not the next."""
    p38 = outcome(outcome=InterventionOutcome.P38_APPLICATION, emergency_services=[EmergencyService.POLICE],
                  p38_applied=True)
    starting = StandardsConfig().with_overrides({"p38_designations": [P38Designation(
        org_id=CSSS, team_id=TEAM.team_id, since=date(2027, 3, 3)).model_dump(mode="json")]})
    view = _arrived(starting)
    with pytest.raises(RuleViolation, match=r"P-38\.001 on 2027-03-01") as refused:
        rules.check(view, p38, T0 + 2 * HOUR, starting)
    assert refused.value.code == "p38_not_designated"
    rules.check(view, p38, T0 + 2 * DAY, starting)
    ending = StandardsConfig().with_overrides({"p38_designations": [P38Designation(
        org_id=CSSS, team_id=TEAM.team_id, since=date(2027, 1, 1), until=date(2027, 3, 1)).model_dump(mode="json")]})
    view = _arrived(ending)
    rules.check(view, p38, T0 + 2 * HOUR, ending)
    with pytest.raises(RuleViolation, match=r"P-38\.001 on 2027-03-02") as refused:
        rules.check(view, p38, T0 + DAY, ending)
    assert refused.value.code == "p38_not_designated"


def test_a_designation_covers_its_organisation_team_and_dates() -> None:
    whole_org = P38Designation(org_id=CSSS, since=date(2027, 3, 1))
    assert whole_org.covers(CSSS, "eq-autre", T0)
    assert not whole_org.covers("cc-laval", TEAM.team_id, T0)
    assert not whole_org.covers(CSSS, TEAM.team_id, T0 - timedelta(days=1))
    with pytest.raises(ValueError, match="not before its `since`"):
        P38Designation(org_id=CSSS, since=date(2027, 3, 1), until=date(2027, 2, 1))


def test_the_example_region_file_tightens_and_designates_the_demo_teams() -> None:
    """examples/standards-laval.toml: tightened figures only (nothing loosened), and the demo's crisis teams
    designated for P-38.001, so `arrimage demo` under this file takes its P-38.001 path (seed 001 L1175-1179)."""
    from cli.demo import CC, CSSS, TEAM_1, TEAM_2

    cfg = load_standards(Path(__file__).parents[2] / "examples" / "standards-laval.toml")
    assert cfg.region == "13-laval" and loosenings(cfg) == []
    assert cfg.standard(s.AAOR_PREMIER_CONTACT).duration == timedelta(hours=1, minutes=30)
    assert (cfg.immediate_minutes, cfg.meeting_caps["aaor"]) == (45, 2)
    for team in (TEAM_1, TEAM_2):
        assert cfg.p38_designated(CSSS, team.team_id, T0)
    assert cfg.p38_designated(CC, "cc-equipe", T0)
    assert not cfg.p38_designated("cps-laval", "cps-1", T0)
