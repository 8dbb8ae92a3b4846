"""Properties: no combination of role, consent state, moment and basis reads content without a basis.

Default deny (LSSSS 19 / LRSSS 5), consent validity (LSSSS 19.1 / LRSSS 6), the auditor's role
(digest 3.1 R3), one recorded decision per request (LRSSS 103; digest 3.1 R4).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.record.record import Record, event_name
from domain.clock import local_date
from domain.disclosure.legal_bases import Condition, Law
from domain.disclosure.model import BasisKind, ConsentState, Decision, DisclosureContext
from domain.disclosure.register import register_id
from domain.disclosure.roles import ItemCategory, PurposeKind, Role
from domain.disclosure.rules import decide
from tests.disclosure_builders import (
    CONFIG,
    ITEMS,
    PARTNER,
    SUBJECT,
    active_entente,
    authorisation,
    consent_view,
    context,
    particulars,
    request,
)
from usecases.disclosure import Disclosures

CONSENT_STATES = ["none", "valid", "expired", "withdrawn", "not_yet_valid", "wrong_purpose", "wrong_recipient"]
CONTENT = {i.name for i in ITEMS if i.category is not ItemCategory.AUDIT}
BASIS_CODES = [None, *(b.code for b in CONFIG.bases), "LSSSS-99"]
GRANTING = [b for b in CONFIG.bases if b.grants]

moments = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31),
                       timezones=st.just(UTC))
# Concentrate some draws on the switch itself: the hour either side of midnight, Québec time.
switch_edge = st.sampled_from([datetime(2024, 7, 1, 3, 59, tzinfo=UTC), datetime(2024, 7, 1, 4, 0, tzinfo=UTC),
                               datetime(2024, 7, 1, 4, 1, tzinfo=UTC)])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[object, DisclosureContext, str]:
    basis_code = draw(st.sampled_from(BASIS_CODES))
    if draw(st.booleans()):
        # Half the draws line role and purpose up with a granting basis, so bases are exercised.
        b = draw(st.sampled_from(GRANTING))
        role, purpose = draw(st.sampled_from(b.roles)), draw(st.sampled_from(b.purposes))
        basis_code = draw(st.sampled_from([None, b.code]))
    else:
        role, purpose = draw(st.sampled_from(list(Role))), draw(st.sampled_from(list(PurposeKind)))
    moment = draw(st.one_of(moments, switch_edge))
    state = draw(st.sampled_from(CONSENT_STATES))
    consent_purpose = purpose if state != "wrong_purpose" else draw(
        st.sampled_from([p for p in PurposeKind if p is not purpose]))
    recipient = draw(st.sampled_from(["actor-1", PARTNER, SUBJECT]))
    consents = []
    if state != "none":
        named = [recipient] if state != "wrong_recipient" else ["someone-else"]
        consents = [consent_view(state=state if state in {"valid", "expired", "withdrawn", "not_yet_valid"}
                                 else "valid", at=moment, purpose=consent_purpose, recipients=named,
                                 items=draw(st.lists(st.sampled_from(sorted(CONTENT)), unique=True)))]
    attest = draw(st.sampled_from(["none", "all", "all", "some"]))
    conditions = {"none": [], "all": list(Condition),
                  "some": draw(st.lists(st.sampled_from(list(Condition)), unique=True))}[attest]
    ctx = context(
        age=draw(st.integers(min_value=0, max_value=90)), at=moment, consents=consents,
        deceased_on=draw(st.sampled_from([None, local_date(moment) - timedelta(days=2), date(2030, 1, 1)])),
        youth_protection=draw(st.booleans()), parental_harm_determined=draw(st.booleans()),
        minor_refused_parent_access=draw(st.booleans()), cause_of_death_refusal=draw(st.booleans()),
    ).model_copy(update={
        "authorisations": [authorisation(recipient, at=moment)] if draw(st.booleans()) else [],
        "ententes": [active_entente()] if draw(st.booleans()) else [],
    })
    req = request(
        role, purpose, moment=moment, by=draw(st.sampled_from(["actor-1", SUBJECT])), recipient_id=recipient,
        items=draw(st.lists(st.sampled_from([i.name for i in ITEMS]), min_size=1, unique=True)),
        basis_code=basis_code, attestations=conditions,
        authority_reference=draw(st.sampled_from([None, "ref-1"])),
        agreement_purpose=draw(st.sampled_from([None, "continuité de l'intervention de crise"])),
        particulars=particulars(moment) if draw(st.booleans()) else None,
    )
    return req, ctx, state


def assert_content_has_a_basis(req: object, ctx: DisclosureContext, d: Decision) -> None:
    content = [i for i in d.allowed if i in CONTENT]
    assert set(d.allowed) <= set(req.items)  # type: ignore[attr-defined]  # never more than requested
    if not content:
        assert d.basis is None
        return
    assert d.basis is not None
    day = local_date(d.moment)
    if d.basis.kind is BasisKind.CONSENT:
        (c,) = [x for x in ctx.consents or [] if x.consent_id == d.basis.consent_id]
        assert c.state_at(d.moment) is ConsentState.VALID  # expired, withdrawn, not yet valid: never
        assert c.purpose is d.purpose and c.names(d.recipient_id, d.role)
        assert set(content) <= set(c.items)
    else:
        b = CONFIG.basis(d.basis.code)
        assert b is not None and b.grants and b.enabled and b.in_force_on(day)
        assert b.law in (CONFIG.law_for(day), Law.POLICY)
        assert d.role in b.roles and d.purpose in b.purposes
        assert set(b.conditions) <= set(req.attestations)  # type: ignore[attr-defined]
        if b.requires_particulars:
            assert req.particulars is not None  # type: ignore[attr-defined]


@settings(max_examples=1500, deadline=None)
@given(scenarios())
def test_no_content_without_a_valid_consent_or_an_applicable_basis_in_force(
    scenario: tuple[object, DisclosureContext, str],
) -> None:
    """LSSSS 19 / LRSSS 5 (default deny) and LSSSS 19.1 / LRSSS 6 (consent valid, for its purpose and
    recipients): every allowed content item has a valid consent or an in-force, applicable basis."""
    req, ctx, _ = scenario
    d = decide(req, ctx, CONFIG)  # type: ignore[arg-type]
    assert_content_has_a_basis(req, ctx, d)
    assert d.law is CONFIG.law_for(local_date(d.moment))


@settings(max_examples=500, deadline=None)
@given(scenarios())
def test_auditor_never_gets_content(scenario: tuple[object, DisclosureContext, str]) -> None:
    """Digest 3.1 R3: whatever the consent, basis or attestations, the auditor role reads no content."""
    req, ctx, _ = scenario
    d = decide(req.model_copy(update={"role": Role.AUDITOR}), ctx, CONFIG)  # type: ignore[attr-defined]
    assert not set(d.allowed) & CONTENT and d.basis is None


@settings(max_examples=500, deadline=None)
@given(scenarios())
def test_expired_withdrawn_or_future_consents_never_grant(scenario: tuple[object, DisclosureContext, str]) -> None:
    """LRSSS 6 / LSSSS 19.1: a consent gives access only within its period and before its withdrawal."""
    req, ctx, state = scenario
    d = decide(req, ctx, CONFIG)  # type: ignore[arg-type]
    if state in {"expired", "withdrawn", "not_yet_valid", "wrong_purpose", "wrong_recipient", "none"}:
        assert d.basis is None or d.basis.kind is not BasisKind.CONSENT


_ids = itertools.count()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_every_decision_is_recorded_exactly_once(scenario: tuple[object, DisclosureContext, str]) -> None:
    """LRSSS 103 (policy until in force): each request adds exactly one AccessDecided; a retry adds none."""
    req, ctx, _ = scenario
    app = _APP
    rid = register_id(SUBJECT)
    before = _count(app, rid)
    cmd = req.model_copy(update={"command_id": f"p-{next(_ids)}"})  # type: ignore[attr-defined]
    d = app.decide_and_record(cmd, ctx)
    assert _count(app, rid) == before + 1
    assert app.decide_and_record(cmd, ctx) == d and _count(app, rid) == before + 1
    assert_content_has_a_basis(cmd, ctx, d)


_APP = Disclosures(Record(), CONFIG)  # in-memory store: one register grows across examples


def _count(app: Disclosures, rid: UUID) -> int:
    if rid not in app.record.repository:
        return 0
    return sum(1 for e in app.record.stream(rid) if event_name(e) == "AccessDecided")
