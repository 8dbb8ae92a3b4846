"""The ministry's access standards as configuration, and the compliance figures computed from them.

`config` holds the standards (defaults from seed 001, overridable per region
from a TOML or JSON file); `compliance` turns observed clocks into figures.
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
    load_standards,
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
    "load_standards",
    "nearest_rank",
]
