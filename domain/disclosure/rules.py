"""The disclosure decision, pure: who may read or receive which items, on which basis.

`decide(request, context, config)` never reads a clock or a store. Default deny
(LSSSS 19 / LRSSS 5): an item of content is allowed only when a valid consent
covering it, or an enabled, in-force legal basis that applies to the role and
purpose (with its conditions attested), grants it. One basis per decision: the
consent or basis that grants the most requested items (a consent first on a tie,
since the law allows communication *without* consent only by exception).
Minimum necessary: only items requested ∩ items the basis permits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID, uuid5

from domain.clock import local_date, quebec_text
from domain.disclosure import commands as c
from domain.disclosure.legal_bases import Concept, Condition, DisclosureConfig, Law, LegalBasis
from domain.disclosure.model import (
    BasisKind,
    BasisUsed,
    ConsentState,
    Decision,
    DisclosureContext,
    GrantorCapacity,
    Outcome,
    Refusal,
    Withheld,
)
from domain.disclosure.roles import (
    METADATA_READERS,
    NOT_A_COMMUNICATION,
    THIRD_PARTY_WITHHELD_FROM,
    ItemCategory,
    Provenance,
    PurposeKind,
    Role,
)
from domain.ententes.state import EntenteStatus
from domain.errors import RuleViolation

NAMESPACE = UUID("0f5c2a7e-3b61-4d8a-9e2c-7a4b1d6c8e90")


def decision_id(req: c.RequestAccess) -> str:
    """The command id, or a fingerprint of the request: a retried request records nothing new."""
    if req.command_id:
        return req.command_id
    canon = json.dumps(req.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return str(uuid5(NAMESPACE, hashlib.sha256(canon.encode()).hexdigest()))


@dataclass(frozen=True)
class _Obstacle:
    code: str
    reason: str
    article: str | None
    # lower is more telling: substantive (0), consent state (1), formal (2), a basis that does not concern this
    # person at all (3: another age, alive or dead; it never hides a basis that does), absence (4).
    rank: int = 0


INAPPLICABLE = 3


@dataclass(frozen=True)
class _Path:
    basis: BasisUsed
    items: list[str]
    withheld: list[Withheld] = field(default_factory=list)
    concept: Concept | None = None


@dataclass(frozen=True)
class _Ask:
    """A request and its context, with what every rule needs computed once."""

    req: c.RequestAccess
    ctx: DisclosureContext
    config: DisclosureConfig
    day: date
    law: Law
    content: list[str]

    def cite(self, concept: Concept) -> str:
        return self.config.cite(self.day, concept)

    def category(self, item: str) -> ItemCategory:
        found = self.ctx.item(item)
        return found.category if found else ItemCategory.CLINICAL

    @property
    def age(self) -> int | None:
        return self.ctx.subject.age_on(self.day)

    @property
    def deceased(self) -> bool:
        d = self.ctx.subject.deceased_on
        return d is not None and d <= self.day


def _only(ask: _Ask, keep: Callable[[str], bool], code: str, reason: str, article: str | None) -> _Path | None:
    """A path over the content items `keep` accepts; the others are withheld with the reason."""
    items = [i for i in ask.content if keep(i)]
    withheld = [Withheld(item=i, code=code, reason=reason, article=article) for i in ask.content if not keep(i)]
    if not items:
        return None
    return _Path(basis=BasisUsed(kind=BasisKind.LEGAL_BASIS, code=""), items=items, withheld=withheld)


# --------------------------------------------------------------------------- the decision


def decide(req: c.RequestAccess, ctx: DisclosureContext, config: DisclosureConfig) -> Decision:
    day = local_date(req.as_of or req.moment)  # the law, the age and the consents of the moment decided
    law = config.law_for(day)
    requested = list(dict.fromkeys(req.items))
    withheld: list[Withheld] = []
    content: list[str] = []
    metadata: list[str] = []
    for name in requested:
        found = ctx.item(name)
        if found is None:
            withheld.append(Withheld(item=name, code="unknown_item", reason="no such item in the record", article=None))
        else:
            (metadata if found.category is ItemCategory.AUDIT else content).append(name)
    ask = _Ask(req=req, ctx=ctx, config=config, day=day, law=law, content=content)

    allowed_meta, meta_basis, meta_withheld = _metadata(ask, metadata)
    withheld += meta_withheld

    basis: BasisUsed | None = None
    allowed_content: list[str] = []
    obstacle: _Obstacle | None = None
    if ask.content:
        if req.role is Role.AUDITOR:
            # The auditor reads every audit event and never clinical content through that role
            # (disclosure-law.md 3.1 R3), whatever consent or basis is invoked.
            article = ask.cite(Concept.AUDIT)
            withheld += [Withheld(item=i, code="auditor_no_content",
                                  reason="the auditor role never reads record content", article=article)
                         for i in ask.content]
            obstacle = _Obstacle("auditor_no_content", "the auditor role never reads record content", article)
        else:
            chosen, obstacle = _choose(ask)
            if chosen is None:
                assert obstacle is not None
                withheld += [Withheld(item=i, code=obstacle.code, reason=obstacle.reason, article=obstacle.article)
                             for i in ask.content]
            else:
                items, post = _post_filters(ask, chosen.items)
                withheld += chosen.withheld + post
                if items:
                    basis, allowed_content = chosen.basis, items

    allowed = allowed_meta + allowed_content
    outcome = Outcome.REFUSED if not allowed else (Outcome.PARTIAL if withheld else Outcome.ALLOWED)
    refusal = _refusal(ask, withheld, obstacle) if outcome is not Outcome.ALLOWED else None
    communication = bool(allowed_content) and req.role not in NOT_A_COMMUNICATION
    return Decision(
        decision_id=decision_id(req), subject_id=req.subject_id, actor_id=req.by, role=req.role,
        recipient_id=req.receiver, purpose=req.purpose, moment=req.moment, law=law, requested=requested,
        allowed=allowed, withheld=withheld, basis=basis, metadata_basis=meta_basis, outcome=outcome,
        refusal=refusal, communication=communication, as_of=req.as_of,
        register_article=_register_article(ask, basis) if communication else None,
        log_article=ask.cite(Concept.ACCESS_LOG),
    )


def _metadata(ask: _Ask, metadata: list[str]) -> tuple[list[str], str | None, list[Withheld]]:
    if not metadata:
        return [], None, []
    audit = ask.config.basis_for(ask.day, Concept.AUDIT)
    if audit is not None and ask.req.role in METADATA_READERS and ask.req.purpose is PurposeKind.AUDIT:
        return metadata, audit.code, []
    reason = "audit metadata is read by auditors and supervisors, for an audit"
    if ask.req.role is Role.USAGER:
        reason = "the person obtains the register entries about them through the register (LRSSS 265 / s. 18)"
    article = audit.code if audit else ask.cite(Concept.CONFIDENTIALITY)
    return [], None, [Withheld(item=i, code="metadata_not_for_role", reason=reason, article=article) for i in metadata]


def _choose(ask: _Ask) -> tuple[_Path | None, _Obstacle | None]:
    obstacles: list[_Obstacle] = []
    paths: list[_Path] = []
    for found in [_consent_path(ask), *_basis_paths(ask)]:
        if isinstance(found, _Path):
            paths.append(found)
        else:
            obstacles.append(found)
    if ask.req.role is Role.PARTNER_ORG:
        paths, gate = _partner_gate(ask, paths)
        if gate is not None:
            obstacles.append(gate)
    if paths:
        return max(paths, key=lambda p: len(p.items)), None  # max() keeps the first on a tie: consent
    if not obstacles:
        obstacles.append(_default_deny(ask))
    return None, min(obstacles, key=lambda o: o.rank)


def _default_deny(ask: _Ask) -> _Obstacle:
    if ask.law is Law.LRSSS:
        # A right the LSSSS gave (heirs, LSSSS 23 para 1; representatives, 22; a deceased child's parent, 23
        # para 3) whose LRSSS provision the digest did not locate: say so, citing the confidentiality rule
        # that refuses, rather than a repealed article or an invented one (issue 11).
        lost = [b for b in ask.config.bases if b.grants and b.law is Law.LSSSS
                and ask.req.role in b.roles and ask.req.purpose in b.purposes]
        if ask.config.grants_for(ask.day, ask.req.role, ask.req.purpose):
            lost = []
        if lost:
            return _Obstacle(
                "lrsss_counterpart_not_located",
                f"{lost[0].code} ({lost[0].title}) ceased on {ask.config.law_switch}; the LRSSS provision that "
                "replaces it was not located, so no basis is configured for this role and purpose",
                ask.cite(Concept.CONFIDENTIALITY), rank=4)
    return _Obstacle(
        "no_basis",
        f"no valid consent and no legal basis in force lets the role {ask.req.role.value} "
        f"receive this content for the purpose {ask.req.purpose.value}",
        ask.cite(Concept.CONFIDENTIALITY), rank=4,
    )


# --------------------------------------------------------------------------- consent


def _consent_path(ask: _Ask) -> _Path | _Obstacle:
    req, art = ask.req, _consent_article(ask)
    consents = [x for x in ask.ctx.consents or [] if x.subject_id == req.subject_id]
    if req.consent_id is not None:
        consents = [x for x in consents if x.consent_id == req.consent_id]
    else:
        # A consent that names neither this recipient nor their role was given to others: it is not this
        # request's to use, nor its reason for a refusal (a tutor is not refused because a consent to a
        # partner expired; the basis they would need is what refuses them).
        consents = [x for x in consents if x.names(req.receiver, req.role)]
    if req.role is Role.USAGER or not consents:
        # The person reads on their own right; anyone else without a consent needs a basis.
        return _default_deny(ask)
    best: _Path | None = None
    obstacles: list[_Obstacle] = []
    for x in consents:
        state = x.state_at(req.as_of or req.moment)
        if state is not ConsentState.VALID:
            why = {ConsentState.EXPIRED: f"consent {x.consent_key} expired on {quebec_text(x.valid_until)}",
                   ConsentState.WITHDRAWN: f"consent {x.consent_key} was withdrawn",
                   ConsentState.NOT_YET_VALID: f"consent {x.consent_key} is valid from {quebec_text(x.valid_from)}"}
            obstacles.append(_Obstacle(f"consent_{state.value}", why[state], art, rank=1))
            continue
        age = ask.age
        if x.capacity is GrantorCapacity.PARENT_OR_TUTOR and (age is None or age >= 14):
            # LRSSS 6: from 14 the minor consents alone; a parent's earlier consent is
            # re-evaluated (digest 3.3 R13) and gives no access meanwhile.
            obstacles.append(_Obstacle("consent_capacity_lapsed",
                                       f"consent {x.consent_key} was given by a parent; the person is now 14 or "
                                       "over and consents alone", art, rank=1))
            continue
        if x.purpose is not req.purpose:
            obstacles.append(_Obstacle("consent_wrong_purpose",
                                       f"consent {x.consent_key} is for {x.purpose.value}, not {req.purpose.value}",
                                       art, rank=1))
            continue
        if not x.names(req.receiver, req.role):
            obstacles.append(_Obstacle("consent_wrong_recipient",
                                       f"consent {x.consent_key} does not name this recipient", art, rank=1))
            continue
        covered = set(x.items)
        path = _only(ask, lambda i, cv=covered: i in cv, "not_in_consent",  # type: ignore[misc]
                     f"not among the items of consent {x.consent_key}", art)
        if path is None:
            obstacles.append(_Obstacle("consent_wrong_items",
                                       f"consent {x.consent_key} covers none of the items requested", art, rank=1))
            continue
        path = _Path(basis=BasisUsed(kind=BasisKind.CONSENT, code="CONSENTEMENT", consent_id=x.consent_id,
                                     consent_valid_until=x.valid_until),
                     items=path.items, withheld=path.withheld)
        if best is None or len(path.items) > len(best.items):
            best = path
    if best is not None:
        return best
    return obstacles[0]


def _consent_article(ask: _Ask) -> str:
    """LRSSS 6 governs every consent; before it, LSSSS 19.1 governed consent for study, teaching or research
    only, and any other consent to access was that of LSSSS 19 (the record is confidential; accessible with
    the user's consent): disclosure-law.md, arts. 19 and 19.1."""
    if ask.law is Law.LSSSS and ask.req.purpose is not PurposeKind.RESEARCH:
        return ask.cite(Concept.CONFIDENTIALITY)
    return ask.cite(Concept.CONSENT)


# --------------------------------------------------------------------------- legal bases


def _basis_paths(ask: _Ask) -> list[_Path | _Obstacle]:
    req = ask.req
    if req.basis_code is None:
        candidates = ask.config.grants_for(ask.day, req.role, req.purpose)
        # The emergency basis is only ever used through the emergency path, with its record note.
        candidates = [b for b in candidates if not b.requires_particulars or req.particulars is not None]
        return [_apply(ask, b) for b in candidates]
    b = ask.config.basis(req.basis_code)
    conf = ask.cite(Concept.CONFIDENTIALITY)
    if b is None or not b.grants:
        return [_Obstacle("unknown_basis", f"{req.basis_code} is not a legal basis of the allow-list", conf, 2)]
    if not b.enabled:
        return [_Obstacle("basis_disabled", f"{b.code} is not enabled in this institution's allow-list", conf, 2)]
    if not b.in_force_on(ask.day) or b.law not in (ask.law, Law.POLICY):
        return [_Obstacle("basis_not_in_force", f"{b.code} is not in force on {ask.day} ({ask.law.value} applies)",
                          conf, 2)]
    if req.role not in b.roles:
        return [_Obstacle("basis_wrong_role", f"{b.code} does not apply to the role {req.role.value}", conf, 2)]
    if req.purpose not in b.purposes:
        return [_Obstacle("basis_wrong_purpose", f"{b.code} does not apply to the purpose {req.purpose.value}",
                          conf, 2)]
    return [_apply(ask, b)]


def _apply(ask: _Ask, b: LegalBasis) -> _Path | _Obstacle:
    req = ask.req
    applies = _APPLIES.get(b.concept)
    if applies is not None and (off := applies(ask, b)) is not None:
        return off
    missing = [x.value for x in b.conditions if x not in req.attestations]
    if missing:
        return _Obstacle("conditions_not_attested", f"{b.code} requires these conditions attested: {missing}",
                         b.code, rank=2)
    if b.requires_reference and not req.authority_reference:
        return _Obstacle("reference_missing", f"{b.code} requires the order, mandate or authorisation reference",
                         b.code, rank=2)
    if b.requires_particulars and req.particulars is None:
        return _Obstacle("particulars_missing", f"{b.code} requires the emergency record note", b.code, rank=2)
    gate = _GATES.get(b.concept, _any_content)
    found = gate(ask, b)
    if isinstance(found, _Obstacle):
        return found
    if found is None:
        return _Obstacle("nothing_permitted", f"{b.code} permits none of the items requested", b.code)
    return _Path(basis=BasisUsed(kind=BasisKind.LEGAL_BASIS, code=b.code), items=found.items,
                 withheld=found.withheld, concept=b.concept)


Gate = Callable[[_Ask, LegalBasis], "_Path | _Obstacle | None"]


def _any_content(ask: _Ask, b: LegalBasis) -> _Path | _Obstacle | None:
    return _only(ask, lambda _: True, "", "", b.code)


def _off(ask: _Ask, code: str, reason: str, concept: Concept = Concept.CONFIDENTIALITY) -> _Obstacle:
    """A basis that does not concern this person: the refusal cites the provision that does govern
    (`concept`), or the confidentiality rule when none does, never the provision that does not apply."""
    return _Obstacle(code, reason, ask.cite(concept), rank=INAPPLICABLE)


def _living(ask: _Ask, b: LegalBasis) -> _Obstacle | None:
    if ask.deceased:
        return _off(ask, "subject_deceased", "the person is deceased: only the rules for heirs and relatives apply")
    return None


def _after_death(ask: _Ask, b: LegalBasis) -> _Obstacle | None:
    if not ask.deceased:
        return _off(ask, "no_death_recorded", f"{b.code} applies after a death, and none is recorded")
    return None


def _applies_self(ask: _Ask, b: LegalBasis) -> _Obstacle | None:
    if ask.req.by != ask.req.subject_id:
        return _off(ask, "not_the_person", "the usager role reads only the person's own record")
    return _living(ask, b)


def _applies_minor_via_lawyer(ask: _Ask, b: LegalBasis) -> _Obstacle | None:
    age = ask.age
    if age is not None and age >= 14:
        return _off(ask, "not_under_14", f"the person is 14 or over: {b.code} concerns a person under 14",
                    Concept.SELF_ACCESS)
    return _living(ask, b)


def _applies_parent(ask: _Ask, b: LegalBasis) -> _Obstacle | None:
    """LSSSS 21 / LRSSS 23-24: which provision governs a parent's access depends on the minor's age that day."""
    if (dead := _living(ask, b)) is not None:
        return dead
    age = ask.age
    if age is None:
        return _off(ask, "age_unknown", "the person's age on the request date is needed: a parent's access "
                    "depends on whether the minor is under 14, 14 to 17, or of age")
    if age >= 18:
        return _off(ask, "adult", "the person is of age: a parent has no access of their own")
    if b.concept is Concept.PARENT_UNDER_14 and age >= 14:
        return _off(ask, "minor_14_plus", f"the person is {age}: a parent's access to the record of a minor of 14 "
                    f"or over is governed by {ask.cite(Concept.PARENT_14_PLUS)}", Concept.PARENT_14_PLUS)
    if b.concept is Concept.PARENT_14_PLUS and age < 14:
        return _off(ask, "minor_under_14_parent", f"the person is {age}: a parent's access to the record of a "
                    f"minor under 14 is governed by {ask.cite(Concept.PARENT_UNDER_14)}", Concept.PARENT_UNDER_14)
    return None


def _applies_deceased_child(ask: _Ask, b: LegalBasis) -> _Obstacle | None:
    if (alive := _after_death(ask, b)) is not None:
        return alive
    death = ask.ctx.subject.deceased_on
    age = ask.ctx.subject.age_on(death) if death else None
    if age is None or age >= 14:
        return _off(ask, "not_under_14", f"{b.code} concerns a child who died under 14")
    return None


_APPLIES: dict[Concept, Callable[[_Ask, LegalBasis], _Obstacle | None]] = {
    Concept.SELF_ACCESS: _applies_self,
    Concept.MINOR_UNDER_14: _applies_minor_via_lawyer,
    Concept.PARENT_UNDER_14: _applies_parent,
    Concept.PARENT_14_PLUS: _applies_parent,
    Concept.REPRESENTATIVE: _living,
    Concept.HEIR: _after_death,
    Concept.CAUSE_OF_DEATH: _after_death,
    Concept.PARENT_DECEASED_CHILD: _applies_deceased_child,
    Concept.GENETIC: _after_death,
}


def _self_access(ask: _Ask, b: LegalBasis) -> _Path | _Obstacle | None:
    """LSSSS 17 / LRSSS 17, from 14; under 14, LSSSS 20 / LRSSS 21 refuse (through a lawyer only)."""
    age = ask.age
    if age is None:
        return _Obstacle("age_unknown", "the person's age on the request date is needed (under 14: no access)",
                         ask.cite(Concept.MINOR_UNDER_14))
    if age < 14:
        return _Obstacle("minor_under_14", "a person under 14 has access only through their lawyer in a "
                         "judicial proceeding", ask.cite(Concept.MINOR_UNDER_14))
    return _any_content(ask, b)


def _minor_via_lawyer(ask: _Ask, b: LegalBasis) -> _Path | _Obstacle | None:
    if ask.age is None:
        return _Obstacle("age_unknown", "the person's age on the request date is needed (under 14: through a "
                         "lawyer only)", b.code)
    return _any_content(ask, b)


def _care_team(ask: _Ask, b: LegalBasis) -> _Path | _Obstacle | None:
    at = ask.req.as_of or ask.req.moment
    auths = [a for a in ask.ctx.authorisations if a.holder_id == ask.req.receiver and a.active_at(at)]
    if not auths:
        return _Obstacle("no_active_authorisation",
                         "no active access authorisation (training current, discretion undertaking signed)", b.code)
    if any(not a.categories for a in auths):
        return _any_content(ask, b)
    cats = {cat for a in auths for cat in a.categories}
    return _only(ask, lambda i: ask.category(i) in cats, "outside_authorisation",
                 "outside the categories of the access authorisation", b.code)


def _parent_under_14(ask: _Ask, b: LegalBasis) -> _Path | _Obstacle | None:
    """LSSSS 21 al. 2 / LRSSS 23: refused on a determination of harm in a youth-protection file."""
    s = ask.ctx.subject
    if s.youth_protection and s.parental_harm_determined:
        who = "the institution, after consulting the DPJ," if ask.law is Law.LSSSS else "the DPJ"
        return _Obstacle("harm_to_child", f"{who} determined that communication to the parent could harm the child",
                         b.code)
    return _any_content(ask, b)


def _parent_14_plus(ask: _Ask, b: LegalBasis) -> _Path | _Obstacle | None:
    """LSSSS 21 al. 3 (the minor's refusal and harm) / LRSSS 24 (no likely harm, minor consulted)."""
    s = ask.ctx.subject
    if s.youth_protection and Condition.DPJ_CONSULTED not in ask.req.attestations:
        return _Obstacle("dpj_not_consulted", "youth protection file: the DPJ must be consulted first", b.code)
    if ask.law is Law.LSSSS:
        if s.minor_refused_parent_access and s.parental_harm_determined:
            return _Obstacle("minor_refused", "the minor refused and communication could harm their health", b.code)
        exclude_ypa = s.minor_refused_parent_access
    else:
        exclude_ypa = True  # LRSSS 24: always excluded
    return _only(ask, lambda i: not (exclude_ypa and _ypa(ask, i)), "ypa_protected",
                 "youth-protection information (YPA ss. 45.2, 50.1, 57.2.1, 70.2) is never given to the parent",
                 b.code)


def _ypa(ask: _Ask, item: str) -> bool:
    found = ask.ctx.item(item)
    return bool(found and found.ypa_protected)


def _cause_of_death(ask: _Ask, b: LegalBasis) -> _Path | _Obstacle | None:
    """LSSSS 23 al. 2 (unless a written refusal in the record) / LRSSS 8 par. 2 (the person's refusal)."""
    if ask.ctx.subject.cause_of_death_refusal:
        return _Obstacle("cause_of_death_refused", "the person refused in writing that the cause of death be given",
                         b.code)
    return _only(ask, lambda i: ask.category(i) is ItemCategory.CAUSE_OF_DEATH, "cause_of_death_only",
                 "relatives receive the cause of death only", b.code)


def _parent_deceased_child(ask: _Ask, b: LegalBasis) -> _Path | _Obstacle | None:
    return _only(ask, lambda i: ask.category(i) is not ItemCategory.PSYCHOSOCIAL, "psychosocial_excluded",
                 "information of a psychosocial nature is excluded", b.code)


def _genetic(ask: _Ask, b: LegalBasis) -> _Path | _Obstacle | None:
    # Allowed even if the person refused cause-of-death access (LRSSS 30; LSSSS 23 para 4 "despite").
    needed = {ItemCategory.CLINICAL, ItemCategory.CAUSE_OF_DEATH}
    return _only(ask, lambda i: ask.category(i) in needed, "not_needed_for_genetics",
                 "only medical information is needed to verify a genetic or hereditary disease", b.code)


_GATES: dict[Concept, Gate] = {
    Concept.SELF_ACCESS: _self_access,
    Concept.MINOR_UNDER_14: _minor_via_lawyer,
    Concept.CARE_TEAM: _care_team,
    Concept.PARENT_UNDER_14: _parent_under_14,
    Concept.PARENT_14_PLUS: _parent_14_plus,
    Concept.CAUSE_OF_DEATH: _cause_of_death,
    Concept.PARENT_DECEASED_CHILD: _parent_deceased_child,
    Concept.GENETIC: _genetic,
    Concept.AUDIT: lambda ask, b: _Obstacle("metadata_only", f"{b.code} gives audit metadata, never content",
                                            b.code),
}


# --------------------------------------------------------------------------- partner organisations


def _partner_gate(ask: _Ask, paths: list[_Path]) -> tuple[list[_Path], _Obstacle | None]:
    """A partner organisation receives content only under an active entente whose information-sharing
    clause permits it, for that purpose, and only the clause's items. The emergency path is the
    exception: LSSSS 19.0.1 / LRSSS 74 let anyone able to help receive what is necessary."""
    conf = ask.cite(Concept.CONFIDENTIALITY)
    gated = [p for p in paths if p.concept is not Concept.EMERGENCY]
    free = [p for p in paths if p.concept is Concept.EMERGENCY]
    if not gated:
        return free, None
    partner = ask.req.receiver
    active = [
        a for a in ask.ctx.ententes
        if a.status is EntenteStatus.ACTIVE and partner in a.content.party_ids
        and a.content.information_sharing.permitted and (a.end_date is None or ask.day <= a.end_date)
    ]
    if not active:
        return free, _Obstacle("no_active_agreement",
                               f"no entente in force with {partner} permits sharing information", conf)
    covering = [a for a in active if ask.req.agreement_purpose in a.content.information_sharing.purposes]
    if not covering:
        return free, _Obstacle("agreement_purpose_not_covered",
                               "no entente in force with this partner covers that purpose", conf)
    clause_items = {i for a in covering for i in a.content.information_sharing.items}
    out = list(free)
    for p in gated:
        items = [i for i in p.items if i in clause_items]
        extra = [Withheld(item=i, code="not_in_agreement_clause",
                          reason="not among the items of the entente's information-sharing clause", article=conf)
                 for i in p.items if i not in clause_items]
        if items:
            out.append(_Path(basis=p.basis, items=items, withheld=p.withheld + extra, concept=p.concept))
    if not out:
        return [], _Obstacle("not_in_agreement_clause",
                             "none of the items requested is in the entente's information-sharing clause", conf)
    return out, None


# --------------------------------------------------------------------------- after the basis


def _post_filters(ask: _Ask, items: list[str]) -> tuple[list[str], list[Withheld]]:
    """Rules that hold whatever the basis: temporary denial, third-party information."""
    withheld: list[Withheld] = []
    keep = list(items)
    if ask.req.role is Role.USAGER:
        denied = {i for d in ask.ctx.subject.temporary_denials if d.active_on(ask.day) for i in d.items}
        art = ask.cite(Concept.TEMPORARY_DENIAL)
        withheld += [Withheld(item=i, code="temporary_denial",
                              reason="temporarily withheld on a professional's advice (serious harm to health)",
                              article=art) for i in keep if i in denied]
        keep = [i for i in keep if i not in denied]
    if ask.req.role in THIRD_PARTY_WITHHELD_FROM:
        def third(i: str) -> bool:
            found = ask.ctx.item(i)
            return bool(found and found.provenance is Provenance.THIRD_PARTY
                        and not found.third_party_written_consent)
        art = ask.cite(Concept.THIRD_PARTY)
        withheld += [Withheld(item=i, code="third_party",
                              reason="supplied by an identifiable third party who did not consent", article=art)
                     for i in keep if third(i)]
        keep = [i for i in keep if not third(i)]
    return keep, withheld


def _refusal(ask: _Ask, withheld: list[Withheld], obstacle: _Obstacle | None) -> Refusal | None:
    reasoned = [w for w in withheld if w.article is not None]
    if obstacle is not None and obstacle.article is not None:
        article, code, reason = obstacle.article, obstacle.code, obstacle.reason
    elif reasoned:
        article, code, reason = reasoned[0].article or "", reasoned[0].code, reasoned[0].reason
    else:
        return None
    terms = ask.config.recourse(ask.day)
    return Refusal(
        article=article, code=code, reason=reason, recourse_article=terms.article, recourse_bodies=terms.bodies,
        recourse_text=terms.text, notified_at=ask.req.moment,
        recourse_deadline=local_date(ask.req.moment) + timedelta(days=terms.deadline_days),
    )


def _register_article(ask: _Ask, basis: BasisUsed | None) -> str:
    if ask.law is Law.LSSSS and (basis is None or basis.code != "LSSSS-27.1"):
        # LSSSS 27.2 names 27.1 communications only; registering the others is the institution's policy.
        return "POLITIQUE (LSSSS-27.2 par analogie)"
    return ask.cite(Concept.REGISTER)


# --------------------------------------------------------------------------- emergency and review checks


def emergency_review_due(cmd: c.DiscloseInEmergency, config: DisclosureConfig) -> datetime:
    """When a supervisor must have reviewed an emergency disclosure: the policy's days after it happened."""
    return cmd.particulars.occurred_at + timedelta(days=config.emergency_review_days)


def emergency_request(cmd: c.DiscloseInEmergency, config: DisclosureConfig) -> c.RequestAccess:
    """The request an emergency disclosure makes: the emergency basis in force on the day it happened."""
    day = local_date(cmd.particulars.occurred_at)
    code = cmd.basis_code
    if code is None:
        b = config.basis_for(day, Concept.EMERGENCY)
        if b is None:
            raise RuleViolation(f"no emergency-disclosure basis is in force on {day}", code="no_emergency_basis")
        code = b.code
    return c.RequestAccess(
        by=cmd.by, command_id=cmd.command_id, role=cmd.recipient_role, subject_id=cmd.subject_id, items=cmd.items,
        purpose=PurposeKind.EMERGENCY, moment=cmd.particulars.occurred_at, recipient_id=cmd.recipient_id,
        basis_code=code, attestations=cmd.attestations, particulars=cmd.particulars,
        purpose_text=cmd.particulars.reasons, intended_use=cmd.particulars.act_to_prevent,
        justification=cmd.particulars.danger,
    )


def check_emergency(decision: Decision) -> None:
    """An emergency disclosure whose conditions are not all attested is refused: nothing is recorded,
    and nothing may be communicated."""
    if decision.basis is None:
        why = decision.refusal.reason if decision.refusal else "no content may be communicated"
        cited = f" ({decision.refusal.article})" if decision.refusal else ""  # the provision that refused
        raise RuleViolation(f"emergency disclosure refused: {why}{cited}", code="emergency_refused")


def check_review(role: Role, reviewer: str, discloser: str, already_reviewed: bool) -> None:
    if role is not Role.SUPERVISOR:
        raise RuleViolation("only a supervisor reviews an emergency disclosure", code="not_a_supervisor")
    if reviewer == discloser:
        raise RuleViolation("the person who disclosed cannot review their own disclosure", code="self_review")
    if already_reviewed:
        raise RuleViolation("this emergency disclosure was already reviewed", code="already_reviewed")
