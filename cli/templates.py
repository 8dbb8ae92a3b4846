"""Realistic starting points for `arrimage ententes template --kind …` and `arrimage cases template`.

Each is a complete, valid content file (the 13-section outline of the 2006 Cadre de
référence): edit names, volumes and dates, then `draft`. No effective date: the
entente takes effect on its last signature.
"""

from __future__ import annotations

from typing import Any

from domain.crisis.model import IntakeService
from domain.ententes.model import EntenteContent, EntenteKind

CISSS = {
    "party_id": "cisss-laval",
    "name": "CISSS de Laval",
    "type": "cisss",
    "mission": "Responsable du réseau local de services de Laval, dont le service Info-Social 8-1-1",
    "territories": ["laval"],
}
CENTRE_CRISE = {
    "party_id": "cc-laval",
    "name": "Centre de crise de Laval",
    "type": "centre_crise",
    "mission": "Intervention de crise 24/7 dans la communauté, au téléphone et dans le milieu",
    "territories": ["laval"],
}
CPS = {
    "party_id": "cps-laval",
    "name": "Centre de prévention du suicide de Laval",
    "type": "centre_prevention_suicide",
    "mission": "Prévention du suicide, intervention téléphonique et postvention",
    "territories": ["laval"],
}
ECOUTE = {
    "party_id": "ecoute-laval",
    "name": "Ligne d'écoute de Laval",
    "type": "centre_ecoute",
    "mission": "Écoute téléphonique anonyme et confidentielle",
    "territories": ["laval"],
}

FOLLOW_UP = {
    "committee": ["Direction santé mentale et dépendance du CISSS de Laval", "Direction générale du partenaire"],
    "review_interval_months": 12,
    "dispute_resolution": "Le comité de suivi tente de régler le différend; à défaut, les directions générales.",
    "accountability": "Bilan annuel des références et des délais présenté au comité de suivi.",
}

SERVICE: dict[str, Any] = {
    "title": "Intervention de crise dans le milieu — Laval",
    "kind": "entente_service",
    "preamble": "Arrimage du volet social d'Info-Social 8-1-1 avec le centre de crise du territoire.",
    "parties": [CISSS, CENTRE_CRISE],
    "agencies": [],
    "definitions": {
        "crise": "Rupture d'équilibre psychologique d'une personne qui ne parvient plus à y faire face seule.",
        "intervention mobile": "Intervention « face à face » dans le milieu de vie de la personne.",
    },
    "object": {
        "nature": "Prestation du service mobile d'intervention de crise « face à face », 24 heures sur 24, "
        "7 jours sur 7, sur référence d'Info-Social",
        "objectives": [
            "Intervenir immédiatement auprès des personnes en situation de crise",
            "Éviter le recours non essentiel à l'urgence hospitalière",
            "Assurer la continuité vers le suivi post-crise",
        ],
    },
    "clienteles": ["Toute personne de Laval vivant une situation de crise psychosociale ou psychiatrique"],
    "services": [
        {
            "service": "intervention_crise_mobile", "provider": "cc-laval", "territories": ["laval"],
            "description": "Équipe mobile dépêchée dans le milieu à la demande d'Info-Social",
            "annual_volume": 1200, "hours": "24/7",
        },
        {
            "service": "suivi_post_crise", "provider": "cc-laval", "territories": ["laval"],
            "description": "Suivi à court terme après l'intervention de crise", "hours": "7 jours, 8 h à 22 h",
        },
    ],
    "access": {
        "criteria": ["Situation de crise nécessitant une intervention dans le milieu dans l'heure"],
        "may_refer": ["cisss-laval"],
        "channels": ["telephone", "electronique"],
        "repondants": [
            {"party_id": "cisss-laval", "role": "Chef de service Info-Social", "name": "À désigner"},
            {"party_id": "cc-laval", "role": "Coordonnateur clinique", "name": "À désigner"},
        ],
        "overrides_specific_program": False,
    },
    "information_sharing": {
        "permitted": True,
        "purposes": ["continuité de l'intervention de crise"],
        "items": ["motif de la référence", "niveau d'urgence", "estimation du risque suicidaire"],
        "security_measures": [
            "transmission par ligne téléphonique dédiée ou messagerie chiffrée",
            "consentement de la personne consigné, sauf urgence (art. 19.0.1 LSSSS)",
            "registre des communications tenu par les deux parties",
        ],
    },
    "commitments": [
        {"party_id": "cc-laval", "text": "Répondre à toute demande urgente d'Info-Social", "access_delay": "1 heure"},
        {"party_id": "cisss-laval", "text": "Référer par le canal convenu et transmettre l'estimation du risque"},
    ],
    "funding": {"amount_cad": 450000, "period": "annuel", "paid_by": "cisss-laval"},
    "follow_up": FOLLOW_UP,
    "duration": {"effective_date": None, "end_date": None},
    "provisions": {
        "amendment_clause": "Toute modification fait l'objet d'une nouvelle version signée par les parties.",
        "revocation_notice_days": 90,
        "deposit": "Une copie signée est déposée au registre des ententes du CISSS.",
    },
    "annexes": [],
}

COLLABORATION: dict[str, Any] = {
    "title": "Collaboration Info-Social — ligne d'écoute de Laval",
    "kind": "entente_collaboration",
    "preamble": "Les parties conviennent de mécanismes de référence réciproque, sans échange de services.",
    "parties": [CISSS, ECOUTE],
    "object": {
        "nature": "Référence réciproque entre Info-Social 8-1-1 et la ligne d'écoute",
        "objectives": ["Orienter chaque appelant vers le service qui répond à son besoin"],
    },
    "clienteles": ["Appelants dont le besoin relève de l'autre service"],
    "access": {
        "criteria": ["Besoin d'écoute sans situation de crise", "Situation de crise: vers Info-Social"],
        "may_refer": ["cisss-laval", "ecoute-laval"],
        "channels": ["telephone"],
    },
    "information_sharing": {"permitted": False},
    "follow_up": FOLLOW_UP,
    "duration": {"effective_date": None, "end_date": None},
    "provisions": {"revocation_notice_days": 60},
}

CADRE: dict[str, Any] = {
    "title": "Entente-cadre Info-Social — organismes de crise et de prévention du suicide de Laval",
    "kind": "entente_cadre",
    "preamble": "Entente signée collectivement par le CISSS et les organismes communautaires du territoire.",
    "parties": [CISSS, CENTRE_CRISE, CPS],
    "object": {
        "nature": "Mécanismes d'arrimage entre Info-Social 8-1-1 et les organismes du territoire",
        "objectives": ["Une trajectoire sans rupture pour les personnes en crise ou à risque suicidaire"],
    },
    "clienteles": ["Personnes en crise ou à risque suicidaire, et leurs proches"],
    "services": [
        {"service": "intervention_crise_mobile", "provider": "cc-laval", "territories": ["laval"], "hours": "24/7"},
        {"service": "intervention_telephonique_crise", "provider": "cps-laval", "territories": ["laval"],
         "hours": "24/7"},
        {"service": "suivi_etroit", "provider": "cps-laval", "territories": ["laval"],
         "description": "Suivi étroit des personnes à risque suicidaire élevé après une référence"},
        {"service": "postvention", "provider": "cps-laval", "territories": ["laval"]},
    ],
    "access": {
        "criteria": ["Référence par Info-Social ou par un organisme partie à l'entente"],
        "may_refer": ["cisss-laval", "cc-laval", "cps-laval"],
        "channels": ["telephone", "electronique"],
    },
    "information_sharing": {
        "permitted": True,
        "purposes": ["référence personnalisée", "continuité de l'intervention"],
        "items": ["motif", "niveau d'urgence", "estimation du risque suicidaire"],
        "security_measures": ["messagerie chiffrée", "consentement consigné", "registre des communications"],
    },
    "commitments": [
        {"party_id": "cc-laval", "text": "Intervenir dans le milieu sur référence urgente", "access_delay": "1 heure"},
        {"party_id": "cps-laval", "text": "Rappeler toute personne référée", "access_delay": "24 heures"},
    ],
    "follow_up": FOLLOW_UP,
    "duration": {"effective_date": None, "end_date": None},
    "provisions": {"revocation_notice_days": 90},
}

TEMPLATES: dict[EntenteKind, dict[str, Any]] = {
    EntenteKind.SERVICE: SERVICE,
    EntenteKind.COLLABORATION: COLLABORATION,
    EntenteKind.CADRE: CADRE,
}


def template(kind: EntenteKind) -> dict[str, Any]:
    """A complete content file for `kind`, validated and with every section spelled out."""
    return EntenteContent.model_validate(TEMPLATES[kind]).model_dump(mode="json")


# ---------------------------------------------------------------------- crisis intakes
COMMENT = "//"  # keys starting with it are comments: `cases open` drops them before validating


def without_comments(data: Any) -> Any:
    """The intake as the command model reads it: every key starting with `//` dropped, at any depth."""
    if isinstance(data, dict):
        return {k: without_comments(v) for k, v in data.items() if not str(k).startswith(COMMENT)}
    if isinstance(data, list):
        return [without_comments(v) for v in data]
    return data


_RISKS = {
    "// suicide": "risque suicidaire: non_evalue, absent, faible, modere, eleve",
    "suicide": "modere",
    "// dangerousness": "potentiel de dangerosité (same scale)",
    "dangerousness": "faible",
    "// decompensation": "risque de décompensation (same scale)",
    "decompensation": "non_evalue",
}

_INTAKE_SERVICE = {
    IntakeService.INFO_SOCIAL: ("cisss-laval", "telephone", "the CSSS/CISSS itself, for its Info-Social 8-1-1"),
    IntakeService.AAOR: ("cisss-laval", "en_personne", "the CSSS/CISSS itself, for its AAOR desk"),
    IntakeService.PARTNER: ("cc-laval", "telephone",
                            "the partner organisation; it needs an entente in force with the CSSS covering "
                            "mobile crisis intervention in the territory"),
}


def case_template(service: IntakeService) -> dict[str, Any]:
    """An intake for `arrimage cases open --file`, each field preceded by a `// field` comment saying
    what it holds and its codes. Accepted as is: the comments are dropped before validation."""
    actor, mode, who = _INTAKE_SERVICE[service]
    return {
        "//": "Intake for `arrimage cases open --file THIS.json`. Keys starting with // are comments (ignored). "
              "Codes only outside `personal`: never a name, a health-card number or an address.",
        "// responsible_org": "code of the CSSS/CISSS responsible for the territory",
        "responsible_org": "cisss-laval",
        "// territory": "code of the territory (RLS) where the person is",
        "territory": "laval",
        "// actor_org": f"your organisation: {who}; leave it out to take --org or $ARRIMAGE_ORG",
        "actor_org": actor,
        "// subject_id": "the person's opaque id in your system (8 to 64 letters, digits, '.', '_', '-')",
        "subject_id": "usager-00000001",
        "intake": {
            "// service": "who takes the call or request: info_social, aaor, partenaire",
            "service": service.value,
            "// request_mode": "telephone or en_personne (AAOR: 2 h in person, 24 h by phone)",
            "request_mode": mode,
            "// crisis_type": "psychosociale, suicidaire, psychiatrique, violence_conjugale, agression_sexuelle, "
                              "autre",
            "crisis_type": "psychosociale",
            "// urgency": "immediat, urgent (4 h), semi_urgent (24 h), non_urgent (see `arrimage standards`)",
            "urgency": "urgent",
            "// risks": "risk estimates at intake",
            "risks": _RISKS,
            "// face_to_face_needed": "true when an intervention in the community is judged necessary "
                                      "(a mobile team is then asked)",
            "face_to_face_needed": True,
            "// p38_considered": "true when coercive measures under the Loi P-38.001 are considered",
            "p38_considered": False,
        },
        "// personal": "the reason in words and your own reference: encrypted, never shown in lists or history",
        "personal": {"reason": "[À REMPLIR] motif de l'appel, en quelques mots"},
        "// received_at": "optional: when the call or request arrived (ISO date-time; Québec time without an "
                          "offset); default: the opening",
        "// first_contact_at": "optional: when the person was first reached; default: the opening",
        "// awaiting_first_contact": "optional: true when nobody has reached the person yet (a message left)",
        "// case_code": "optional: leave out, a fresh opaque code is made",
        "// by": "optional: who opens it; default --by, $ARRIMAGE_USER or your login",
    }
