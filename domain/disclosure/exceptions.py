"""The exception report: what an auditor looks at first (disclosure-law.md 3.10 R29). A pure computation.

From the registers of the period, it lists the emergency disclosures (those awaiting a supervisor's
review, and those whose review is overdue at `now`), the communications made on a legal basis rather
than the person's own consent, counted by basis, every use of a consent that was not valid when it
was used (must be empty), and the refusals notified. The use case (``usecases.disclosure``) loads
the registers and the consents; `now` comes from its caller.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from domain.disclosure.model import BasisKind, ConsentState, ConsentView, Decision
from domain.disclosure.register import EmergencyDisclosureView, RefusalEntry, RegisterView
from domain.ententes.model import Frozen


class ExceptionReport(Frozen):
    """What an auditor looks at first (disclosure-law.md 3.10 R29)."""

    emergencies: list[EmergencyDisclosureView]
    pending_reviews: list[EmergencyDisclosureView]
    overdue_reviews: list[EmergencyDisclosureView]
    without_consent_by_basis: dict[str, int]  # content allowed on a legal basis, not the person's own
    expired_consent_uses: list[str]  # decision ids: must be empty
    refusals: list[RefusalEntry]


def uses_consent(d: Decision) -> bool:
    """A decision allowed on a consent (whose validity the report re-checks)."""
    return d.basis is not None and d.basis.kind is BasisKind.CONSENT and d.basis.consent_id is not None


def consent_not_valid(d: Decision, consents: Sequence[ConsentView]) -> bool:
    """Re-check, against the consent as recorded today (`consents`: the person's), that it was valid when used."""
    if d.basis is None or not uses_consent(d):
        return False
    found = [x for x in consents if x.consent_id == d.basis.consent_id]
    return not found or found[0].state_at(d.moment) is not ConsentState.VALID


def exception_report(
    registers: Sequence[RegisterView], decisions: Sequence[Decision], consents: Mapping[str, Sequence[ConsentView]],
    now: datetime, *, since: datetime | None = None, until: datetime | None = None,
) -> ExceptionReport:
    """The report over `registers`; `decisions` are the period's accesses, `consents` each person's consents
    (by subject id, for the decisions that used one)."""
    emergencies = [e for v in registers for e in v.emergencies
                   if (since is None or e.particulars.occurred_at >= since)
                   and (until is None or e.particulars.occurred_at < until)]
    by_basis = Counter(
        d.basis.code for d in decisions
        if d.basis is not None and d.basis.kind is BasisKind.LEGAL_BASIS and d.communication
    )
    return ExceptionReport(
        emergencies=emergencies,
        pending_reviews=[e for e in emergencies if e.pending],
        overdue_reviews=[e for e in emergencies if e.pending and now > e.review_due],
        without_consent_by_basis=dict(sorted(by_basis.items())),
        expired_consent_uses=[d.decision_id for d in decisions
                              if consent_not_valid(d, consents.get(d.subject_id, ()))],
        refusals=[r for v in registers for r in v.refusals
                  if (since is None or r.notified_at >= since) and (until is None or r.notified_at < until)],
    )
