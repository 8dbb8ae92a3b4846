"""The crisis case workflow's input: a pydantic model, defined outside the workflow module.

`workflows.crisis` imports it under `workflow.unsafe.imports_passed_through()`, like the domain: the sandbox
then takes this module as it is instead of executing it again for every new case workflow (building a pydantic
model's schema on each run costs more than the rest of the workflow module). Deterministic and without side
effects: a model and its defaults, nothing else.
"""

from __future__ import annotations

from pydantic import BaseModel

from domain.crisis.state import CaseView
from domain.standards.config import StandardsConfig


class CaseWorkflowInput(BaseModel):
    case_code: str
    config: StandardsConfig = StandardsConfig()
    view: CaseView | None = None  # carried across continue-as-new
    history_limit: int = 5_000
    intake_sent: list[int] = []  # the attempts whose intake sending is decided (carried across continue-as-new)
    delivered: list[int] = []  # the attempts whose delivery to their team is decided (the same)
    referrals_delivered: list[int] = []  # the referrals whose delivery to their receiving service is decided
    # Off only where the server cannot hold custom search attributes (the time-skipping test server).
    search_attributes: bool = True
