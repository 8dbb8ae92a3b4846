"""The codec server's reads (`arrimage codec-server`): a workflow's payloads decoded for Temporal's UI, decided and
registered before anything decoded is answered. Thin: the decisions are `domain.audit.payload_reads` and, for a
person's file, `disclosure.rules.decide`.

- a crisis case's or an épisode de services' workflow: the case's institution first (a partner refused, logged in
  the record-level reads log); then decided and recorded in the person's register (`Reads._decide`, as `cases
  history`), for the payloads as record content;
- an entente's workflow, or one the engine does not know: decided and registered in the record-level reads log
  (`ReadKind.WORKFLOW_PAYLOADS`), allowed or refused.

A workflow whose case, episode or entente the record does not hold is refused and logged the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

from domain.audit.payload_reads import (
    PAYLOAD_ITEM,
    UNKNOWN_RULE,
    PayloadWorkflow,
    WorkflowKind,
    decide_institution,
    decide_without_person,
    payload_items,
    payload_purpose,
    payload_workflow,
)
from domain.audit.reads import ReadDecision
from domain.audit.record_reads import ReadKind, RecordRead, RecordReadEntry
from domain.disclosure.model import Outcome
from domain.errors import NotFound
from usecases.audit.reads import Reader, Reads, _text
from usecases.ententes import Ententes
from usecases.episodes import ServiceEpisodes


@dataclass(frozen=True)
class PayloadAccess:
    """One decision on one workflow's payloads, as registered."""

    allowed: bool
    access_id: str  # the decision id (person's register) or the read id (record-level reads log)
    registered_in: str  # "register:<person>" or "record_reads"
    code: str  # why, in one word: allowed, or the refusal's code / rule
    reason: str


class PayloadReads:
    def __init__(self, reads: Reads, episodes: ServiceEpisodes, ententes: Ententes) -> None:
        self.reads = reads
        self.episodes = episodes
        self.ententes = ententes

    def decide(self, workflow_id: str, reader: Reader, org_id: str, moment: datetime,
               scope: Mapping[str, object]) -> PayloadAccess:
        """Decide and register the decode of `workflow_id`'s payloads by `reader` of `org_id` (`scope`: codes only,
        e.g. the namespace and how many payloads)."""
        workflow = payload_workflow(workflow_id)
        reader = reader.model_copy(update={"purpose": payload_purpose(reader.role)})
        if workflow.kind.personal:
            return self._personal(workflow, reader, org_id, moment, scope)
        party = False
        if workflow.kind is WorkflowKind.ENTENTE:
            try:
                view = self.ententes.view(workflow.code)
            except NotFound:
                return self._across(workflow, reader, moment, scope, ReadDecision(
                    Outcome.REFUSED, UNKNOWN_RULE, f"no entente {workflow.code} in the record: nothing is decoded"))
            party = any(c is not None and org_id in c.party_ids for c in (view.content, view.proposed_content))
        return self._across(workflow, reader, moment, scope, decide_without_person(workflow, reader.role, party))

    def _personal(self, workflow: PayloadWorkflow, reader: Reader, org_id: str, moment: datetime,
                  scope: Mapping[str, object]) -> PayloadAccess:
        try:
            file = (self.reads.cases.get(workflow.code) if workflow.kind is WorkflowKind.CASE
                    else self.episodes.get(workflow.code))
        except NotFound:
            return self._across(workflow, reader, moment, scope, ReadDecision(
                Outcome.REFUSED, UNKNOWN_RULE, f"no {workflow.kind.value} {workflow.code} in the record: nothing is "
                                               "decoded"))
        refused = decide_institution(org_id, file.view().responsible_org)
        if refused is not None:
            return self._across(workflow, reader, moment, scope, refused)
        access_id = f"payloads:{workflow.kind.value}:{workflow.code}@v{file.version}:{uuid4().hex[:12]}"
        decision = self.reads._decide(file.subject_id, PAYLOAD_ITEM, payload_items(), reader, moment, access_id)
        allowed = PAYLOAD_ITEM in decision.allowed
        refusal = decision.refusal
        withheld = next(iter(decision.withheld), None)
        code = "allowed" if allowed else refusal.code if refusal else withheld.code if withheld else "refused"
        reason = (decision.basis.code if allowed and decision.basis else
                  refusal.reason if refusal else withheld.reason if withheld else "refused")
        return PayloadAccess(allowed, decision.decision_id, f"register:{file.subject_id}", code, reason)

    def _across(self, workflow: PayloadWorkflow, reader: Reader, moment: datetime, scope: Mapping[str, object],
                decided: ReadDecision) -> PayloadAccess:
        kind = ReadKind.WORKFLOW_PAYLOADS
        read = RecordRead(
            read_id=f"{kind.value}:{uuid4().hex[:12]}", kind=kind, actor_id=reader.actor_id, role=reader.role,
            purpose=reader.purpose, moment=moment, scope=_text({"workflow": workflow.workflow_id, **scope}),
            outcome=decided.outcome, rule=decided.rule, reason=decided.reason,
        )
        self.reads.record.save(RecordReadEntry.of(read))
        return PayloadAccess(read.allowed, read.read_id, "record_reads",
                             "allowed" if read.allowed else "refused", decided.reason)
