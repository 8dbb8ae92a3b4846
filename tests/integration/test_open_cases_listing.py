"""The portal's worklist reads only the cases still open (`CrisisCases.still_open`): a region keeps every closed
case for years, and none of them is loaded to build a worklist (issue 10, « the portal worklist loads every
case »). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from adapters.record.record import Record
from domain.crisis import commands as c
from domain.crisis.model import PhoneDisposition
from tests.crisis_builders import CSSS, T0, open_cmd
from usecases.crisis import CrisisCases


def test_still_open_leaves_out_the_closed_cases_in_opening_order(record: Record) -> None:
    cases = CrisisCases(record)
    codes = ["C-AAAAAAAA22", "C-BBBBBBBB22", "C-CCCCCCCC22", "C-DDDDDDDD22"]
    for n, code in enumerate(codes):
        cases.open(open_cmd(code, face=False), T0 + timedelta(minutes=n))
    for code in (codes[1], codes[3]):
        cases.execute(code, c.CloseAtPhone(by="intervenant-1", actor_org=CSSS,
                                           disposition=PhoneDisposition.STABILISED, reason="crise stabilisée"),
                      T0 + timedelta(hours=1))

    assert [code for code, _ in cases.opened()] == codes
    assert cases.still_open() == [(codes[0], T0), (codes[2], T0 + timedelta(minutes=2))]
