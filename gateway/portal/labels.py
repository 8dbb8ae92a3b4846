"""The French words of the portal's pages, for the codes they show.

The CLI's labels (`cli.display.LABELS`) sit in a layer above the gateway, which may not import it: the
stages and statuses the portal shows are repeated here with the same words.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from domain.clock import quebec_text
from domain.crisis.state import CaseStage, DeadlineStatus, ReferralStatus
from domain.disclosure.model import Outcome
from domain.ententes.state import EntenteStatus
from gateway.portal.asks import Action, AskKind

WORDS: dict[type[StrEnum], dict[str, str]] = {
    CaseStage: {"accueil": "accueil", "transfert": "transfert", "escalade": "escalade",
                "intervention": "intervention", "orientation": "orientation",
                "suivi_post_crise": "suivi post-crise", "reference": "référence", "fermee": "fermée"},
    DeadlineStatus: {"ouvert": "ouvert", "prolonge": "prolongé", "respecte": "respecté", "manque": "manqué",
                     "annule": "annulé"},
    ReferralStatus: {"envoyee": "envoyée", "acceptee": "acceptée", "refusee": "refusée",
                     "service_rejoint": "service rejoint"},
    EntenteStatus: {"brouillon": "brouillon", "en_signature": "en signature", "signee": "signée",
                    "en_vigueur": "en vigueur", "revoquee": "révoquée", "expiree": "expirée",
                    "abandonnee": "abandonnée"},
    Outcome: {"autorise": "autorisé", "partiel": "partiel", "refuse": "refusé"},
    AskKind: {"transfert": "Transfert demandé à votre équipe", "arrivee": "Arrivée sur place à confirmer",
              "reference": "Référence personnalisée reçue", "service_rejoint": "Service rejoint à confirmer"},
    Action: {"accepter": "Accepter le transfert", "refuser": "Refuser le transfert",
             "arrivee": "Confirmer l'arrivée sur place", "accepter-reference": "Accepter la référence",
             "refuser-reference": "Refuser la référence",
             "service-rejoint": "La personne a rejoint le service"},
}
DONE: dict[Action, str] = {
    Action.ACCEPT: "Transfert accepté.", Action.DECLINE: "Transfert refusé.",
    Action.ARRIVE: "Arrivée sur place enregistrée.", Action.ACCEPT_REFERRAL: "Référence acceptée.",
    Action.REFUSE_REFERRAL: "Référence refusée.", Action.REACHED: "Service rejoint : la référence est complétée.",
}


def label(value: StrEnum | None) -> str:
    if value is None:
        return "—"
    return WORDS.get(type(value), {}).get(value.value, value.value)


def when(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    return quebec_text(value) if isinstance(value, datetime) else value.isoformat()


def time_left(seconds: float | None) -> str:
    """`reste 1 h 05 min` or `dépassé de 12 min`."""
    if seconds is None:
        return "aucune échéance"
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    text = f"{days} j {hours} h" if days else (f"{hours} h {mins:02d} min" if hours else f"{mins} min")
    return f"reste {text}" if seconds >= 0 else f"dépassé de {text}"
