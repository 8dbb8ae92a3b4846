"""Use cases of the crisis case: a thin list, each loading, deciding, saving.

No rule lives here: the aggregate decides. `at` is the business moment given by
the caller (the workflow's clock). Routing reads the ententes of the same
record that may be in force (`candidate_ententes`: their codes from the listings
view, each entente from its chained events), unless the caller passes them itself.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from adapters.record.listings import caught_up
from adapters.record.record import Record
from domain.crisis import commands as c
from domain.crisis.aggregate import CrisisCase, case_id
from domain.crisis.state import CaseView
from domain.directory.model import check_referral_target
from domain.ententes.state import EntenteView
from domain.errors import DomainError, NotFound
from domain.standards.config import StandardsConfig
from usecases.aggregates import each_view, masked_history
from usecases.directory import Services
from usecases.ententes import Ententes


def candidate_ententes(
    ententes: Ententes, *, parties: Iterable[str] = (), crisis_in: str | None = None, named: Iterable[str] = ()
) -> list[EntenteView]:
    """The ententes that may be in force, each loaded from its hash-chained events: routing and a partner's
    standing decide on these (`in_force_at`, on the aggregate) as on every entente of the record, since only an
    active entente routes or admits. Which ones: the listings view, caught up first (as complete as the scan of
    the notification log, at the cost of the events recorded since its last read), keeps the ententes activated
    and whose end is not recorded, from their lifecycle events and never from a date (`adapters.record.listings`);
    one past its end date but not yet expired in the record is loaded, and the domain says no. Where the store
    has no usable view (in memory, read-only), every entente of the record, as the scan lists them.

    Narrowed to what the caller decides on, so that a case loads the ententes that can matter for it and not every
    entente in force: `parties`, each a party of the version in force; `crisis_in`, a mobile crisis offer in that
    territory (the view's routing keys, a superset of what `crisis_offers` and `letting_ententes` keep). `named`:
    codes loaded as well whatever the view says (the ententes a case's candidates were routed under, which
    `askable` judges by their code)."""
    listings = caught_up(ententes.record)
    if listings is None:
        return ententes.list()
    codes = listings.view.entente_candidates(parties=parties, crisis_in=crisis_in)
    found = [ententes.view(code) for code in codes]
    for code in sorted(set(named) - set(codes)):
        with suppress(NotFound):
            found.append(ententes.view(code))
    return found


class CrisisCases:
    def __init__(self, record: Record, config: StandardsConfig | None = None) -> None:
        self.record = record
        self.config = config or StandardsConfig()

    # ------------------------------------------------------------------ commands
    def open(
        self, cmd: c.OpenCase, at: datetime, ententes: Iterable[EntenteView] | None = None
    ) -> CaseView:
        """Open the case; a retry (same code, same command id) returns the case it made."""
        try:
            existing = self.get(cmd.case_code)
        except NotFound:
            case = CrisisCase.open(cmd, at, self.config, self._ententes(ententes, cmd.responsible_org, cmd.territory))
            self.record.save(case)
            return case.view()
        if existing.already(cmd):
            return existing.view()
        raise DomainError(f"a crisis case with code {cmd.case_code} already exists", code="duplicate_code")

    def check_opening(
        self, cmd: c.OpenCase, at: datetime, ententes: Iterable[EntenteView] | None = None
    ) -> None:
        """Would `open` accept this command now? The same rules, on the record as it stands, nothing saved:
        an entry point asks before it starts a case's workflow, so a refused opening leaves none behind."""
        try:
            existing = self.get(cmd.case_code)
        except NotFound:
            CrisisCase.open(cmd, at, self.config, self._ententes(ententes, cmd.responsible_org, cmd.territory))
            return
        if not existing.already(cmd):
            raise DomainError(f"crisis case {cmd.case_code} is already open", code="duplicate_code")

    def execute(
        self, case_code: str, cmd: c.Command, at: datetime, ententes: Iterable[EntenteView] | None = None
    ) -> CaseView:
        case = self.get(case_code)
        if isinstance(cmd, c.StartReferral) and cmd.receiving.directory_service_id is not None:
            # A referral naming a directory service is checked against the directory (issue 11).
            check_referral_target(cmd.receiving, Services(self.record).all())
        # Routing reads the directory too (read only for a request for a mobile team).
        case.execute(cmd, at, self.config, lambda: self._routed(case, ententes),
                     lambda: Services(self.record).all().values())
        self.record.save(case)
        return case.view()

    def advance(self, case_code: str, now: datetime) -> CaseView:
        """The calendar's transitions due at `now` (the timer's moment); an answer not given in time asks the
        next candidate the ententes and the directory, as recorded at `now`, let it ask (issue 11)."""
        case = self.get(case_code)
        if case.advance(now, self.config, lambda: self._routed(case, None),
                        lambda: Services(self.record).as_of(now).values()):
            self.record.save(case)
        return case.view()

    def _ententes(
        self, given: Iterable[EntenteView] | None, responsible_org: str | None = None, territory: str | None = None,
        named: Iterable[str] = (),
    ) -> list[EntenteView]:
        """The ententes routing considers: `given`, or those of the record that may be in force
        (`candidate_ententes`), narrowed to the case's CSSS and territory (routing asks only under a mobile crisis
        offer there of an entente the CSSS is party to, `crisis_offers`), with the ententes `named`: routing
        decides on them as on every entente of the record."""
        if given is not None:
            return list(given)
        return candidate_ententes(Ententes(self.record), parties=() if responsible_org is None else (responsible_org,),
                                  crisis_in=territory, named=named)

    def _routed(self, case: CrisisCase, given: Iterable[EntenteView] | None) -> list[EntenteView]:
        """`_ententes` for an open case: its CSSS and territory, and the ententes its candidates were routed under
        (the cascade and a reassignment judge those by their code, `askable`)."""
        named = [x.agreement_code for x in case.candidates if x.agreement_code is not None]
        return self._ententes(given, case.responsible_org, case.territory, named)

    # ------------------------------------------------------------------ queries
    def get(self, case_code: str, *, version: int | None = None) -> CrisisCase:
        try:
            case: CrisisCase = self.record.repository.get(case_id(case_code), version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no crisis case with code {case_code}") from None
        return case

    def view(self, case_code: str, *, as_of_event: int | None = None) -> CaseView:
        return self.get(case_code, version=as_of_event).view()

    def opened(self, *, from_view: bool = False) -> builtins.list[tuple[str, datetime]]:
        """(code, opening moment) of every case ever opened, in the order they were opened.

        Read from the notification log (the `Opened` events only): no case is loaded, and nobody's
        personal content is opened (an event whose content does not open is still found here).
        With `from_view`, read from the listings view instead (`adapters.record.listings`: an indexed query
        after a catch-up that costs only the events recorded since the last read): for listings shown to
        people, never for a decision or an audit.
        """
        if from_view and (listings := caught_up(self.record)) is not None:
            return listings.view.cases(open_only=False)
        opened = CrisisCase.Opened  # type: ignore[attr-defined]
        return [(ev.case_code, ev.at) for ev in self.record.events_of(opened, sealed=True)]

    def still_open(self, *, from_view: bool = False) -> builtins.list[tuple[str, datetime]]:
        """(code, opening moment) of every case not closed, in the order they were opened: `opened` less the
        cases with a `CaseClosed` event, both read from the notification log, so a worklist loads only the
        open cases (a region keeps every closed case for years; none of them is loaded here). `from_view`:
        as `opened`."""
        if from_view and (listings := caught_up(self.record)) is not None:
            return listings.view.cases(open_only=True)
        closed = {ev.originator_id for ev in self.record.events_of(CrisisCase.CaseClosed, sealed=True)}  # type: ignore[attr-defined]
        return [(code, at) for code, at in self.opened() if case_id(code) not in closed]

    def opened_in(self, since: datetime | None = None, until: datetime | None = None, *, from_view: bool = True,
                  ) -> builtins.list[tuple[str, datetime]]:
        """`opened`, only the cases opened in [since, until) (an open end: no bound): the cases a report or a
        search loads, found without loading any other. From the listings view unless `from_view=False` (the
        scan): the same list, as `opened` says."""
        return [(code, at) for code, at in self.opened(from_view=from_view)
                if (since is None or at >= since) and (until is None or at < until)]

    def naming(self, org_id: str, since: datetime | None = None, *, from_view: bool = True,
               ) -> builtins.list[tuple[str, datetime]]:
        """(code, opening moment) of the cases opened since `since` (None: every one) that may have `org_id` as a
        party or as a Task's owner or requester, in the order they were opened: from the listings view, the cases
        an event of which names the organisation (`adapters.record.listings`, caught up first), a superset the
        caller decides on once each case is loaded (`case_parties`, `for_party`). `from_view=False`, or no view:
        every case opened since (`opened_in`), the caller deciding on each as well."""
        if from_view and (listings := caught_up(self.record)) is not None:
            return [(code, at) for code, at in listings.view.cases(open_only=False, party=org_id)
                    if since is None or at >= since]
        return self.opened_in(since, from_view=False)

    def of_person(self, subject_id: str, *, from_view: bool = True) -> builtins.list[tuple[str, datetime]]:
        """(code, opening moment) of every case about the person (closed or not), in the order they were opened:
        their `Opened` events name the person in clear, so nobody's content is opened. From the listings view (an
        index on the person, caught up first) unless `from_view=False`, or no view: every `Opened` event scanned."""
        if from_view and (listings := caught_up(self.record)) is not None:
            return listings.view.cases(open_only=False, subject_id=subject_id)
        opened = CrisisCase.Opened  # type: ignore[attr-defined]
        return [(ev.case_code, ev.at) for ev in self.record.events_of(opened, sealed=True)
                if getattr(ev, "subject_id", None) == subject_id]

    def views(
        self, codes: Iterable[tuple[str, datetime]], *, skipped: Callable[[tuple[str, str]], None]
    ) -> Iterator[tuple[str, datetime, CaseView]]:
        """The view of each case of `codes` (as `opened` gives them), for listings and reports over many
        cases: one that does not load (an event that does not open, a row of an older version) is passed
        to `skipped` as (code, why) and the others are still read. A store that cannot be read at all
        (`PersistenceError`) still fails the whole."""
        return each_view(codes, self.view, skipped)

    def history(self, case_code: str) -> builtins.list[dict[str, Any]]:
        """Every event of the case, its sealed parts masked (read them with `personal_details`), or erased."""
        aggregate_id = case_id(case_code)
        if aggregate_id not in self.record.repository:
            raise NotFound(f"no crisis case with code {case_code}")
        return masked_history(self.record, aggregate_id)
