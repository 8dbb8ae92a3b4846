"""Reads of the record outside a replay, pure: what each read asks for, and who may read across persons.

Every command that shows or exports record content is an access, decided and registered before
anything is shown (LRSSS 103; our policy before it is in force):

- a case read (`cases show`: the case's state; `cases history`: its event list) asks for that one
  item, framed as a replay frames it (`replay.dossier_items`: audit metadata for an audit, record
  content for any other purpose); `disclosure.rules.decide` decides it in the person's register;
- a register read (`audit register --person`) asks for the entries (their metadata) and each of
  their free-text fields (content, in words about the person): the person reads them whole on
  their own right (LSSSS 27.2 / LRSSS 265 with s. 18, through the self-access basis and its
  conditions), an auditor or a supervisor their metadata only; `decide` decides it too;
- a read across persons (a listing of cases, the access log, the exception report, an export)
  holds nobody's content but metadata about many: `decide_record_read`, registered in the
  record-level reads log (`record_reads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from domain.audit.record_reads import ReadKind
from domain.audit.replay import EVENTS_ITEM, STATE_ITEM, AggregateKind, dossier_items
from domain.disclosure.legal_bases import Concept, DisclosureConfig
from domain.disclosure.model import Decision, DossierItem, Outcome
from domain.disclosure.register import CommunicationEntry
from domain.disclosure.roles import CARE_TEAM, METADATA_READERS, ItemCategory, PurposeKind, Role

WITHHELD = "<retenu>"

# --------------------------------------------------------------------------- one case


class CaseItem(StrEnum):
    """What a case read shows: `cases show` the state, `cases history` the event list."""

    STATE = "show"
    EVENTS = "history"

    @property
    def item(self) -> str:
        return STATE_ITEM[AggregateKind.CASE] if self is CaseItem.STATE else EVENTS_ITEM


def case_items(purpose: PurposeKind) -> list[DossierItem]:
    """The case's items as the decision sees them (its personal keys are never asked for by these reads)."""
    return dossier_items(AggregateKind.CASE, [], purpose)


# --------------------------------------------------------------------------- one person's register

REGISTER_ITEM = "registre des communications"
FREE_TEXT = ("intended_use", "justification", "purpose_text")  # words about the person, sealed in the record


def register_items(purpose: PurposeKind) -> list[DossierItem]:
    """The register's entries: metadata for an audit, the person's own record otherwise; their free text
    is always content."""
    framing = ItemCategory.AUDIT if purpose is PurposeKind.AUDIT else ItemCategory.IDENTIFICATION
    return [DossierItem(name=REGISTER_ITEM, category=framing),
            *(DossierItem(name=k, category=ItemCategory.CLINICAL) for k in FREE_TEXT)]


def entries_shown(entries: list[CommunicationEntry], decision: Decision) -> list[dict[str, Any]] | None:
    """The entries as `decision` lets its reader see them: None when the register itself is refused;
    each free-text field the decision withholds reads `<retenu>`."""
    allowed = set(decision.allowed)
    if REGISTER_ITEM not in allowed:
        return None
    out = []
    for e in entries:
        row = e.model_dump(mode="json")
        for key in FREE_TEXT:
            if row.get(key) is not None and key not in allowed:
                row[key] = WITHHELD
        out.append(row)
    return out


# --------------------------------------------------------------------------- across persons

LISTING_RULE = "POLITIQUE (liste des dossiers: codes, etapes et echeances, sans renseignement personnel)"
PARTNER_RULE = ("POLITIQUE (vue operationnelle du partenaire: ses etapes et echeances, et ce que l'envoi enregistre "
                "lui a communique)")
# Who reads a partner's operational view, for the continuity of services under the entente: the partner's
# system, and the people of the partner organisation who work the case (its intervenants, its coordinators).
PARTNER_READERS = frozenset({Role.PARTNER_ORG, Role.INTERVENANT, Role.SUPERVISOR})


@dataclass(frozen=True)
class ReadDecision:
    outcome: Outcome
    rule: str
    reason: str


def decide_record_read(kind: ReadKind, role: Role, purpose: PurposeKind, day: date,
                       config: DisclosureConfig) -> ReadDecision:
    """Default deny. Audit metadata across persons (the access log, the exceptions, an export) is read by
    auditors and supervisors, for an audit, under the audit rule in force; a listing of cases (codes,
    stages, deadlines: no one's content) also by the care team, for care (its worklist); a partner's
    operational view of a case (its steps, and what a registered sending communicated to it: not audit
    metadata) only by a partner's readers, for the continuity of services (its standing in the case, a party
    under an entente in force, is checked before)."""
    if kind is ReadKind.WORKFLOW_PAYLOADS:  # content, not metadata: decided by `domain.audit.payload_reads`
        return ReadDecision(Outcome.REFUSED, config.cite(day, Concept.CONFIDENTIALITY),
                            f"{kind.value} is content: decided by the codec server's rules, not as metadata")
    if kind is ReadKind.PARTNER_CASE:
        if role in PARTNER_READERS and purpose is PurposeKind.CONTINUITY:
            return ReadDecision(Outcome.ALLOWED, PARTNER_RULE, "a partner's own part of the case, for continuity")
        who = ", ".join(sorted(r.value for r in PARTNER_READERS))
        return ReadDecision(Outcome.REFUSED, config.cite(day, Concept.CONFIDENTIALITY),
                            f"{kind.value} is read by a partner ({who}) for continuity; not by the role "
                            f"{role.value} for the purpose {purpose.value}")
    audit = config.basis_for(day, Concept.AUDIT)
    if role in METADATA_READERS and purpose is PurposeKind.AUDIT and audit is not None:
        return ReadDecision(Outcome.ALLOWED, audit.code, "audit metadata, read for an audit")
    if kind is ReadKind.CASE_LISTING and role in CARE_TEAM and purpose is PurposeKind.CARE:
        return ReadDecision(Outcome.ALLOWED, LISTING_RULE, "the care team's worklist: codes, stages, deadlines")
    who = ", ".join(sorted(r.value for r in METADATA_READERS))
    reason = f"{kind.value} is audit metadata, read by {who} for an audit"
    if kind is ReadKind.CASE_LISTING:
        team = ", ".join(sorted(r.value for r in CARE_TEAM))
        reason += f", or by the care team ({team}) for care"
    rule = audit.code if audit is not None else config.cite(day, Concept.CONFIDENTIALITY)
    return ReadDecision(Outcome.REFUSED, rule,
                        f"{reason}; not by the role {role.value} for the purpose {purpose.value}")
