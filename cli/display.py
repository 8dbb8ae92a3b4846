"""How anything stored becomes text a person reads, in one place for every renderer.

- `printable`: stored text printed as data, never as commands to the terminal: control characters,
  escape sequences and bidirectional overrides come out escaped (`\\x1b`, `\\u202e`). Rich markup is
  not interpreted either: renderers hand cells and titles to Rich as `Text`, never as markup.
- `when`: a moment in Québec time with its zone (`domain.clock.quebec_text`); a date as it is.
- `label`: the French word, with its accents, for a stable ASCII code (`signee` → `signée`); the
  codes themselves stay in the enums and in `--json`.
- `limited` / `more_line`: long listings show a page in tables and say how many more there are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from domain.clock import quebec_text
from domain.crisis.model import (
    CandidateKind,
    ClosureKind,
    CrisisType,
    IntakeService,
    InterventionOutcome,
    PhoneDisposition,
    ReferralMeasure,
    RequestMode,
    RiskLevel,
)
from domain.crisis.state import AttemptStatus, CaseStage, DeadlineStatus, ReferralStatus
from domain.disclosure.model import Outcome
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.model import EntenteKind, OrganisationType
from domain.ententes.state import EntenteStatus, ProposalPurpose, ProposalStage, ReviewOutcome
from domain.standards.config import ClockEvent, UrgencyLevel

T = TypeVar("T")

# C0 and C1 controls, DEL, and the Unicode formatting characters that reorder or hide text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: Any) -> str:
    """`value` as text that prints as written: every control or formatting character escaped."""
    return _UNSAFE.sub(_escape, str(value))


def cell(value: Any) -> Text:
    """A table cell (or title): printable text, never Rich markup; `—` for nothing."""
    if value is None or value == "" or value == []:
        return Text("—")
    return Text(printable(when(value) if isinstance(value, date | datetime) else value))


def when(value: datetime | date | None) -> str:
    """A moment in Québec time with its zone (`2026-11-23 21:15 HNE`); a civil date as it is."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return quebec_text(value)
    return value.isoformat()


# ---------------------------------------------------------------------- French labels
LABELS: dict[type[StrEnum], dict[str, str]] = {
    EntenteStatus: {"brouillon": "brouillon", "en_signature": "en signature", "signee": "signée",
                      "en_vigueur": "en vigueur", "revoquee": "révoquée", "expiree": "expirée",
                      "abandonnee": "abandonnée"},
    ProposalStage: {"redaction": "rédaction", "en_signature": "en signature", "signee": "signée"},
    ProposalPurpose: {"initiale": "initiale", "modification": "modification", "renouvellement": "renouvellement"},
    ReviewOutcome: {"maintenir": "maintenir", "modifier": "modifier", "revoquer": "révoquer"},
    EntenteKind: {"entente_collaboration": "entente de collaboration", "entente_service": "entente de service",
                    "entente_cadre": "entente-cadre"},
    OrganisationType: {"cisss": "CISSS", "csss": "CSSS", "etablissement": "établissement", "agence": "agence",
                       "centre_prevention_suicide": "centre de prévention du suicide",
                       "centre_crise": "centre de crise", "centre_ecoute": "centre d'écoute",
                       "organisme_communautaire": "organisme communautaire", "autre": "autre"},
    CaseStage: {"accueil": "accueil", "transfert": "transfert", "escalade": "escalade",
                "intervention": "intervention", "orientation": "orientation",
                "suivi_post_crise": "suivi post-crise", "reference": "référence", "fermee": "fermée"},
    DeadlineStatus: {"ouvert": "ouvert", "prolonge": "prolongé", "respecte": "respecté", "manque": "manqué",
                     "annule": "annulé"},
    AttemptStatus: {"en_attente": "en attente", "acceptee": "acceptée", "refusee": "refusée",
                    "sans_reponse": "sans réponse", "retiree": "retirée"},
    ReferralStatus: {"envoyee": "envoyée", "acceptee": "acceptée", "refusee": "refusée",
                     "service_rejoint": "service rejoint"},
    IntakeService: {"info_social": "Info-Social", "aaor": "AAOR", "partenaire": "partenaire"},
    RequestMode: {"telephone": "téléphone", "en_personne": "en personne"},
    RiskLevel: {"non_evalue": "non évalué", "absent": "absent", "faible": "faible", "modere": "modéré",
                "eleve": "élevé", "efface": "[effacé]"},
    CrisisType: {"psychosociale": "psychosociale", "suicidaire": "suicidaire", "psychiatrique": "psychiatrique",
                 "violence_conjugale": "violence conjugale", "agression_sexuelle": "agression sexuelle",
                 "autre": "autre", "efface": "[effacé]"},
    UrgencyLevel: {"immediat": "immédiat", "urgent": "urgent", "semi_urgent": "semi-urgent",
                   "non_urgent": "non urgent"},
    PhoneDisposition: {"information": "information", "orientation": "orientation",
                       "crise_stabilisee": "crise stabilisée"},
    CandidateKind: {"equipe_csss": "équipe du CSSS", "organisme_communautaire": "organisme communautaire",
                    "programme_specifique": "programme spécifique"},
    InterventionOutcome: {"crise_desamorcee": "crise désamorcée", "urgence_hospitaliere": "urgence hospitalière",
                          "hebergement_crise": "hébergement de crise", "application_p38": "application P-38.001",
                          "efface": "[effacé]"},
    ClosureKind: {"fermeture_telephonique": "fermeture au téléphone", "crise_resolue": "crise résolue",
                  "service_rejoint": "service rejoint", "fermeture_superviseur": "fermeture par un superviseur"},
    ReferralMeasure: {"reference_personnalisee": "référence personnalisée", "accompagnement": "accompagnement"},
    ClockEvent: {"appel_recu": "appel reçu", "appel_repondu": "appel répondu",
                 "demande_en_personne": "demande en personne", "demande_telephonique": "demande téléphonique",
                 "demande_recue": "demande reçue", "premier_contact": "premier contact",
                 "retour_appel": "retour d'appel", "analyse_completee": "analyse complétée",
                 "urgence_identifiee": "urgence identifiée", "urgence_traitee": "urgence traitée",
                 "intervention_demandee": "intervention demandée", "arrivee_equipe": "arrivée de l'équipe",
                 "equipe_sollicitee": "équipe sollicitée", "reponse_equipe": "réponse de l'équipe",
                 "contact_prevu": "contact prévu", "contact_fait": "contact fait",
                 "reference_envoyee": "référence envoyée", "reference_decidee": "référence décidée",
                 "demande_acceptee": "demande acceptée", "personne_rejointe": "personne rejointe",
                 "suivi_amorce": "suivi amorcé"},
    Outcome: {"autorise": "autorisé", "partiel": "partiel", "refuse": "refusé"},
    Role: {"usager": "usager", "intervenant": "intervenant", "superviseur": "superviseur", "auditeur": "auditeur",
           "organisme_partenaire": "organisme partenaire", "chercheur": "chercheur", "heritier": "héritier",
           "proche": "proche", "parent": "parent", "representant": "représentant", "tribunal": "tribunal"},
    PurposeKind: {"soins": "soins", "acces_personnel": "accès personnel", "continuite": "continuité",
                  "prevention_violence": "prévention de la violence", "recherche": "recherche", "mandat": "mandat",
                  "pouvoir_legal": "pouvoir légal", "droits_successoraux": "droits successoraux",
                  "cause_deces": "cause du décès", "maladie_genetique": "maladie génétique",
                  "autorite_parentale": "autorité parentale", "representation": "représentation", "audit": "audit"},
}


def label(kind: type[StrEnum], value: StrEnum | str | None) -> str:
    """The French word people read for a code of `kind`; an unknown code prints as written (escaped)."""
    if value is None or value == "":
        return "—"
    code = value.value if isinstance(value, StrEnum) else value
    return LABELS.get(kind, {}).get(code) or printable(code).replace("_", " ")


# ---------------------------------------------------------------------- long listings
DEFAULT_LIMIT = 50

Limit = Annotated[int | None, typer.Option(
    "--limit", min=0, metavar="N",
    help=f"Show at most N rows (tables: {DEFAULT_LIMIT} unless given; 0: all; --json: all unless given).",
)]


def limited(rows: Sequence[T], limit: int | None, as_json: bool) -> tuple[list[T], int]:
    """The rows to show and how many are left out. Tables show `DEFAULT_LIMIT` unless told;
    `--json` gives everything unless `--limit` is given; `--limit 0` is everything."""
    n = (None if as_json else DEFAULT_LIMIT) if limit is None else (limit or None)
    if n is None or len(rows) <= n:
        return list(rows), 0
    return list(rows[:n]), len(rows) - n


def more_line(left_out: int) -> str | None:
    """The last line under a table that was cut, or None when nothing was left out."""
    return f"… {left_out} more (use --limit)" if left_out else None


def print_more(console: Console, left_out: int) -> None:
    """Print the last line under a cut table, if it was cut."""
    line = more_line(left_out)
    if line is not None:
        console.print(Text(line))
