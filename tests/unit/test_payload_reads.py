"""Who sees a workflow's payloads decoded (`domain.audit.payload_reads`, the codec server's rules): pure."""

from __future__ import annotations

import pytest

from domain.audit.payload_reads import (
    PAYLOAD_ITEM,
    WorkflowKind,
    decide_institution,
    decide_without_person,
    payload_items,
    payload_purpose,
    payload_workflow,
)
from domain.disclosure.model import Outcome
from domain.disclosure.roles import ItemCategory, PurposeKind, Role
from workflows.crisis import workflow_id as case_workflow
from workflows.entente import workflow_id as entente_workflow
from workflows.episodes import workflow_id as episode_workflow


def test_the_workflow_ids_are_the_workflows_own() -> None:
    assert payload_workflow(case_workflow("C-ABCDEFGH23")).kind is WorkflowKind.CASE
    assert payload_workflow(episode_workflow("E-ABCDEFGH23")).code == "E-ABCDEFGH23"
    assert payload_workflow(entente_workflow("ENT-LAV-2026-01")).kind is WorkflowKind.ENTENTE
    assert payload_workflow("case-").kind is WorkflowKind.UNKNOWN
    assert payload_workflow("temporal-sys-batch").kind is WorkflowKind.UNKNOWN


def test_payloads_are_content_whatever_the_purpose_and_the_care_team_asks_for_care() -> None:
    """A history decoded is the file itself: never framed as audit metadata (disclosure-law 3.1 R3)."""
    assert [(i.name, i.category) for i in payload_items()] == [(PAYLOAD_ITEM, ItemCategory.CLINICAL)]
    assert payload_purpose(Role.SUPERVISOR) is PurposeKind.CARE
    assert payload_purpose(Role.INTERVENANT) is PurposeKind.CARE
    assert payload_purpose(Role.AUDITOR) is PurposeKind.AUDIT


def test_only_the_files_institution_asks() -> None:
    assert decide_institution("cisss-laval", "cisss-laval") is None
    refused = decide_institution("cps-laval", "cisss-laval")
    assert refused is not None and refused.outcome is Outcome.REFUSED and "cisss-laval" in refused.reason


@pytest.mark.parametrize("role", list(Role))
def test_an_entente_decodes_for_its_parties_entente_readers_and_nothing_else_does(role: Role) -> None:
    entente = payload_workflow("entente-ENT-1")
    readers = {Role.INTERVENANT, Role.SUPERVISOR, Role.AUDITOR, Role.PARTNER_ORG}
    assert (decide_without_person(entente, role, party=True).outcome is Outcome.ALLOWED) == (role in readers)
    assert decide_without_person(entente, role, party=False).outcome is Outcome.REFUSED
    assert decide_without_person(payload_workflow("other-1"), role, party=True).outcome is Outcome.REFUSED
