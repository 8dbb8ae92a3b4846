"""The crisis case workflow's input: a pydantic model, defined outside the workflow module.

`workflows.crisis` imports it under `workflow.unsafe.imports_passed_through()`, like the domain: the sandbox
then takes this module as it is instead of executing it again for every new case workflow (building a pydantic
model's schema on each run costs more than the rest of the workflow module). Deterministic and without side
effects: a model and its defaults, nothing else.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from domain.crisis.state import CaseView
from domain.standards.config import StandardsConfig

# The code paths of a run, as its input says. 0: a run started before this field; which paths it takes is told
# by the patch markers of its history (`workflow.patched`). MARKERLESS: started on code where every patch of
# `workflows.crisis` applies, so it asks for none: each `patched` call would write a marker and an upsert of
# `TemporalChangeVersion` into every new case's history (a visibility write on the server: measured, the largest
# cost a case has over a bare workflow). Continue-as-new carries it.
MARKERLESS = 1


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
    paths: int = 0  # MARKERLESS for a run started today (`starting`); 0 for the runs recorded before it

    @classmethod
    def starting(cls, case_code: str, config: StandardsConfig, **fields: Any) -> CaseWorkflowInput:
        """The input of a new case's workflow: today's code paths, without patch markers."""
        return cls(case_code=case_code, config=config, paths=MARKERLESS, **fields)
