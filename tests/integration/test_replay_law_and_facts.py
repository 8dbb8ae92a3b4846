"""Issue 11, "the rule in force at the moment decided is the rule applied", on a real record (SQLite and PostgreSQL):
`audit replay --as-of T` decides with the law in force at T (LSSSS before the switch, LRSSS from it on:
disclosure-law.md §1, choose by the date of the fact) and with the person facts *recorded* at T
(`domain.disclosure.facts`); a fact recorded as an event changes the decision from its moment on; a
`--facts` file is refused once the record holds facts about the person, and nothing is recorded then.

The events of a real store are recorded at the wall clock, so no event predates 2024-07-01; the switch date
is configuration (`default_config(switch)`), so the test puts it between two moments it can replay.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.record.record import Record
from domain.audit.reads import CaseItem
from domain.audit.replay import AggregateRef
from domain.disclosure import commands as c
from domain.disclosure.facts import FactKind, PersonFact, PersonFacts, RecordFact
from domain.disclosure.legal_bases import Law, default_config
from domain.disclosure.model import Outcome, SubjectStatus
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.aggregate import entente_id
from domain.errors import RuleViolation
from domain.principals.aggregate import account_id
from domain.principals.model import PrincipalKind
from tests.audit_builders import CASE, ENTENTE, PERSON, T0, open_case
from tests.crisis_builders import activate, crisis_content
from tests.disclosure_builders import authorisation, grant
from usecases.audit.reads import Reader, Reads
from usecases.audit.replays import ReaderFacts, Replays
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.person_facts import PersonFactsBook
from usecases.principals import Principals

REF = AggregateRef.parse(f"case:{CASE}")


def born(age: int) -> date:
    today = datetime.now(UTC).date()
    return date(today.year - age, 1, 1)


def fact(kind: FactKind, n: int, **kw: object) -> RecordFact:
    return RecordFact(by="archiviste-1", command_id=f"fact-{n}", subject_id=PERSON,
                      fact=PersonFact.model_validate({"kind": kind, **kw}))


def test_replay_as_of_a_date_decides_with_the_law_of_that_date(store_env: dict[str, str]) -> None:
    """A 12-year-old reading their own record is refused under LSSSS 20 as of a day before the switch, under
    LRSSS 21 as of a day after it: the same record, the law of each date (LSSSS 20 / LRSSS 21 [V])."""
    record = Record(store_env)
    open_case(CrisisCases(record))
    PersonFactsBook(record).record_fact(fact(FactKind.BIRTH_DATE, 1, on=born(12)), T0)
    recorded = max(ev.timestamp for ev in record.stream(PersonFacts.create_id(PERSON)))  # type: ignore[attr-defined]
    switch = recorded.date() + timedelta(days=2)
    replays = Replays(record, Disclosures(record, default_config(switch)))
    before = replays.replay(REF, role=Role.USAGER, actor_id=PERSON, moment=T0, as_of=recorded)
    after = replays.replay(REF, role=Role.USAGER, actor_id=PERSON, moment=T0, as_of=recorded + timedelta(days=3))
    assert before.refusal is not None and after.refusal is not None
    assert (before.outcome, before.refusal.code, before.refusal.article) == (
        Outcome.REFUSED, "minor_under_14", "LSSSS-20")
    assert (after.outcome, after.refusal.code, after.refusal.article) == (
        Outcome.REFUSED, "minor_under_14", "LRSSS-21")
    registered = Disclosures(record).accesses(subject_id=PERSON)
    assert [(d.decision_id, d.law) for d in registered] == [(before.access_id, Law.LSSSS),
                                                            (after.access_id, Law.LRSSS)]
    # the access happened at its moment; it was decided as of the moment replayed
    assert [(d.moment, d.as_of) for d in registered] == [(T0, recorded), (T0, recorded + timedelta(days=3))]
    record.close()


def test_a_fact_recorded_as_an_event_changes_the_decision_from_its_moment_on(store_env: dict[str, str]) -> None:
    """LRSSS 17 / 21: with no birth date recorded the age is unknown and the person is refused; once the birth
    date is recorded (an event, sealed with the person's key) the replay as of any later moment allows, and a
    replay as of a moment before it still refuses."""
    record = Record(store_env)
    open_case(CrisisCases(record))
    replays = Replays(record)
    case_at = replays.events(REF)[0].recorded_at
    book = PersonFactsBook(record)
    book.record_fact(fact(FactKind.BIRTH_DATE, 1, on=born(30)), T0)
    fact_at = max(ev.timestamp for ev in record.stream(PersonFacts.create_id(PERSON)))  # type: ignore[attr-defined]
    earlier = replays.replay(REF, role=Role.USAGER, actor_id=PERSON, moment=T0, as_of=case_at)
    later = replays.replay(REF, role=Role.USAGER, actor_id=PERSON, moment=T0, as_of=fact_at)
    assert earlier.refusal is not None
    assert (earlier.outcome, earlier.refusal.code, earlier.refusal.article) == (
        Outcome.REFUSED, "age_unknown", "LRSSS-21")
    assert (later.outcome, later.basis, later.refusal) == (Outcome.ALLOWED, "LRSSS-17", None)
    # sealed: what is stored of the fact is the person's ciphertext, not the birth date
    stored = [ev.personal for ev in record.events_of(PersonFacts.FactRecorded, sealed=True)]  # type: ignore[attr-defined]
    assert len(stored) == 1 and "date_naissance" not in str(stored[0]) and str(born(30)) not in str(stored[0])
    record.close()


def test_a_parent_s_standing_recorded_as_a_fact_is_attested_from_its_moment_on(store_env: dict[str, str]) -> None:
    """LRSSS 23 [V]: a parent of a child under 14 has access once parental authority is proven; recorded as a
    fact naming the parent, it attests the condition for that parent only, from its moment on."""
    record = Record(store_env)
    open_case(CrisisCases(record))
    book = PersonFactsBook(record)
    book.record_fact(fact(FactKind.BIRTH_DATE, 1, on=born(10)), T0)
    replays = Replays(record)
    without = replays.replay(REF, role=Role.PARENT, actor_id="parent-1", moment=T0, purpose=PurposeKind.PARENTAL)
    book.record_fact(fact(FactKind.PARENT, 2, holder_id="parent-1", reference="jugement 500-04-1"), T0)
    parent = replays.replay(REF, role=Role.PARENT, actor_id="parent-1", moment=T0, purpose=PurposeKind.PARENTAL)
    other = replays.replay(REF, role=Role.PARENT, actor_id="parent-2", moment=T0, purpose=PurposeKind.PARENTAL)
    assert without.refusal is not None and other.refusal is not None
    assert (without.refusal.code, without.refusal.article) == ("conditions_not_attested", "LRSSS-23")
    assert (parent.outcome, parent.basis) == (Outcome.ALLOWED, "LRSSS-23")
    assert (other.refusal.code, other.refusal.article) == ("conditions_not_attested", "LRSSS-23")
    record.close()


def test_a_facts_file_is_refused_once_the_record_holds_facts_and_nothing_is_recorded(
    store_env: dict[str, str],
) -> None:
    record = Record(store_env)
    open_case(CrisisCases(record))
    replays = Replays(record)
    given = ReaderFacts(subject=SubjectStatus(birth_date=born(30)))
    first = replays.replay(REF, role=Role.USAGER, actor_id=PERSON, moment=T0, facts=given)
    assert first.outcome is Outcome.ALLOWED  # no fact in the record yet: the file is still taken
    PersonFactsBook(record).record_fact(fact(FactKind.BIRTH_DATE, 1, on=born(30)), T0)
    with pytest.raises(RuleViolation) as refused:
        replays.replay(REF, role=Role.USAGER, actor_id=PERSON, moment=T0, facts=given)
    assert refused.value.code == "facts_in_record"
    assert [d.decision_id for d in Disclosures(record).accesses(subject_id=PERSON)] == [first.access_id]
    record.close()


def test_a_partner_organisation_s_standing_is_replayed_as_it_stood(store_env: dict[str, str]) -> None:
    """A partner receives content only under an entente in force whose clause permits it (LRSSS 5; the
    entente's information-sharing clause): replayed as of a moment when its entente was only drafted, the
    partner had no entente in force; replayed now, it has one, whose clause does not cover the replay's
    purpose. The consent it relies on is the one recorded at each moment."""
    record = Record(store_env)
    open_case(CrisisCases(record))
    now = datetime.now(UTC)
    Disclosures(record).grant_consent(grant(
        at=now, subject_id=PERSON, grantor_id=PERSON, recipients=["cc-laval"], items=["reason", "etat du dossier"],
        subject_birth_date=born(30)), now)
    ententes = Ententes(record)
    text = crisis_content("cc-laval")
    activate(ententes, ENTENTE, text)
    drafted = next(record.stream(entente_id(ENTENTE))).timestamp  # type: ignore[attr-defined]
    replays = Replays(record)
    then = replays.replay(REF, role=Role.PARTNER_ORG, actor_id="cc-laval", moment=T0, as_of=drafted)
    today = replays.replay(REF, role=Role.PARTNER_ORG, actor_id="cc-laval", moment=datetime.now(UTC))
    assert then.refusal is not None and today.refusal is not None
    assert (then.refusal.code, then.refusal.article) == ("no_active_agreement", "LRSSS-5")
    assert (today.refusal.code, today.refusal.article) == ("agreement_purpose_not_covered", "LRSSS-5")
    record.close()


def test_a_case_read_decides_with_the_recorded_facts_and_refuses_a_facts_file(store_env: dict[str, str]) -> None:
    """`cases show` (usecases.audit.reads) rests on the same person facts as a replay: LRSSS 21 for a person
    recorded as 12, whatever a --facts file would say, and the file refused with nothing recorded."""
    record = Record(store_env)
    cases = CrisisCases(record)
    open_case(cases)
    reads = Reads(record, Disclosures(record), cases)
    PersonFactsBook(record).record_fact(fact(FactKind.BIRTH_DATE, 1, on=born(12)), T0)
    read = reads.case(CASE, CaseItem.STATE, Reader.of(PERSON, Role.USAGER), datetime.now(UTC))
    assert read.decision.refusal is not None
    assert (read.decision.refusal.code, read.decision.refusal.article) == ("minor_under_14", "LRSSS-21")
    with pytest.raises(RuleViolation) as refused:
        reads.case(CASE, CaseItem.STATE, Reader.of(PERSON, Role.USAGER, None, ReaderFacts(
            subject=SubjectStatus(birth_date=born(30)))), datetime.now(UTC))
    assert refused.value.code == "facts_in_record"
    assert [d.decision_id for d in Disclosures(record).accesses(subject_id=PERSON)] == [read.decision.decision_id]
    record.close()


def test_an_intervenant_s_authorisations_are_replayed_as_registered_on_their_account_then(
    store_env: dict[str, str],
) -> None:
    """R-22.1, r. 1, s. 8 (LRSSS-R1-8): the care team reads a record only with an active access authorisation.
    Replayed as of T, the authorisations are those registered on the reader's account and recorded at T
    (`users authorise`, `users withdraw-authorisation`): one recorded after T does not count at T, even though
    its terms start earlier; one withdrawn before T does not count either, while a replay as of a moment it was
    held still finds it. A --facts file of authorisations is refused for a reader with an account."""
    record = Record(store_env)
    open_case(CrisisCases(record))
    principals, replays = Principals(record), Replays(record)
    aid = account_id(PrincipalKind.USER, "interv-1")

    def last_recorded() -> datetime:
        return max(ev.timestamp for ev in record.stream(aid))  # type: ignore[attr-defined]

    def replay_at(t: datetime, facts: ReaderFacts | None = None) -> Outcome | str | None:
        done = replays.replay(REF, role=Role.INTERVENANT, actor_id="interv-1", moment=datetime.now(UTC), as_of=t,
                              facts=facts)
        return done.refusal.code if done.refusal else done.outcome

    principals.add_user("interv-1", "cisss-laval", Role.INTERVENANT, by="admin", at=datetime.now(UTC))
    registered = last_recorded()
    terms = authorisation("interv-1", at=datetime.now(UTC))  # in force from 100 days before
    principals.authorise("interv-1", terms, by="dsp", at=datetime.now(UTC))
    granted = last_recorded()
    principals.withdraw_authorisation("interv-1", 1, "changement d'affectation", by="dsp", at=datetime.now(UTC))
    withdrawn = last_recorded()
    assert replay_at(registered) == "no_active_authorisation"  # granted after T
    assert replay_at(granted) is Outcome.ALLOWED  # held at T
    assert replay_at(withdrawn) == "no_active_authorisation"  # withdrawn before T
    count = len(Disclosures(record).accesses(subject_id=PERSON))
    with pytest.raises(RuleViolation) as refused:
        replay_at(withdrawn, ReaderFacts(authorisations=[terms]))
    assert refused.value.code == "facts_in_record"
    assert len(Disclosures(record).accesses(subject_id=PERSON)) == count  # nothing recorded
    record.close()


def test_the_consents_of_a_replay_as_of_are_those_recorded_then(store_env: dict[str, str]) -> None:
    """A replay as of T decides with the person's consents as recorded at T, found through the listings view
    (an indexed query, not a scan of every grant): one granted after T is left out, one withdrawn after T is
    still in force as it stood, another person's consents never count."""
    record = Record(store_env)
    disclosures = Disclosures(record)
    now = datetime.now(UTC)
    first = disclosures.grant_consent(grant(key="F-1", at=now, subject_id=PERSON, grantor_id=PERSON), now)
    disclosures.grant_consent(grant(key="F-9", at=now, subject_id="someone-else", grantor_id="someone-else"), now)
    between = datetime.now(UTC)
    disclosures.grant_consent(grant(key="F-2", at=now, subject_id=PERSON, grantor_id=PERSON), now)
    disclosures.withdraw_consent(c.WithdrawConsent(by="intervenant-1", command_id="withdraw-F-1", subject_id=PERSON,
                                                   consent_key="F-1", withdrawn_at=datetime.now(UTC)), now)
    replays = Replays(record, disclosures)
    then = replays._consents_at(PERSON, between)  # the set a replay as of `between` decides with
    assert then is not None
    assert [(v.consent_key, v.withdrawn_at) for v in then] == [("F-1", None)]
    assert then[0].consent_id == first.consent_id
    later = replays._consents_at(PERSON, datetime.now(UTC))
    assert later is not None
    assert [v.consent_key for v in later] == ["F-1", "F-2"]
    assert later[0].withdrawn_at is not None
    assert replays._consents_at(PERSON, None) is None  # now: the decision loads the consents itself
    record.close()
