"""The ministry's access standards as configuration, and the compliance figures computed from them.

`config` holds the standards model (defaults from seed 001, overridable per region by a
mapping merged over them; ``adapters.standards_file`` reads a region's TOML or JSON file);
`compliance` turns observed clocks into figures. Nothing here reads a file or a clock.
"""

from domain.standards.compliance import ComplianceFigures, Observation, compliance, nearest_rank
from domain.standards.config import (
    ClockEvent,
    ContactSpec,
    FollowUpPlan,
    Standard,
    StandardsConfig,
    Timing,
    UrgencyLevel,
    UrgencyRule,
)

__all__ = [
    "ClockEvent",
    "ComplianceFigures",
    "ContactSpec",
    "FollowUpPlan",
    "Observation",
    "Standard",
    "StandardsConfig",
    "Timing",
    "UrgencyLevel",
    "UrgencyRule",
    "compliance",
    "nearest_rank",
]
