"""Where each configured figure comes from: the ministry (its seed line), the region's file, or an engine default.

Pure: a configuration is compared with the engine's own defaults (`StandardsConfig()`), whose ministry
figures cite seed 001 and whose other figures say « pas dans le seed ». A figure that differs from its
default came from the region's file (a fixed one can only have been tightened: `config.loosenings`).
`arrimage standards --json` lists these figures.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from domain.ententes.model import Frozen
from domain.standards.availability import AAOR_HOURS_REFERENCE, AAOR_WEEKLY_FLOOR_HOURS
from domain.standards.config import (
    INFO_SOCIAL_AVERAGE_CALL,
    INFO_SOCIAL_AVERAGE_CALL_REFERENCE,
    MEETING_CAP_REFERENCES,
    Standard,
    StandardsConfig,
    Timing,
    span_text,
)

Provenance = Literal["ministere", "fichier_region", "defaut_moteur"]

_URGENCY_REFERENCE = ("pas dans le seed : l'échelle entre « immédiat » et 24 heures n'est pas définie ; "
                      "toute situation urgente est traitée au plus tard en 24 heures (seed 001 L787-788)")
_IMMEDIATE_REFERENCE = "pas dans le seed : « immédiat » (seed 001 L1267, annexe L2374) n'est pas défini en minutes"
_PLANS_REFERENCE = "pas dans le seed : le suivi post-crise est laissé à des travaux futurs (seed 001 L1204-1207)"
_LIMITS_REFERENCE = "pas dans le seed : garde-fous contre les erreurs de saisie et les horloges en désaccord"
_CSSS_TEAMS_REFERENCE = ("les équipes mobiles de crise du CSSS (seed 001 L1181-1184), leurs territoires et leurs "
                         "heures : déclarées par la région")
_P38_REFERENCE = "désignations de l'agence (CISSS/CIUSSS) pour l'application de la Loi P-38.001 (seed 001 L1175-1179)"


class Figure(Frozen):
    """One configured figure: its key, its value (as JSON), where it comes from and whether the ministry fixed it."""

    key: str
    value: Any
    provenance: Provenance
    fixed: bool
    reference: str


def _standard_value(std: Standard) -> dict[str, Any]:
    dumped = std.model_dump(mode="json")
    return {k: dumped[k] for k in ("timing", "duration", "target_ratio") if dumped[k] is not None}


def _standard_text(std: Standard, immediate_minutes: int) -> str:
    if std.timing is Timing.FIXED and std.duration is not None:
        return span_text(std.duration)
    if std.timing is Timing.IMMEDIATE:
        return f"immédiat ({immediate_minutes} min)"
    return "selon le degré d'urgence" if std.timing is Timing.BY_URGENCY else "selon le plan de suivi"


def figures(config: StandardsConfig) -> list[Figure]:
    """Every figure of `config` with its provenance, standards first, in a stable order."""
    engine = StandardsConfig()
    out: list[Figure] = []

    def add(key: str, value: Any, default: Any, seed: bool, fixed: bool, reference: str) -> None:
        provenance: Provenance = ("fichier_region" if value != default
                                  else "ministere" if seed else "defaut_moteur")
        out.append(Figure(key=key, value=value, provenance=provenance, fixed=fixed, reference=reference))

    for sid in sorted(config.standards):
        std = config.standards[sid]
        base = engine.standards.get(sid)
        value = _standard_value(std) | {"text": _standard_text(std, config.immediate_minutes)}
        default = None if base is None else _standard_value(base) | {
            "text": _standard_text(base, config.immediate_minutes)}
        seed = base is not None and base.source == "ministere"
        reference = base.reference if base is not None else std.reference
        add(f"standards.{sid}", value, default, seed, base is not None and base.fixed, reference)
    add("immediate_minutes", config.immediate_minutes, engine.immediate_minutes, False, False, _IMMEDIATE_REFERENCE)
    for level, rule in config.urgency.items():
        base_rule = engine.urgency[level]
        add(f"urgency.{level.value}", rule.model_dump(mode="json"), base_rule.model_dump(mode="json"), False,
            False, _URGENCY_REFERENCE)
    for service in sorted(config.meeting_caps):
        seed_cap = engine.meeting_caps.get(service)
        add(f"meeting_caps.{service}", config.meeting_caps[service], seed_cap, seed_cap is not None,
            seed_cap is not None, MEETING_CAP_REFERENCES.get(service, "fichier de la région"))
    out.append(Figure(key="info_social.duree_moyenne_appel", value=_iso(INFO_SOCIAL_AVERAGE_CALL),
                      provenance="ministere", fixed=True, reference=INFO_SOCIAL_AVERAGE_CALL_REFERENCE))
    for plan in sorted(config.follow_up_plans):
        base_plan = engine.follow_up_plans.get(plan)
        add(f"follow_up_plans.{plan}", config.follow_up_plans[plan].model_dump(mode="json"),
            None if base_plan is None else base_plan.model_dump(mode="json"), False, False, _PLANS_REFERENCE)
    limits, base_limits = config.limits.model_dump(mode="json"), engine.limits.model_dump(mode="json")
    for name in sorted(limits):
        add(f"limits.{name}", limits[name], base_limits[name], False, False, _LIMITS_REFERENCE)
    designations = (None if config.p38_designations is None
                    else [d.model_dump(mode="json") for d in config.p38_designations])
    add("p38_designations", designations, None, False, False,
        _P38_REFERENCE if designations is not None
        else _P38_REFERENCE + " ; aucune désignation déclarée : l'application n'est pas restreinte")
    # The floor is the ministry's (fixed: L767-770); the hours that meet it are the region's.
    out.append(Figure(key="aaor_hours.plancher_hebdomadaire", value=f"PT{AAOR_WEEKLY_FLOOR_HOURS}H",
                      provenance="ministere", fixed=True, reference=AAOR_HOURS_REFERENCE))
    aaor = None if config.aaor_hours is None else [a.model_dump(mode="json") for a in config.aaor_hours]
    teams = None if config.csss_teams is None else [t.model_dump(mode="json") for t in config.csss_teams]
    for key, declared, reference in (
        ("aaor_hours", aaor, f"heures de l'AAOR par territoire, téléphone et en personne ({AAOR_HOURS_REFERENCE})"),
        ("csss_teams", teams, _CSSS_TEAMS_REFERENCE),
    ):
        add(key, declared, None, False, False, reference if declared is not None else reference + " ; aucune déclarée")
    return out


def _iso(delta: timedelta) -> str:
    return f"PT{int(delta.total_seconds() // 60)}M"
