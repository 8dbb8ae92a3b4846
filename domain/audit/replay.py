"""Replay, pure: what one reader may see of one aggregate as it stood at one moment.

Nothing is decided here. The items of a person's record are described
(`dossier_items`), `disclosure.rules.decide` decides which of them the reader
gets, and `register.for_reader` decides what of each event an audit reader sees;
this module lays the aggregate out item by item accordingly (`redact`), each
item either shown or withheld with the decision's reason and article.

The items of a crisis case or a consent:
- its state (the view every reader of the aggregate gets: codes, dates,
  statuses) and its event list. For an audit (`--purpose audit`) these are
  audit metadata (who did what, when); for any other purpose they are record
  content, since a case's mere existence says something about the person
  (identifiers attached to health information are content, LRSSS 2);
- each key of the `personal` mappings of its events (free text about the
  person): always content, with the category of `PERSONAL_CATEGORIES`.

Ententes are organisational: no `subject_id`, no `personal`, so no decision of
the disclosure rules applies; `ENTENTE_READERS` may read them from the record.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.audit.erasure import SEALED_PARTS, SHREDDED
from domain.crisis.model import Intake
from domain.crisis.state import SEALED_IN_VIEW, TYPED_REASON_EVENTS
from domain.disclosure.model import Decision, DossierItem, Outcome, Refusal, Withheld
from domain.disclosure.register import for_reader
from domain.disclosure.roles import METADATA_READERS, ItemCategory, PurposeKind, Role
from domain.ententes.model import Frozen

EVENTS_ITEM = "journal des evenements"
SHREDDED_ITEM = "contenu personnel efface"
# What an audit reader gets instead of a sealed part (issue 9): audit metadata, never what was typed about the
# person nor what characterises them, even where an older event holds it in clear.
MASKED = "<retenu>"

# Ententes bind organisations and name no person: the institution's staff, its auditors and its
# partner organisations read them from the record. Other readers (the person, relatives, courts…)
# ask the institution for the document; they do not read the record for it.
ENTENTE_READERS = frozenset({Role.INTERVENANT, Role.SUPERVISOR, Role.AUDITOR, Role.PARTNER_ORG})
ENTENTE_RULE = "POLITIQUE (ententes: documents organisationnels, sans renseignement personnel)"

# Free-text keys that identify rather than describe; every other personal key is taken as clinical.
PERSONAL_CATEGORIES = {
    "person_ref": ItemCategory.IDENTIFICATION,
    "document_ref": ItemCategory.IDENTIFICATION,
    "capacity_proof_ref": ItemCategory.IDENTIFICATION,
    "ethics_committee_ref": ItemCategory.IDENTIFICATION,
}

# The purpose a role reads for when `--purpose` is not given.
DEFAULT_PURPOSE = {
    Role.USAGER: PurposeKind.SELF_ACCESS,
    Role.INTERVENANT: PurposeKind.CARE,
    Role.SUPERVISOR: PurposeKind.AUDIT,
    Role.AUDITOR: PurposeKind.AUDIT,
    Role.PARTNER_ORG: PurposeKind.CONTINUITY,
    Role.RESEARCHER: PurposeKind.RESEARCH,
    Role.HEIR: PurposeKind.HEIR_RIGHTS,
    Role.RELATIVE: PurposeKind.CAUSE_OF_DEATH,
    Role.PARENT: PurposeKind.PARENTAL,
    Role.REPRESENTATIVE: PurposeKind.REPRESENTATION,
    Role.COURT: PurposeKind.LEGAL_POWER,
}


class AggregateKind(StrEnum):
    ENTENTE = "entente"
    CASE = "case"
    CONSENT = "consent"


STATE_ITEM = {
    AggregateKind.ENTENTE: "entente",
    AggregateKind.CASE: "etat du dossier",
    AggregateKind.CONSENT: "etat du consentement",
}
# What the state of a person's aggregate is, when it is read as record content.
STATE_CATEGORY = {AggregateKind.CASE: ItemCategory.CLINICAL, AggregateKind.CONSENT: ItemCategory.IDENTIFICATION}


class AggregateRef(Frozen):
    """`entente:CODE`, `case:CASE_CODE`, `consent:CONSENT_ID` (the id the register cites) or
    `consent:SUBJECT_ID/CONSENT_KEY`."""

    kind: AggregateKind
    key: str

    @classmethod
    def parse(cls, text: str) -> AggregateRef:
        kind, sep, key = text.partition(":")
        if not sep or not key or kind not in {k.value for k in AggregateKind}:
            raise ValueError(f"{text!r}: expected entente:CODE, case:CODE, consent:ID or consent:SUBJECT/KEY")
        if kind == AggregateKind.CONSENT and "/" not in key:
            try:
                UUID(key)
            except ValueError:
                raise ValueError(f"{text!r}: a consent is named by its id (a UUID) or SUBJECT/KEY") from None
        return cls(kind=AggregateKind(kind), key=key)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.key}"


class StoredEventData(Frozen):
    """One event of the aggregate, as read from the store (its recorded timestamp, its own attributes)."""

    seq: int
    event: str
    recorded_at: datetime
    payload: dict[str, Any]


class ItemStatus(StrEnum):
    SHOWN = "shown"
    WITHHELD = "withheld"
    SHREDDED = "shredded"


class ReplayItem(Frozen):
    name: str
    status: ItemStatus
    category: ItemCategory | None = None
    code: str | None = None
    reason: str | None = None
    article: str | None = None
    value: Any = None


class Replay(Frozen):
    aggregate: str
    aggregate_id: str
    kind: AggregateKind
    subject_id: str | None
    as_of: datetime | None
    version: int  # events replayed
    latest_version: int  # events recorded today
    recorded_at: datetime  # recording timestamp of the last event replayed
    role: Role
    actor_id: str
    purpose: PurposeKind
    moment: datetime  # when this replay (an access) happened
    access_id: str  # the decision id (person) or read id (entente) in the access log
    outcome: Outcome
    basis: str | None = None  # what allowed content, if any
    metadata_basis: str | None = None
    readers: list[Role] | None = None  # ententes: the roles that read them at all
    items: list[ReplayItem]
    events: list[StoredEventData] | None  # None: the event list is withheld
    refusal: Refusal | None = None


# --------------------------------------------------------------------------- persons' aggregates


def _audit_read(role: Role, purpose: PurposeKind) -> bool:
    return role in METADATA_READERS and purpose is PurposeKind.AUDIT


def personal_keys(events: list[StoredEventData]) -> list[str]:
    """The keys of every readable `personal` mapping, in order of first appearance."""
    keys: dict[str, None] = {}
    for ev in events:
        personal = ev.payload.get("personal")
        if isinstance(personal, dict) and personal != SHREDDED:
            keys.update((k, None) for k, v in personal.items() if v is not None)
    return list(keys)


def dossier_items(kind: AggregateKind, events: list[StoredEventData], purpose: PurposeKind) -> list[DossierItem]:
    """The items a reader asks for when replaying a person's aggregate (see the module docstring)."""
    framing = ItemCategory.AUDIT if purpose is PurposeKind.AUDIT else STATE_CATEGORY[kind]
    items = [DossierItem(name=STATE_ITEM[kind], category=framing), DossierItem(name=EVENTS_ITEM, category=framing)]
    fixed = {i.name for i in items}
    items += [
        DossierItem(name=k, category=PERSONAL_CATEGORIES.get(k, ItemCategory.CLINICAL))
        for k in personal_keys(events) if k not in fixed
    ]
    return items


def redact(
    ref: AggregateRef, aggregate_id: str, subject_id: str, events: list[StoredEventData], latest_version: int,
    state: dict[str, Any], decision: Decision, as_of: datetime | None,
) -> Replay:
    """Lay out the aggregate at `events[-1].seq` for the reader `decision` was made for."""
    allowed = set(decision.allowed)
    withheld = {w.item: w for w in decision.withheld}
    categories = {i.name: i.category for i in dossier_items(ref.kind, events, decision.purpose)}

    def item(name: str, value: Any) -> ReplayItem:
        if name in allowed:
            return ReplayItem(name=name, status=ItemStatus.SHOWN, category=categories.get(name), value=value)
        w = withheld.get(name) or Withheld(item=name, code="not_decided", reason="not requested", article=None)
        return ReplayItem(name=name, status=ItemStatus.WITHHELD, category=categories.get(name), code=w.code,
                          reason=w.reason, article=w.article)

    shown_events = [_event_for(ev, decision, allowed, withheld) for ev in events]
    if _audit_read(decision.role, decision.purpose) and ref.kind is AggregateKind.CASE:
        for path in SEALED_IN_VIEW:
            state = _masked(state, path)
    items = [item(STATE_ITEM[ref.kind], state), item(EVENTS_ITEM, None)]
    for key in personal_keys(events):
        occurrences = [
            {"seq": ev.seq, "value": ev.payload["personal"][key]} for ev in events
            if isinstance(ev.payload.get("personal"), dict) and ev.payload["personal"].get(key) is not None
        ]
        items.append(item(key, occurrences))
    erased = [ev.seq for ev in events if any(ev.payload.get(p) == SHREDDED for p in SEALED_PARTS)]
    if erased:
        items.append(ReplayItem(
            name=SHREDDED_ITEM, status=ItemStatus.SHREDDED, code="shredded",
            reason="the person's key was destroyed (SubjectShredded): the content is erased for every reader",
            value={"events": erased},
        ))
    return Replay(
        aggregate=str(ref), aggregate_id=aggregate_id, kind=ref.kind, subject_id=subject_id, as_of=as_of,
        version=events[-1].seq, latest_version=latest_version, recorded_at=events[-1].recorded_at,
        role=decision.role, actor_id=decision.actor_id, purpose=decision.purpose, moment=decision.moment,
        access_id=decision.decision_id, outcome=decision.outcome,
        basis=decision.basis.code if decision.basis else None, metadata_basis=decision.metadata_basis,
        items=items, events=shown_events if EVENTS_ITEM in allowed else None, refusal=decision.refusal,
    )


def _event_for(
    ev: StoredEventData, decision: Decision, allowed: set[str], withheld: dict[str, Withheld]
) -> StoredEventData:
    """The event with its `personal` part per key: the value, `shredded`, or why it is withheld (and its other
    sealed parts, `_other_parts`)."""
    payload = _other_parts(ev, decision)
    personal = payload.get("personal")
    if not isinstance(personal, dict):
        return ev.model_copy(update={"payload": payload})
    if personal == SHREDDED:
        payload["personal"] = "shredded"
        return ev.model_copy(update={"payload": payload})
    # An audit reader reads the trail through `for_reader`: what it withholds stays withheld,
    # whatever the decision on the items says.
    trail_open = True
    if _audit_read(decision.role, decision.purpose):
        trail_open = for_reader(ev.payload, decision.role).get("personal") == personal
    shown: dict[str, Any] = {}
    for key, value in personal.items():
        if value is None:
            continue
        if trail_open and key in allowed:
            shown[key] = value
        else:
            w = withheld.get(key)
            shown[key] = {"withheld": w.code if w else "audit_trail_reader", "article": w.article if w else None}
    payload["personal"] = shown
    return ev.model_copy(update={"payload": payload})


def _other_parts(ev: StoredEventData, decision: Decision) -> dict[str, Any]:
    """The payload with its sealed parts other than `personal` (the intake's characterisation) `shredded`, or
    masked for an audit reader, as are the typed reason and the characterisation of events recorded in clear
    before issue 9 (they have no `personal` part; the intake holds its characterisation)."""
    payload = dict(ev.payload)
    audit = _audit_read(decision.role, decision.purpose)
    for part in SEALED_PARTS:
        value = payload.get(part)
        if part != "personal" and value is not None:
            payload[part] = "shredded" if value == SHREDDED else MASKED if audit else value
    if audit and ev.event in TYPED_REASON_EVENTS and "personal" not in payload and payload.get("reason"):
        payload["reason"] = MASKED
    intake = payload.get("intake")
    if audit and isinstance(intake, dict) and any(k in intake for k in Intake.CHARACTERISING):
        payload["intake"] = {k: MASKED if k in Intake.CHARACTERISING else v for k, v in intake.items()}
    return payload


def _masked(value: Any, path: tuple[str, ...]) -> Any:
    """`value` with what is at `path` masked ("*": every item of a list)."""
    if not path:
        return None if value is None else MASKED
    head, rest = path[0], path[1:]
    if head == "*":
        return [_masked(v, rest) for v in value] if isinstance(value, list) else value
    if isinstance(value, dict) and head in value:
        return {**value, head: _masked(value[head], rest)}
    return value


# --------------------------------------------------------------------------- ententes


def entente_allowed(role: Role) -> tuple[bool, str]:
    """Whether the role reads ententes from the record, and why (the rule an access log cites)."""
    if role in ENTENTE_READERS:
        return True, "ententes carry no personal information: every role that reads them sees them whole"
    readers = ", ".join(sorted(r.value for r in ENTENTE_READERS))
    return False, f"only {readers} read ententes from the record; the role {role.value} does not"


def entente_replay(
    ref: AggregateRef, aggregate_id: str, events: list[StoredEventData], latest_version: int, state: dict[str, Any],
    *, role: Role, actor_id: str, purpose: PurposeKind, moment: datetime, read_id: str, as_of: datetime | None,
) -> Replay:
    ok, reason = entente_allowed(role)
    names = (STATE_ITEM[AggregateKind.ENTENTE], EVENTS_ITEM)
    if ok:
        items = [ReplayItem(name=names[0], status=ItemStatus.SHOWN, value=state),
                 ReplayItem(name=names[1], status=ItemStatus.SHOWN)]
    else:
        items = [ReplayItem(name=n, status=ItemStatus.WITHHELD, code="not_an_entente_reader", reason=reason,
                            article=ENTENTE_RULE) for n in names]
    return Replay(
        aggregate=str(ref), aggregate_id=aggregate_id, kind=ref.kind, subject_id=None, as_of=as_of,
        version=events[-1].seq, latest_version=latest_version, recorded_at=events[-1].recorded_at, role=role,
        actor_id=actor_id, purpose=purpose, moment=moment, access_id=read_id,
        outcome=Outcome.ALLOWED if ok else Outcome.REFUSED, basis=ENTENTE_RULE if ok else None,
        readers=sorted(ENTENTE_READERS), items=items, events=list(events) if ok else None,
    )
