"""« Qui a vu mon dossier ? »: the person's own register, in plain terms, pure.

The person obtains the register of the communications of their information (LRSSS s. 265; LSSSS 27.2
before 2024-07-01; disclosure-law.md §5), and, as the Québec Health Record (DSQ) lets a person see who
consulted their file, every access to it (the access log of LRSSS s. 103). Nothing is hidden from them:

- each decision on reading or sending their content (`AccessDecided`: the care team's reads, refusals too);
- each communication outside the care team (`CommunicationRegistered`), with its basis and article;
- each partner's operational read of one of their cases (`ReadKind.PARTNER_CASE`, logged in the
  record-level reads log, not in their register: mapped to them through the case's subject).

Who may read it is the disclosure decision's (`disclosure.rules.decide`, the register items of
`audit.reads.register_items`): the person on their own right (s. 265: "the person's right under s. 18 is
exercised by examining the register", disclosure-law.md L295; through the self-access basis LRSSS-17 /
LSSSS-17, 14 and over), their representative in their name (LSSSS-22 before 2024-07-01; its LRSSS counterpart
was not located, disclosure-law.md L208, so after the switch the rules refuse it by default,
`lrsss_counterpart_not_located`), the parent or tutor of a minor in the minor's name (LSSSS 21 al. 2 / LRSSS 23
under 14; LSSSS 21 al. 3 / LRSSS 24 from 14, with their further conditions), each refused otherwise with the
rule's code. A person's own account is bound to them: its user id is their opaque id in the record
(`principals.person`). The same account reads another person's register only while the record holds a standing
fact naming it as that person's parent or representative (`register_reader`, `disclosure.facts.represented_as`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum

from domain.audit.record_reads import ReadKind, RecordRead
from domain.disclosure.facts import RecordedFact, represented_as
from domain.disclosure.model import Decision, Outcome
from domain.disclosure.register import CommunicationEntry
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.model import Frozen
from domain.errors import RuleViolation

# The roles and purposes that read a person's own register in their own right or in their name.
OWN_REGISTER_READERS: Mapping[Role, PurposeKind] = {
    Role.USAGER: PurposeKind.SELF_ACCESS,  # LRSSS s. 265 with s. 18 (basis LRSSS-17) / LSSSS 27.2 with 17
    Role.REPRESENTATIVE: PurposeKind.REPRESENTATION,  # LSSSS 22; LRSSS counterpart not located
    Role.PARENT: PurposeKind.PARENTAL,  # LSSSS 21 al. 2-3 / LRSSS 23-24: a minor's parent or tutor
}


class SeenKind(StrEnum):
    ACCESS = "acces"  # a decision on reading their content (care team, the person, a refusal)
    COMMUNICATION = "communication"  # content sent outside the care team, entered in the register
    PARTNER_READ = "consultation_partenaire"  # a partner read its part of one of their cases


class Seen(Frozen):
    """One line of « qui a vu mon dossier »: who, for which organisation, when, which items, on which basis."""

    kind: SeenKind
    at: datetime
    who: str
    role: Role
    organisation: str | None  # the recipient of a communication, the partner of a partner read
    items: list[str]
    outcome: Outcome
    basis: str | None  # the legal basis or consent (or the partner rule) relied on; the refusal's code
    article: str | None  # the article of the register or of the access log, or of the refusal
    purpose: PurposeKind
    reference: str  # the decision or read id, as the auditor's log names it
    summary: str  # the line in words


def _access(d: Decision, organisations: Mapping[str, str]) -> Seen:
    refused = d.outcome is Outcome.REFUSED
    basis = d.refusal.code if refused and d.refusal else d.basis.code if d.basis else d.metadata_basis
    article = d.refusal.article if refused and d.refusal else d.log_article
    items = d.requested if refused else d.allowed
    verb = "s'est vu refuser" if refused else "a consulté"
    return Seen(kind=SeenKind.ACCESS, at=d.moment, who=d.actor_id, role=d.role,
                organisation=d.recipient_id if d.recipient_id != d.actor_id else organisations.get(d.actor_id),
                items=items,
                outcome=d.outcome, basis=basis, article=article, purpose=d.purpose, reference=d.decision_id,
                summary=f"{d.actor_id} ({d.role.value}) {verb} {', '.join(items) or 'rien'} "
                        f"pour {d.purpose.value} ({basis or 'sans fondement'}, {article})")


def _communication(e: CommunicationEntry, by: str | None) -> Seen:
    return Seen(kind=SeenKind.COMMUNICATION, at=e.communicated_at, who=by or e.recipient_id, role=e.role,
                organisation=e.recipient_id, items=e.nature, outcome=Outcome.ALLOWED, basis=e.basis_code,
                article=e.register_article, purpose=e.purpose, reference=e.decision_id,
                summary=f"{', '.join(e.nature)} communiqué à {e.recipient_id} ({e.role.value}) pour "
                        f"{e.purpose.value}, en vertu de {e.basis_code} ({e.register_article})")


def _partner(r: RecordRead) -> Seen:
    case, org = r.scope.get("case", ""), r.scope.get("org")
    items = [i for i in (r.scope.get("items") or "").split() if i]
    return Seen(kind=SeenKind.PARTNER_READ, at=r.moment, who=r.actor_id, role=r.role, organisation=org,
                items=items, outcome=r.outcome, basis=r.rule, article=None, purpose=r.purpose, reference=r.read_id,
                summary=f"{r.actor_id} ({org}) a consulté le suivi du dossier {case}"
                        + (f" et {', '.join(items)}" if items else "")
                        + ("" if r.allowed else " (refusé)"))


def seen_by(subject_id: str, decisions: Sequence[Decision], communications: Sequence[CommunicationEntry],
            record_reads: Sequence[RecordRead], case_subjects: Mapping[str, str],
            organisations: Mapping[str, str] | None = None) -> list[Seen]:
    """Every access to the person's record and every communication of it, oldest first. A communication is
    also an access decision: it is shown once, as the communication (its basis and register article), with
    the actor of the decision. Partner reads are those whose case (`case_subjects`: case code -> subject) is
    one of the person's. `organisations` (actor id -> organisation, from the accounts) names the organisation of
    a reader the decision does not name one for."""
    orgs = organisations or {}
    communicated = {e.decision_id for e in communications}
    actors = {d.decision_id: d.actor_id for d in decisions}
    lines = [_access(d, orgs) for d in decisions if d.subject_id == subject_id and d.decision_id not in communicated]
    lines += [_communication(e, actors.get(e.decision_id)) for e in communications if e.subject_id == subject_id]
    lines += [_partner(r) for r in record_reads
              if r.kind is ReadKind.PARTNER_CASE and case_subjects.get(r.scope.get("case", "")) == subject_id]
    return sorted(lines, key=lambda s: (s.at, s.reference))


class NotAnOwnRegisterReader(RuleViolation):
    code = "not_the_person_or_representative"


def check_own_register_reader(role: Role) -> None:
    """The person reads their own register (LRSSS s. 265 with s. 18; LSSSS 27.2 with 17), or their representative
    in their name (LSSSS 22; the rules decide whether a basis is in force): any other role reads a person's
    register as `audit register` decides (an auditor or a supervisor: its metadata), never as the person.
    Refused before anything is recorded: no person's register is named by such a request."""
    if role not in OWN_REGISTER_READERS:
        who = ", ".join(r.value for r in OWN_REGISTER_READERS)
        raise NotAnOwnRegisterReader(
            f"the register « qui a vu mon dossier » is read by the person or their representative ({who}), "
            f"not by the role {role.value} (LRSSS s. 265 / s. 18)")


def register_reader(subject_id: str, account_person: str, facts: list[RecordedFact], day: date) -> Role:
    """In which role the person whose own account is `account_person` reads `subject_id`'s register on `day`:
    their own (usager), or in the name of the person the facts recorded about them (`facts`, as they stand
    on `day`) name them the parent or representative of, while that standing is in force. Anyone else is
    refused before anything is recorded, as another role is (`check_own_register_reader`): the account is
    not this person's, and nobody may read a register by claiming a standing the record does not hold."""
    if subject_id == account_person:
        return Role.USAGER
    role = represented_as(facts, account_person, day)
    if role is None:
        raise NotAnOwnRegisterReader(
            f"{account_person} is not person {subject_id}, and the record holds no standing in force on "
            f"{day.isoformat()} naming them that person's parent or representative (never recorded, ended or "
            "lifted): the register « qui a vu mon dossier » is read by the person or their representative "
            "(LRSSS s. 265 / s. 18)")
    return role
