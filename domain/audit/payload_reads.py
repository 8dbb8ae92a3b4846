"""Who sees a workflow's payloads decoded in Temporal's UI (the codec server, `gateway.codec_server`): pure.

Temporal's UI shows a workflow's history; its payloads (inputs, results, updates, queries, failures) are the
workflow's content, encrypted by the payload codec (``adapters.temporal.codec``). The codec server decodes them
only for who the rules below allow, and the default is to show nothing: a payload not decoded stays encoded, and
the UI shows it as it is.

- **A crisis case's or an épisode de services' workflow** (``case-C-…``, ``episode-E-…``): its payloads hold the
  person's file itself (the intake with its words, every command, every view), so reading them is reading that
  file. First the institution: only the people of the case's responsible organisation (the CISSS/CSSS whose case
  it is) may ask; a partner, whatever its standing in the case, reads its operational view through the gateway
  (`domain.crisis.partner_view`), never the whole file, and its refusal is logged in the record-level reads log
  (no decision about the person is made for it). Then the disclosure rules (`disclosure.rules.decide`), in the
  person's register like `cases history`, for one item framed as record content **whatever the purpose**
  (`payload_items`): a history decoded is content, not audit metadata, so an auditor (audit metadata only,
  disclosure-law 3.1 R3, POL-AUDIT) sees nothing decoded, and a supervisor, whose usual purpose is an audit,
  asks for care (`payload_purpose`: working the case's history is the care team's work, LSSSS 19 / LRSSS 5 with
  the institution's own team), decided with the basis the rules find for them and, for an intervenant, their
  access authorisations as registered (R-22.1, r. 1, s. 8). Every other role asks for its usual purpose and the
  rules refuse what they refuse.
- **An entente's workflow** (``entente-…``): ententes carry no personal information; the roles that read ententes
  from the record (`replay.ENTENTE_READERS`: `entente_allowed`, auditors included, as `audit replay` lets them)
  see its payloads decoded when their organisation is one of its parties, as `GET /v1/ententes/{code}` does;
  registered in the record-level reads log (`ReadKind.WORKFLOW_PAYLOADS`).
- **Any other workflow**: refused (nothing the engine knows to decide on).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.audit.reads import ReadDecision
from domain.audit.replay import DEFAULT_PURPOSE, entente_allowed
from domain.disclosure.model import DossierItem, Outcome
from domain.disclosure.roles import CARE_TEAM, ItemCategory, PurposeKind, Role

PAYLOAD_ITEM = "charges utiles du workflow (Temporal)"
# The workflow ids of `workflows.crisis`, `workflows.episodes` and `workflows.entente` (tests/unit checks them).
CASE_PREFIX = "case-"
EPISODE_PREFIX = "episode-"
ENTENTE_PREFIX = "entente-"
INSTITUTION_RULE = ("POLITIQUE (charges utiles Temporal: l'etablissement responsable du dossier seulement; un "
                    "partenaire lit sa vue operationnelle)")
ENTENTE_RULE = "POLITIQUE (ententes: aucun renseignement personnel; parties seulement)"
UNKNOWN_RULE = "POLITIQUE (charges utiles Temporal: refus par defaut)"


class WorkflowKind(StrEnum):
    CASE = "case"
    EPISODE = "episode"
    ENTENTE = "entente"
    UNKNOWN = "unknown"

    @property
    def personal(self) -> bool:
        return self in (WorkflowKind.CASE, WorkflowKind.EPISODE)


@dataclass(frozen=True)
class PayloadWorkflow:
    workflow_id: str
    kind: WorkflowKind
    code: str  # the case, episode or entente code ("" for an unknown workflow)


def payload_workflow(workflow_id: str) -> PayloadWorkflow:
    for prefix, kind in ((CASE_PREFIX, WorkflowKind.CASE), (EPISODE_PREFIX, WorkflowKind.EPISODE),
                         (ENTENTE_PREFIX, WorkflowKind.ENTENTE)):
        if workflow_id.startswith(prefix) and len(workflow_id) > len(prefix):
            return PayloadWorkflow(workflow_id, kind, workflow_id.removeprefix(prefix))
    return PayloadWorkflow(workflow_id, WorkflowKind.UNKNOWN, "")


def payload_items() -> list[DossierItem]:
    """What a decode asks for: the workflow's payloads, record content whatever the purpose (never metadata)."""
    return [DossierItem(name=PAYLOAD_ITEM, category=ItemCategory.CLINICAL)]


def payload_purpose(role: Role) -> PurposeKind:
    """The care team decodes for care; every other role asks for its usual purpose."""
    return PurposeKind.CARE if role in CARE_TEAM else DEFAULT_PURPOSE[role]


def decide_institution(org_id: str, responsible_org: str) -> ReadDecision | None:
    """None when `org_id` is the case's institution; otherwise the refusal (logged across persons)."""
    if org_id == responsible_org:
        return None
    return ReadDecision(Outcome.REFUSED, INSTITUTION_RULE,
                        f"{org_id} is not the institution responsible for the file ({responsible_org}): its payloads "
                        "are decoded for that institution's people only")


def decide_without_person(workflow: PayloadWorkflow, role: Role, party: bool) -> ReadDecision:
    """An entente's payloads (a party's entente readers), or a workflow the engine does not know (refused)."""
    if workflow.kind is not WorkflowKind.ENTENTE:
        return ReadDecision(Outcome.REFUSED, UNKNOWN_RULE,
                            f"workflow {workflow.workflow_id} is none the engine knows: nothing is decoded")
    if not party:
        return ReadDecision(Outcome.REFUSED, ENTENTE_RULE, f"not a party to entente {workflow.code}")
    ok, reason = entente_allowed(role)
    return ReadDecision(Outcome.ALLOWED if ok else Outcome.REFUSED, ENTENTE_RULE, reason)
