"""`arrimage cases template` end to end (issue 7): the intake it prints, comments and all, opens a case
as is on a real dev server and worker."""

from __future__ import annotations

import pytest

from tests.e2e import test_cases_cli as cases
from tests.e2e.test_cases_cli import Engine

case_server, engine = cases.case_server, cases.engine  # the same fixtures: a dev server, a worker, the CLI

pytestmark = pytest.mark.slow


async def test_the_printed_intake_opens_a_case_as_is(engine: Engine) -> None:
    printed = await engine.ok("cases", "template", "--kind", "info_social")
    path = engine.workdir / "intake.json"
    path.write_text(printed.out, encoding="utf-8")
    assert '"// urgency"' in printed.out  # the fields are explained in the file itself
    opened = await engine.ok("cases", "open", "--file", str(path))
    code = opened.out.split(":")[0]
    assert opened.out.startswith(f"{code}: accueil · holder cisss-laval\n"), opened
    assert (await engine.ok("cases", "show", code, "--json")).json()["view"]["intake"]["urgency"] == "urgent"
    listed = (await engine.ok("cases", "list", "--limit", "0")).out
    assert code in listed and "accueil" in listed
