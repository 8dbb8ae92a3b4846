"""Use cases of `arrimage audit replay|accesses`: load, decide, record, lay out. Thin.

A replay rebuilds one aggregate from the store's own events, up to the last one
*recorded* at or before the moment asked (`events_only.get(id, version=n)`: from the
chained events, never from an unchained snapshot), and
is itself an access to the record, recorded before anything is shown:
- for a crisis case or a consent, through `Disclosures.decide_and_record` (in
  the person's register, allowed or refused, like any other access);
- for an entente, as a `Read` of `EntenteReads` (no person, no register).
`moment` is when the replay happens, given by the caller (the CLI's clock).

The rule in force at the moment decided is the rule applied (issue 11): a replay `as_of` T is decided as at T,
with the law in force at T (LSSSS before 2024-07-01, LRSSS from then on: `DisclosureConfig.law_for`), the
consents as recorded at T, and the person facts recorded at T (`domain.disclosure.facts`: age, death,
youth-protection file, a refusal, and the reader's standing as parent, representative, mandatary, court or
researcher). The access itself is recorded at `moment`, when it happens.

`--facts` (`ReaderFacts`) is what the record did not hold before the person facts existed: it is still taken
for a person about whom the record holds no fact (older records), and refused (`facts_in_record`) for one
about whom it holds any, since a file given at the read would otherwise contradict the record it replays.
The same holds for the reader's access authorisations (R-22.1, r. 1, s. 8): a reader with a user account
is decided with the authorisations registered on it *as recorded at T* (`arrimage users authorise`: one
recorded after T did not exist then; one withdrawn before T had ended), and `--facts` authorisations are then
refused (`facts_in_record`); a reader without an account (older records) still gives them in `--facts`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from pydantic import Field

from adapters.record.listings import caught_up, logged
from adapters.record.record import Record, event_name, event_payload
from domain.audit.entente_reads import EntenteRead, EntenteReads, entente_reads_id
from domain.audit.replay import (
    DEFAULT_PURPOSE,
    ENTENTE_RULE,
    AggregateKind,
    AggregateRef,
    Replay,
    StoredEventData,
    dossier_items,
    entente_allowed,
    entente_replay,
    redact,
)
from domain.clock import quebec_text
from domain.crisis.aggregate import CrisisCase, case_id
from domain.disclosure import commands as c
from domain.disclosure.consent import Consent, consent_id
from domain.disclosure.model import AccessAuthorisation, ConsentView, DisclosureContext, Outcome, SubjectStatus
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.aggregate import Entente, entente_id
from domain.ententes.model import Frozen
from domain.ententes.state import EntenteView
from domain.errors import NotFound, RuleViolation
from domain.principals.aggregate import Account, account_id
from domain.principals.model import PrincipalKind
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.person_facts import PersonFactsBook

KINDS: dict[AggregateKind, type[Any]] = {
    AggregateKind.ENTENTE: Entente, AggregateKind.CASE: CrisisCase, AggregateKind.CONSENT: Consent,
}


class ReaderFacts(Frozen):
    """What the decision needs and the record does not keep: the reader's access authorisations
    (R-22.1, r. 1, s. 8) and the person's status on the day (birth date, death…; never recorded)."""

    subject: SubjectStatus = Field(default_factory=SubjectStatus)
    authorisations: list[AccessAuthorisation] = Field(default_factory=list)


class Replays:
    def __init__(self, record: Record, disclosures: Disclosures | None = None) -> None:
        self.record = record
        self.disclosures = disclosures or Disclosures(record)

    def aggregate_id(self, ref: AggregateRef) -> UUID:
        if ref.kind is AggregateKind.ENTENTE:
            return entente_id(ref.key)
        if ref.kind is AggregateKind.CASE:
            return case_id(ref.key)
        if "/" in ref.key:
            subject, _, key = ref.key.partition("/")
            return consent_id(subject, key)
        return UUID(ref.key)

    def events(self, ref: AggregateRef) -> list[StoredEventData]:
        """Every event of the aggregate, with its recording timestamp; NotFound if there is none."""
        out = [
            StoredEventData(seq=ev.originator_version, event=event_name(ev),
                            recorded_at=ev.timestamp, payload=event_payload(ev))  # type: ignore[attr-defined]
            for ev in self.record.stream(self.aggregate_id(ref))
        ]
        if not out:
            raise NotFound(f"no {ref.kind.value} {ref.key} in the record")
        return out

    def replay(
        self, ref: AggregateRef, *, role: Role, actor_id: str, moment: datetime, as_of: datetime | None = None,
        purpose: PurposeKind | None = None, facts: ReaderFacts | None = None,
    ) -> Replay:
        """Rebuild the aggregate as of `as_of`, record this access, and lay out what `role` may see."""
        purpose = purpose or DEFAULT_PURPOSE[role]
        everything = self.events(ref)
        events = [ev for ev in everything if as_of is None or ev.recorded_at <= as_of]
        if not events:
            raise NotFound(f"{ref} did not exist yet at {quebec_text(as_of) if as_of else 'now'}: its first event was "
                           f"recorded at {quebec_text(everything[0].recorded_at)}")
        aggregate_id = self.aggregate_id(ref)
        try:
            aggregate: Any = self.record.events_only.get(aggregate_id, version=events[-1].seq)
        except AggregateNotFoundError:  # pragma: no cover - the events were just read
            raise NotFound(f"no {ref.kind.value} {ref.key} in the record") from None
        if not isinstance(aggregate, KINDS[ref.kind]):
            raise NotFound(f"{ref.key} is not a {ref.kind.value}")
        state = aggregate.view().model_dump(mode="json")
        access_id = f"replay:{ref}@v{events[-1].seq}:{uuid4().hex[:12]}"
        if ref.kind is AggregateKind.ENTENTE:
            return self._entente(ref, str(aggregate_id), events, len(everything), state, role=role,
                                 actor_id=actor_id, purpose=purpose, moment=moment, read_id=access_id, as_of=as_of)
        subject_id: str = aggregate.subject_id
        decided_at = as_of or moment  # the law, the consents and the facts of that moment
        facts = facts or ReaderFacts()
        status, attested, reference = PersonFactsBook(self.record).decision_facts(
            subject_id, actor_id, decided_at, facts.subject)
        items = dossier_items(ref.kind, events, purpose)
        req = c.RequestAccess(
            by=actor_id, command_id=access_id, role=role, subject_id=subject_id, items=[i.name for i in items],
            purpose=purpose, moment=moment, as_of=as_of, attestations=attested, authority_reference=reference,
        )
        ctx = DisclosureContext(subject=status, dossier_items=items, consents=self._consents_at(subject_id, as_of),
                                authorisations=self._authorisations_at(actor_id, as_of, facts.authorisations),
                                ententes=self._ententes_at(as_of))
        decision = self.disclosures.decide_and_record(req, ctx, moment)
        return redact(ref, str(aggregate_id), subject_id, events, len(everything), state, decision, as_of)

    def _consents_at(self, subject_id: str, as_of: datetime | None) -> list[ConsentView] | None:
        """The person's consents as recorded at `as_of` (a later withdrawal or grant not yet made); None: now."""
        if as_of is None:
            return None
        out: list[ConsentView] = []
        # The person's consent keys from the listings view (not a scan of every grant in the log), each consent
        # then rebuilt from its own chained events as recorded at `as_of`; one granted later has none by then.
        for key in self.disclosures.consent_keys(subject_id):
            cid = consent_id(subject_id, key)
            seq = [ev.originator_version for ev in self.record.stream(cid)
                   if ev.timestamp <= as_of]  # type: ignore[attr-defined]
            if not seq:
                continue
            found: Consent = self.record.events_only.get(cid, version=seq[-1])
            out.append(found.view())
        return out

    def _authorisations_at(self, actor_id: str, as_of: datetime | None,
                           given: list[AccessAuthorisation]) -> list[AccessAuthorisation]:
        """The reader's access authorisations as registered on their user account and recorded at `as_of` (now
        when None), each as the rules read it (a withdrawal recorded by then ends it: `in_effect`); an account
        not yet registered then holds none. `given` (`--facts`) only for a reader without an account, refused
        (`facts_in_record`, nothing recorded) for one with an account."""
        aid = account_id(PrincipalKind.USER, actor_id)
        stream = [(ev.originator_version, ev.timestamp) for ev in self.record.stream(aid)]  # type: ignore[attr-defined]
        if not stream:
            return given
        if given:
            raise RuleViolation(
                f"the record holds the access authorisations of {actor_id} (registered on their account): "
                "--facts authorisations would contradict it; leave them out (`arrimage users authorise` records "
                "one)", code="facts_in_record")
        seq = [v for v, at in stream if as_of is None or at <= as_of]
        if not seq:
            return []
        account: Account = self.record.events_only.get(aid, version=seq[-1])
        return [g.in_effect() for g in account.authorisations]

    def _ententes_at(self, as_of: datetime | None) -> list[EntenteView]:
        """The ententes as recorded at `as_of` (a partner's standing then: not yet active, or since revoked),
        those not yet drafted left out; every entente as it is now when None."""
        ententes = Ententes(self.record)
        if as_of is None:
            return ententes.list()
        out: list[EntenteView] = []
        for code in ententes.codes():
            eid = entente_id(code)
            seq = [ev.originator_version for ev in self.record.stream(eid)
                   if ev.timestamp <= as_of]  # type: ignore[attr-defined]
            if seq:
                found: Entente = self.record.events_only.get(eid, version=seq[-1])
                out.append(found.view())
        return out

    def _entente(
        self, ref: AggregateRef, aggregate_id: str, events: list[StoredEventData], latest: int,
        state: dict[str, Any], *, role: Role, actor_id: str, purpose: PurposeKind, moment: datetime, read_id: str,
        as_of: datetime | None,
    ) -> Replay:
        ok, reason = entente_allowed(role)
        try:
            log: EntenteReads = self.record.repository.get(entente_reads_id(ref.key))
        except AggregateNotFoundError:
            log = EntenteReads(code=ref.key)
        log.record(EntenteRead(
            read_id=read_id, code=ref.key, actor_id=actor_id, role=role, purpose=purpose, moment=moment,
            as_of=as_of, version=events[-1].seq, outcome=Outcome.ALLOWED if ok else Outcome.REFUSED,
            rule=ENTENTE_RULE, reason=reason,
        ))
        self.record.save(log)
        return entente_replay(ref, aggregate_id, events, latest, state, role=role, actor_id=actor_id,
                              purpose=purpose, moment=moment, read_id=read_id, as_of=as_of)

    # ------------------------------------------------------------------ the access log of ententes
    def entente_reads(
        self, *, actor_id: str | None = None, since: datetime | None = None, until: datetime | None = None,
        from_view: bool = True,
    ) -> list[EntenteRead]:
        """The access log of ententes, filtered by reader and moment: an indexed range on the listings view (caught
        up first), each read from its event by its key; `from_view=False`, or no view: the scan, filtered here."""
        if from_view and (listings := caught_up(self.record)) is not None:
            return [EntenteRead.model_validate(ev.read)
                    for ev in logged(self.record, listings.view.reads("entente", actor_id, since, until))]
        found = [EntenteRead.model_validate(ev.read)
                 for ev in self.record.events_of(EntenteReads.Read)]  # type: ignore[attr-defined]
        return sorted(
            (r for r in found if (actor_id is None or r.actor_id == actor_id)
             and (since is None or r.moment >= since) and (until is None or r.moment < until)),
            key=lambda r: r.moment,
        )
