"""The access standards as one validated settings object, with the ministry's figures as defaults.

Every default cites the line of seed 001 (*Orientations relatives aux standards
d'accès… des services sociaux généraux*, MSSS) it comes from. What the seed
leaves open — what "immédiat" means in minutes, the urgency scale between
"immédiat" and 24 h, how long a mobile team has to answer, post-crisis
follow-up plans (the seed defers them, L1204-1207) — has a default here that is
marked "not in the seed": a region sets its own in a file, without code changes.

A region file (read by ``adapters.standards_file``) holds only what differs from the defaults;
it is merged over them (`StandardsConfig.with_overrides`):

    region = "13-laval"
    immediate_minutes = 45

    [standards."aaor.premier_contact"]
    duration = "PT1H30M"

    [follow_up_plans.suivi_etroit]
    label = "Suivi étroit"
    contacts = [{ label = "J+1", offset = "P1D", within = "PT12H" }]

Durations are ISO 8601 (``PT2H``, ``P10D``), as pydantic reads and writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from domain.clock import local_date
from domain.ententes.model import Code, Frozen, ShortText
from domain.standards.availability import (
    AAOR_HOURS_REFERENCE,
    AAOR_HOURS_SEED_FIGURE,
    MAX_TEAMS,
    AaorHours,
    CsssTeam,
    aaor_weeks,
    check_declared,
)

# Standard ids the crisis case starts clocks for (a region may change their figures, not their ids).
INFO_SOCIAL_REPONSE = "info_social.reponse"
AAOR_PREMIER_CONTACT = "aaor.premier_contact"
AAOR_RETOUR_APPEL = "aaor.retour_appel"
AAOR_ANALYSE = "aaor.analyse"
AAOR_URGENCE = "aaor.urgence"
CRISE_URGENCE = "crise.urgence"
CONSULTATION_SOCIALE_PREMIER_CONTACT = "consultation_sociale.premier_contact"
CONSULTATION_SOCIALE_AMORCE_SUIVI = "consultation_sociale.amorce_suivi"
CONSULTATION_SOCIALE_URGENCE = "consultation_sociale.urgence"
CONSULTATION_PSYCHOLOGIQUE_PREMIER_CONTACT = "consultation_psychologique.premier_contact"
CONSULTATION_PSYCHOLOGIQUE_AMORCE_SUIVI = "consultation_psychologique.amorce_suivi"
CONSULTATION_PSYCHOLOGIQUE_URGENCE = "consultation_psychologique.urgence"
CRISE_REPONSE_EQUIPE = "crise.reponse_equipe"
SUIVI_CONTACT = "suivi.contact"
REFERENCE_DECISION = "reference.decision"
REFERENCE_ARRIVEE = "reference.arrivee"


class ClockEvent(StrEnum):
    """The facts that start and stop a standard's clock."""

    CALL_RECEIVED = "appel_recu"
    CALL_ANSWERED = "appel_repondu"
    REQUEST_IN_PERSON = "demande_en_personne"
    REQUEST_BY_PHONE = "demande_telephonique"
    REQUEST_RECEIVED = "demande_recue"
    FIRST_CONTACT = "premier_contact"
    CALLBACK = "retour_appel"
    ANALYSIS_COMPLETED = "analyse_completee"
    URGENCY_IDENTIFIED = "urgence_identifiee"
    URGENCY_HANDLED = "urgence_traitee"
    MOBILE_REQUESTED = "intervention_demandee"
    TEAM_ARRIVED = "arrivee_equipe"
    TEAM_ASKED = "equipe_sollicitee"
    TEAM_ANSWERED = "reponse_equipe"
    CONTACT_SCHEDULED = "contact_prevu"
    CONTACT_MADE = "contact_fait"
    REFERRAL_SENT = "reference_envoyee"
    REFERRAL_DECIDED = "reference_decidee"
    REQUEST_ACCEPTED = "demande_acceptee"
    PERSON_REACHED_SERVICE = "personne_rejointe"
    FOLLOW_UP_STARTED = "suivi_amorce"


class Timing(StrEnum):
    """How a standard's deadline is set."""

    FIXED = "fixe"  # its own duration
    BY_URGENCY = "selon_urgence"  # the urgency scale, from the case's urgency level
    IMMEDIATE = "immediat"  # `immediate_minutes`
    BY_PLAN = "selon_plan"  # each follow-up contact's own window


class Standard(Frozen):
    label: ShortText  # in French, as the report shows it
    service: Code
    starts_on: ClockEvent
    stops_on: ClockEvent
    timing: Timing = Timing.FIXED
    duration: timedelta | None = None
    target_ratio: float | None = Field(default=None, gt=0, le=1)  # share of cases to meet it, when the seed sets one
    source: Literal["ministere", "region"] = "ministere"
    reference: ShortText  # where the figure comes from
    # Fixed by the ministry (annex II, legend « SF : standard fixé », seed 001 L2307): a region may tighten it,
    # never loosen it (`loosenings`). The figures the fiches give are the ministry's; what the annex leaves to
    # the region is the « Particularités du service » row, « RR : réalités régionales » (L2382, L2465).
    fixed: bool = False
    seed_figure: ShortText | None = None  # the figure as the seed gives it

    @model_validator(mode="after")
    def _duration_when_fixed(self) -> Standard:
        if (self.timing is Timing.FIXED) != (self.duration is not None):
            raise ValueError("a fixed standard has a duration, and only a fixed standard has one")
        if self.duration is not None and self.duration <= timedelta(0):
            raise ValueError("a standard's duration is positive")
        return self


class UrgencyLevel(StrEnum):
    """Degrees of urgency (seed 001 L787-788, « selon le degré d'urgence »); the scale is not in the seed."""

    IMMEDIATE = "immediat"
    HIGH = "urgent"
    MODERATE = "semi_urgent"
    NONE = "non_urgent"


class UrgencyRule(Frozen):
    label: ShortText
    urgent: bool
    immediate: bool = False
    within: timedelta | None = None

    @model_validator(mode="after")
    def _bounded(self) -> UrgencyRule:
        if not self.urgent:
            if self.immediate or self.within is not None:
                raise ValueError("a level that is not urgent has no urgency deadline")
        elif self.immediate == (self.within is not None):
            raise ValueError("an urgent level is either immediate or has a `within` duration")
        elif self.within is not None and not timedelta(0) < self.within <= timedelta(hours=24):
            # « de façon immédiate ou au plus tard dans les 24 heures » (seed 001 L787-788, L1492-1493, L1738-1739)
            raise ValueError("an urgent situation is handled within 24 hours at the latest "
                             "(Orientations ministérielles, services sociaux généraux)")
        return self


class ContactSpec(Frozen):
    """One scheduled contact of a follow-up plan: due `offset` after the plan starts, to be made within `within`."""

    label: ShortText
    offset: timedelta = Field(ge=timedelta(0))
    within: timedelta = Field(gt=timedelta(0))


class FollowUpPlan(Frozen):
    label: ShortText
    contacts: list[ContactSpec] = Field(min_length=1)


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _default_standards() -> dict[str, Standard]:
    s, m = "ministere", "region"
    e = ClockEvent
    return {
        INFO_SOCIAL_REPONSE: Standard(
            label="Info-Social : réponse à l'appel en 4 minutes ou moins (cible 90 %)", service="info_social",
            starts_on=e.CALL_RECEIVED, stops_on=e.CALL_ANSWERED, duration=timedelta(minutes=4), target_ratio=0.9,
            source=s, reference="seed 001 L1018-1019; annexe L2382-2386",
            fixed=True, seed_figure="4 minutes, 90 % des appels",
        ),
        AAOR_PREMIER_CONTACT: Standard(
            label="AAOR : premier contact en 2 heures (demande de rencontre en personne)", service="aaor",
            starts_on=e.REQUEST_IN_PERSON, stops_on=e.FIRST_CONTACT, duration=_h(2), source=s,
            reference="seed 001 L778-779; annexe L2300-2305",
            fixed=True, seed_figure="2 heures",
        ),
        AAOR_RETOUR_APPEL: Standard(
            label="AAOR : retour d'appel en 24 heures (demande téléphonique)", service="aaor",
            starts_on=e.REQUEST_BY_PHONE, stops_on=e.CALLBACK, duration=_h(24), source=s,
            reference="seed 001 L781-782; annexe L2339-2344",
            fixed=True, seed_figure="24 heures",
        ),
        AAOR_ANALYSE: Standard(
            label="AAOR : analyse de la demande complétée en 10 jours", service="aaor",
            starts_on=e.REQUEST_RECEIVED, stops_on=e.ANALYSIS_COMPLETED, duration=timedelta(days=10), source=s,
            reference="seed 001 L784-785; annexe L2346-2350 (jours civils : le seed ne précise pas)",
            fixed=True, seed_figure="10 jours",
        ),
        AAOR_URGENCE: Standard(
            label="AAOR : situation urgente traitée immédiatement ou au plus tard en 24 heures", service="aaor",
            starts_on=e.URGENCY_IDENTIFIED, stops_on=e.URGENCY_HANDLED, timing=Timing.BY_URGENCY, source=s,
            reference="seed 001 L787-788; annexe L2367-2372",
            fixed=True, seed_figure="immédiat ou au plus tard 24 heures selon le degré d'urgence",
        ),
        CRISE_URGENCE: Standard(
            label="Intervention de crise dans le milieu : situation urgente traitée de façon immédiate",
            service="intervention_crise_mobile", starts_on=e.MOBILE_REQUESTED, stops_on=e.TEAM_ARRIVED,
            timing=Timing.IMMEDIATE, source=s, reference="seed 001 L1267; annexe L2374",
            fixed=True, seed_figure="immédiat",
        ),
        CONSULTATION_SOCIALE_PREMIER_CONTACT: Standard(
            label="Consultation sociale : premier contact en 7 jours après l'acceptation",
            service="consultation_sociale", starts_on=e.REQUEST_ACCEPTED, stops_on=e.FIRST_CONTACT,
            duration=timedelta(days=7), source=s, reference="seed 001 L1485-1487; annexe L2352-2357",
            fixed=True, seed_figure="7 jours",
        ),
        CONSULTATION_SOCIALE_AMORCE_SUIVI: Standard(
            label="Consultation sociale : suivi amorcé en 30 jours après l'acceptation",
            service="consultation_sociale", starts_on=e.REQUEST_ACCEPTED, stops_on=e.FOLLOW_UP_STARTED,
            duration=timedelta(days=30), source=s, reference="seed 001 L1489-1490; annexe L2359-2365",
            fixed=True, seed_figure="30 jours",
        ),
        CONSULTATION_SOCIALE_URGENCE: Standard(
            label="Consultation sociale : situation urgente traitée immédiatement ou au plus tard en 24 heures",
            service="consultation_sociale", starts_on=e.REQUEST_ACCEPTED, stops_on=e.FIRST_CONTACT,
            timing=Timing.BY_URGENCY, source=s, reference="seed 001 L1492-1493; annexe L2374-2376",
            fixed=True, seed_figure="immédiat ou au plus tard 24 heures selon le degré d'urgence",
        ),
        CONSULTATION_PSYCHOLOGIQUE_PREMIER_CONTACT: Standard(
            label="Consultation psychologique : premier contact en 7 jours après l'acceptation",
            service="consultation_psychologique", starts_on=e.REQUEST_ACCEPTED, stops_on=e.FIRST_CONTACT,
            duration=timedelta(days=7), source=s, reference="seed 001 L1731-1733; annexe L2357",
            fixed=True, seed_figure="7 jours",
        ),
        CONSULTATION_PSYCHOLOGIQUE_AMORCE_SUIVI: Standard(
            label="Consultation psychologique : suivi amorcé en 30 jours après l'acceptation",
            service="consultation_psychologique", starts_on=e.REQUEST_ACCEPTED, stops_on=e.FOLLOW_UP_STARTED,
            duration=timedelta(days=30), source=s, reference="seed 001 L1735-1736; annexe L2365",
            fixed=True, seed_figure="30 jours",
        ),
        CONSULTATION_PSYCHOLOGIQUE_URGENCE: Standard(
            label="Consultation psychologique : situation urgente traitée immédiatement ou au plus tard en 24 heures",
            service="consultation_psychologique", starts_on=e.REQUEST_ACCEPTED, stops_on=e.FIRST_CONTACT,
            timing=Timing.BY_URGENCY, source=s, reference="seed 001 L1738-1739; annexe L2377-2378",
            fixed=True, seed_figure="immédiat ou au plus tard 24 heures selon le degré d'urgence",
        ),
        # Regional deadlines: the seed sets no figure for these steps; the defaults are the network's.
        CRISE_REPONSE_EQUIPE: Standard(
            label="Équipe de crise : réponse (acceptation ou refus) à une demande d'intervention",
            service="intervention_crise_mobile", starts_on=e.TEAM_ASKED, stops_on=e.TEAM_ANSWERED,
            duration=timedelta(minutes=10), source=m,
            reference="pas dans le seed : défaut régional ; « immédiat » exige une réponse rapide (seed 001 L1267)",
        ),
        SUIVI_CONTACT: Standard(
            label="Suivi post-crise : contact prévu fait dans sa fenêtre", service="suivi_post_crise",
            starts_on=e.CONTACT_SCHEDULED, stops_on=e.CONTACT_MADE, timing=Timing.BY_PLAN, source=m,
            reference="pas dans le seed : le suivi post-crise est laissé à des travaux futurs (seed 001 L1204-1207)",
        ),
        REFERENCE_DECISION: Standard(
            label="Référence personnalisée : acceptation ou refus par le service qui reçoit",
            service="reference_personnalisee", starts_on=e.REFERRAL_SENT, stops_on=e.REFERRAL_DECIDED,
            duration=timedelta(days=2), source=m,
            reference="pas dans le seed : défaut régional (référence définie en seed 001 L730-733)",
        ),
        REFERENCE_ARRIVEE: Standard(
            label="Référence personnalisée : la personne a rejoint le service",
            service="reference_personnalisee", starts_on=e.REQUEST_ACCEPTED, stops_on=e.PERSON_REACHED_SERVICE,
            duration=timedelta(days=7), source=m,
            reference="pas dans le seed : défaut régional calqué sur le premier contact en 7 jours (seed 001 "
            "L1485-1487) ; devoir de s'assurer que la personne accède au service (L725-729)",
        ),
    }


def _default_urgency() -> dict[UrgencyLevel, UrgencyRule]:
    # The seed bounds the scale (immediate … 24 h at the latest, L787-788) but defines no levels between.
    return {
        UrgencyLevel.IMMEDIATE: UrgencyRule(label="Immédiat", urgent=True, immediate=True),
        UrgencyLevel.HIGH: UrgencyRule(label="Urgent (4 heures)", urgent=True, within=_h(4)),
        UrgencyLevel.MODERATE: UrgencyRule(label="Semi-urgent (24 heures)", urgent=True, within=_h(24)),
        UrgencyLevel.NONE: UrgencyRule(label="Non urgent", urgent=False),
    }


def _contact(label: str, offset: timedelta, within: timedelta) -> ContactSpec:
    return ContactSpec(label=label, offset=offset, within=within)


def _default_plans() -> dict[str, FollowUpPlan]:
    # The three kinds the seed names (L1204-1207: « suivi de crise de courte durée, suivi étroit,
    # hébergement temporaire »); their contacts are not in the seed and are regional defaults.
    d = timedelta(days=1)
    return {
        "suivi_crise_courte_duree": FollowUpPlan(
            label="Suivi de crise de courte durée",
            contacts=[_contact("24 heures", d, _h(12)), _contact("72 heures", 3 * d, _h(24)),
                      _contact("30 jours", 30 * d, 2 * d)],
        ),
        "suivi_etroit": FollowUpPlan(
            label="Suivi étroit",
            contacts=[_contact("12 heures", _h(12), _h(4)), _contact("24 heures", d, _h(6)),
                      _contact("48 heures", 2 * d, _h(12)), _contact("72 heures", 3 * d, _h(12)),
                      _contact("7 jours", 7 * d, d)],
        ),
        "hebergement_temporaire": FollowUpPlan(
            label="Hébergement temporaire",
            contacts=[_contact("Admission", timedelta(0), _h(4)), _contact("72 heures", 3 * d, _h(24)),
                      _contact("7 jours", 7 * d, d)],
        ),
    }


def _default_meeting_caps() -> dict[str, int]:
    return {
        "aaor": 3,  # « maximum de trois rencontres » (seed 001 L721-723)
        "consultation_sociale": 12,  # « maximum de 12 rencontres », then the PI is revised (L1423-1426)
        "consultation_psychologique": 12,  # same rule (L1671-1674)
    }


# « La durée moyenne d'un appel au service de consultation téléphonique psychosociale 24/7 (Info-Social) est de
# 25 minutes » (seed 001 L1030-1031; annexe L2452-2453): a quality indicator of the report, not a per-call cap.
INFO_SOCIAL_AVERAGE_CALL = timedelta(minutes=25)
INFO_SOCIAL_AVERAGE_CALL_REFERENCE = "seed 001 L1030-1031; annexe L2452-2453"

MEETING_CAP_REFERENCES = {
    "aaor": "seed 001 L721-723",
    "consultation_sociale": "seed 001 L1423-1426; annexe L2455-2456",
    "consultation_psychologique": "seed 001 L1671-1674; annexe L2458-2459",
}


class P38Designation(Frozen):
    """A service the agency (CISSS/CIUSSS) designated as « service d'aide en situation de crise » for the
    application of the Loi P-38.001 (seed 001 L1175-1179; measures under that law, L943-945), from `since`
    to `until` (Québec dates, both included; no `until`: still designated). `team_id` None: every team of
    the organisation."""

    org_id: Code
    team_id: Code | None = None
    since: date
    until: date | None = None
    reference: ShortText | None = None  # the agency's decision, as the region names it

    @model_validator(mode="after")
    def _dates(self) -> P38Designation:
        if self.until is not None and self.until < self.since:
            raise ValueError("a designation's `until` is not before its `since`")
        return self

    def covers(self, org_id: str, team_id: str | None, at: datetime) -> bool:
        day = local_date(at)
        return (self.org_id == org_id and (self.team_id is None or self.team_id == team_id)
                and self.since <= day and (self.until is None or day <= self.until))


class Limits(Frozen):
    """How far the moments a caller gives may stray from the command's own moment (`now`).

    Not in the seed: they guard against typing errors and clocks that disagree, not against
    practice, and a region may widen them. A partner's clock may run a little ahead of the
    engine's (`clock_skew`); a request cannot have arrived long before anyone opened a case for
    it (`intake_lookback`: a week covers a message left over a long weekend, not a year typed
    wrong); an extension gives a running deadline more time, not months (`extension_max` past its
    current due moment: past that, the supervisor reassigns, refers or closes instead, and may
    extend again when the new moment nears).
    """

    clock_skew: timedelta = Field(default=timedelta(minutes=5), ge=timedelta(0), le=timedelta(hours=1))
    intake_lookback: timedelta = Field(default=timedelta(days=7), gt=timedelta(0), le=timedelta(days=90))
    extension_max: timedelta = Field(default=timedelta(hours=72), gt=timedelta(0), le=timedelta(days=90))


class StandardsConfig(Frozen):
    """Every deadline and cap arrimage enforces, for one region. Read once at the entry point, passed down."""

    region: str = "defaut"
    # « Immédiat » is not defined in minutes by the seed (L1267, L2374): a regional choice.
    immediate_minutes: int = Field(default=60, ge=1, le=24 * 60)
    standards: dict[str, Standard] = Field(default_factory=_default_standards)
    urgency: dict[UrgencyLevel, UrgencyRule] = Field(default_factory=_default_urgency)
    follow_up_plans: dict[Code, FollowUpPlan] = Field(default_factory=_default_plans)
    meeting_caps: dict[Code, int] = Field(default_factory=_default_meeting_caps)
    limits: Limits = Field(default_factory=Limits)
    # The agency's P-38.001 designations (seed 001 L1175-1179). None: the region file declares none, and the
    # engine does not restrict who records an application (said as such by `arrimage standards`).
    p38_designations: list[P38Designation] | None = None
    # The AAOR's hours per territory, telephone and in person (seed 001 L767-770: at least 70 h a week each;
    # fixed, see `domain.standards.availability`). None: the region declares none, `arrimage standards` says so.
    aaor_hours: list[AaorHours] | None = Field(default=None, max_length=50)
    # The CSSS's own mobile crisis teams (L1181-1184), with their territories and hours: the teams routing asks
    # when a request names none, and the teams the 24/7 coverage counts. None: the region declares none.
    csss_teams: list[CsssTeam] | None = Field(default=None, max_length=MAX_TEAMS)

    @model_validator(mode="after")
    def _complete(self) -> StandardsConfig:
        required = {
            INFO_SOCIAL_REPONSE, AAOR_PREMIER_CONTACT, AAOR_RETOUR_APPEL, AAOR_ANALYSE, AAOR_URGENCE, CRISE_URGENCE,
            CONSULTATION_SOCIALE_PREMIER_CONTACT, CONSULTATION_SOCIALE_URGENCE,
            CONSULTATION_PSYCHOLOGIQUE_PREMIER_CONTACT, CONSULTATION_PSYCHOLOGIQUE_URGENCE,
            CRISE_REPONSE_EQUIPE, SUIVI_CONTACT, REFERENCE_DECISION, REFERENCE_ARRIVEE,
        }
        missing = sorted(required - set(self.standards))
        if missing:
            raise ValueError(f"these standards are required by the crisis case: {missing}")
        levels = sorted(set(UrgencyLevel) - set(self.urgency))
        if levels:
            raise ValueError(f"the urgency scale must give a rule for every level; missing: {levels}")
        if any(cap < 1 for cap in self.meeting_caps.values()):
            raise ValueError("a meeting cap is at least 1")
        check_declared(self.aaor_hours, self.csss_teams)
        return self

    @property
    def immediate(self) -> timedelta:
        return timedelta(minutes=self.immediate_minutes)

    def standard(self, standard_id: str) -> Standard:
        return self.standards[standard_id]

    def urgency_delay(self, level: UrgencyLevel) -> timedelta | None:
        """How long an urgent situation of this level may wait; None when the level is not urgent."""
        rule = self.urgency[level]
        if not rule.urgent:
            return None
        return self.immediate if rule.immediate else rule.within

    def deadline(self, standard_id: str, start: datetime, urgency: UrgencyLevel | None = None) -> datetime | None:
        """When the clock started at `start` runs out; None when the standard does not apply (not urgent)."""
        std = self.standards[standard_id]
        if std.timing is Timing.FIXED:
            assert std.duration is not None  # checked by Standard's validator
            return start + std.duration
        if std.timing is Timing.IMMEDIATE:
            return start + self.immediate
        if std.timing is Timing.BY_URGENCY:
            delay = self.urgency_delay(urgency or UrgencyLevel.NONE)
            return None if delay is None else start + delay
        raise ValueError(f"standard {standard_id} is timed by its follow-up plan, not by a start alone")

    def targets(self) -> dict[str, float]:
        """The share of cases each standard must meet, where the seed sets one (for `compliance(…, targets=…)`)."""
        return {k: v.target_ratio for k, v in self.standards.items() if v.target_ratio is not None}

    def meeting_cap_reached(self, service: str, meetings_held: int) -> bool:
        """True when the next meeting would exceed the cap: the plan must be revised first (L1423-1426)."""
        cap = self.meeting_caps.get(service)
        return cap is not None and meetings_held >= cap

    def p38_designated(self, org_id: str, team_id: str | None, at: datetime) -> bool:
        """Whether the agency designated this team for applying P-38.001 at `at` (seed 001 L1175-1179);
        True when the region declares no designations (`p38_designations` None)."""
        if self.p38_designations is None:
            return True
        return any(d.covers(org_id, team_id, at) for d in self.p38_designations)

    def teams_for(self, org_id: str, territory: str) -> list[CsssTeam]:
        """The CSSS teams the region declares for this organisation's cases in this territory, in file order."""
        return [t for t in self.csss_teams or [] if t.serves(org_id, territory)]

    def with_overrides(self, overrides: Mapping[str, Any]) -> StandardsConfig:
        """A copy with `overrides` deep-merged over this configuration, validated again; refused
        (`LoosenedStandard`) when it loosens a standard the ministry fixed."""
        merged = StandardsConfig.model_validate(_merge(self.model_dump(mode="json"), overrides))
        found = loosenings(merged)
        if found:
            raise LoosenedStandard(found)
        return merged


class Loosening(Frozen):
    """A fixed standard a region's figures loosen: its seed figure and the value asked."""

    standard: str
    seed_figure: str
    reference: str
    asked: str

    def message(self) -> str:
        return (f"{self.standard} is fixed by the ministry at {self.seed_figure} ({self.reference}); the region "
                f"asks {self.asked}: a region may tighten a fixed standard, never loosen it")


class LoosenedStandard(ValueError):
    """A region's configuration loosens standards the ministry fixed (seed 001 annexe II, « SF », L2307)."""

    def __init__(self, found: list[Loosening]) -> None:
        self.loosenings = found
        super().__init__("; ".join(x.message() for x in found))


def span_text(delta: timedelta) -> str:
    """A figure as the seed writes it: `4 min`, `2 h`, `10 jours`, `1 h 30 min`."""
    minutes = int(delta.total_seconds() // 60)
    seconds = int(delta.total_seconds()) % 60
    if seconds or not minutes:
        return f"{int(delta.total_seconds())} s"
    if minutes % (24 * 60) == 0 and minutes > 24 * 60:
        return f"{minutes // (24 * 60)} jours"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes // 60} h {minutes % 60} min" if minutes > 60 else f"{minutes} min"


def _timing_text(std: Standard) -> str:
    if std.timing is Timing.FIXED and std.duration is not None:
        return span_text(std.duration)
    return {Timing.IMMEDIATE: "immédiat", Timing.BY_URGENCY: "selon le degré d'urgence"}.get(
        std.timing, "selon le plan")


def loosenings(config: StandardsConfig) -> list[Loosening]:
    """What `config` loosens of the ministry's fixed standards (pure; empty when nothing).

    A fixed standard keeps its clock (what starts and stops it, how its deadline is set) and its
    marking; its duration may be shorter, never longer; its target share higher, never lower (seed 001
    L1018-1019: 90 % in 4 min). The meeting caps (L721-723, L1423-1426, L1671-1674) may be lowered, not
    raised. The « immédiat » level of the urgency scale stays immediate (L787-788, L1267).
    """
    ministry = StandardsConfig()
    out: list[Loosening] = []
    for sid, seed in ministry.standards.items():
        std = config.standards.get(sid)
        if not seed.fixed or std is None:
            continue
        figure, ref = seed.seed_figure or _timing_text(seed), seed.reference

        def loose(asked: str, sid: str = sid, figure: str = figure, ref: str = ref) -> None:
            out.append(Loosening(standard=sid, seed_figure=figure, reference=ref, asked=asked))

        if (std.timing, std.starts_on, std.stops_on) != (seed.timing, seed.starts_on, seed.stops_on):
            loose(f"a clock of its own ({std.starts_on.value} → {std.stops_on.value}, {_timing_text(std)})")
        elif not std.fixed or std.source != seed.source:
            loose("that it be no longer fixed by the ministry")
        elif std.duration is not None and seed.duration is not None and std.duration > seed.duration:
            loose(span_text(std.duration))
        elif seed.target_ratio is not None and (std.target_ratio is None or std.target_ratio < seed.target_ratio):
            loose("no target share" if std.target_ratio is None else f"{std.target_ratio:.0%} of cases")
    for service, seed_cap in ministry.meeting_caps.items():
        cap = config.meeting_caps.get(service, seed_cap)
        if cap > seed_cap:
            out.append(Loosening(standard=f"meeting_caps.{service}", seed_figure=f"{seed_cap} rencontres",
                                 reference=MEETING_CAP_REFERENCES[service], asked=f"{cap} rencontres"))
    for week in aaor_weeks(config.aaor_hours):  # a floor the ministry wrote for the AAOR (L767-770, L2253-2256)
        if not week.meets_floor:
            out.append(Loosening(standard=f"aaor_hours.{week.territory}.{week.channel.value}",
                                 seed_figure=AAOR_HOURS_SEED_FIGURE, reference=AAOR_HOURS_REFERENCE,
                                 asked=f"{_hours_text(week.weekly_minutes)} par semaine"))
    rule = config.urgency[UrgencyLevel.IMMEDIATE]
    if not (rule.urgent and rule.immediate):
        asked = "not urgent" if not rule.urgent else f"{span_text(rule.within or timedelta(0))}"
        out.append(Loosening(standard="urgency.immediat", seed_figure="immédiat",
                             reference="seed 001 L787-788, L1267", asked=asked))
    return out


def _hours_text(minutes: int) -> str:
    return f"{minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, Mapping):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    return over

