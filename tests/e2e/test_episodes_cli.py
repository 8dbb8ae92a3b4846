"""`arrimage episodes` and `report standards` end to end (issue 11, « Meetings, plans, and the consultation
clocks »): the installed command as a subprocess, against a real Temporal dev server, a real worker in this
process and a real record (a SQLite file or a PostgreSQL schema, `store_env`, issue 12): every test on both.

The caps and clocks are the configured standards' (`domain.standards.config`): a consultation sociale holds at
most 12 meetings, then its intervention plan is revised to prolong it (seed 001 L1423-1426); its first contact
is due within 7 days and its follow-up started within 30 days of the request's acceptance (L1485-1493).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.clock import local_date
from tests.e2e.engines import CSSS, case_engine, eventually
from tests.e2e.engines import CaseEngine as Engine

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def engine(dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[Engine]:
    async with case_engine(dev_env, task_queue, tmp_path, store_env) as engine:
        yield engine


async def events(engine: Engine, code: str) -> list[str]:
    return [row["event"] for row in (await engine.ok("episodes", "history", code, "--json")).json()]


async def open_episode(engine: Engine, service: str, *args: str) -> str:
    opened = (await engine.ok("episodes", "open", "--service", service, "--subject", "test-personne-0001",
                              "--territory", "laval", "--request-mode", "telephone", "--org", CSSS, "--json",
                              *args)).json()
    code: str = opened["episode_code"]
    return code


async def test_the_thirteenth_meeting_waits_for_a_revised_plan(engine: Engine) -> None:
    """Seed 001 L1423-1426: « un maximum de 12 rencontres », beyond which the PI is « révisé et modifié en
    conséquence ». The 13th meeting is refused with the rule's code and records nothing; after a revision
    granting more, it is recorded."""
    code = await open_episode(engine, "consultation_sociale")
    assert code.startswith("E-") and len(code) == 12
    accepted = await engine.ok("episodes", "accept", code, "--org", CSSS)
    assert accepted.out.splitlines()[0] == f"{code}: consultation sociale · demande acceptée · meetings 0 / 12"
    assert accepted.out.splitlines()[1].startswith("next deadline ")
    await engine.ok("episodes", "first-contact", code, "--org", CSSS)
    await engine.ok("episodes", "act", code, "--org", CSSS, "--file", engine.write(
        "pi.json", {"type": "intervention_plan", "personal": {"objectifs": "Reprendre le travail"}}))
    for n in range(1, 13):
        done = await engine.ok("episodes", "meeting", code, "--intervenant", "ts-042", "--org", CSSS)
        assert f"meetings {n} / 12" in done.out
    before = await events(engine, code)
    assert before.count("MeetingHeld") == 12

    refused = await engine.run("episodes", "meeting", code, "--intervenant", "ts-042", "--org", CSSS)
    assert (refused.code, refused.out) == (2, ""), refused
    assert refused.err.startswith("refused [meeting_cap_reached]: ")
    assert "meeting 13 would exceed the cap of 12 meetings (seed 001 L1423-1426" in refused.err
    assert await events(engine, code) == before  # nothing recorded

    unjustified = await engine.run("episodes", "revise-plan", code, "--meetings", "4", "--org", CSSS)
    assert unjustified.code == 2 and "justification" in unjustified.err, unjustified
    assert await events(engine, code) == before

    revised = (await engine.ok("episodes", "revise-plan", code, "--meetings", "4", "--justification",
                               "Deuil compliqué: quatre rencontres de plus", "--org", CSSS, "--json")).json()
    assert [r["additional_meetings"] for r in revised["revisions"]] == [4]
    thirteenth = await engine.ok("episodes", "meeting", code, "--intervenant", "ts-042", "--org", CSSS)
    assert "meetings 13 / 16" in thirteenth.out

    shown = (await engine.ok("episodes", "show", code, "--json")).json()
    assert shown["meetings"] == {"held": 13, "cap": 12, "granted": 4, "allowed": 16, "revisions": 1}
    assert shown["access"]["outcome"] == "autorise" and shown["access"]["role"] == "superviseur"
    assert shown["workflow"]["reachable"] is True and shown["workflow"]["running"] is True
    clocks = {k["standard_id"]: k for k in shown["clocks"]}
    assert clocks["consultation_sociale.premier_contact"]["status"] == "respecte"
    assert clocks["consultation_sociale.amorce_suivi"]["status"] == "en_cours"
    assert 29 * 86400 < clocks["consultation_sociale.amorce_suivi"]["seconds_left"] <= 30 * 86400
    assert shown["view"]["intervention_plan"]["by"] == "superviseure"
    text = (await engine.ok("episodes", "show", code)).out
    assert "13 / 16 (cap 12 + 4 granted by PI revision)" in text and "consultation_sociale.amorce_suivi" in text
    assert "Reprendre le travail" not in text and "Deuil" not in text  # the plan's content is never shown
    history = (await engine.ok("episodes", "history", code)).out
    assert "Deuil" not in history and "Reprendre" not in history

    # A read is an access: an intervenant without an access authorisation is refused, nothing of the episode
    # printed, and the refusal is recorded in the person's register (as `cases show`).
    denied = await engine.run("episodes", "show", code, "--role", "intervenant")
    assert (denied.code, denied.out) == (2, ""), denied
    assert denied.err.startswith("refused [no_active_authorisation]: ") and "this refused access is recorded" in \
        denied.err
    accesses = (await engine.ok("audit", "accesses", "--person", "test-personne-0001", "--json")).json()
    assert [(a["actor_id"], a["outcome"]) for a in accesses][-1] == ("superviseure", "refuse"), accesses[-1]

    # A supervisor of another organisation is refused by the rule; nothing recorded.
    wrong = await engine.run("episodes", "meeting", code, "--intervenant", "x", "--org", "cc-laval")
    assert wrong.code == 2 and wrong.err.startswith("refused [wrong_party]: "), wrong

    closed = await engine.ok("episodes", "close", code, "--reason", "Objectifs atteints", "--org", CSSS)
    assert closed.out.splitlines()[0].startswith(f"{code}: consultation sociale · fermé")
    again = await engine.run("episodes", "close", code, "--org", CSSS)
    assert again.code == 2 and again.err.startswith("refused [episode_closed]: "), again
    assert (await events(engine, code))[-1] == "EpisodeClosed"
    missing = await engine.run("episodes", "show", "E-AAAAAAAAAA")
    assert (missing.code, missing.out, missing.err) == (3, "", "not found: no episode with code E-AAAAAAAAAA\n")


async def test_the_report_shows_both_consultation_clocks_and_the_aaor(engine: Engine) -> None:
    """« The report shows both » (issue 11): the first contact within 7 days and the follow-up within 30 days of
    the acceptance (seed 001 L1485-1493), counted exactly from the episodes; the AAOR's callback within 24 h
    (L780-783) beside them."""
    now = datetime.now(UTC)
    six_days = (now - timedelta(days=6)).isoformat()
    done = await open_episode(engine, "consultation_sociale", "--received-at", six_days)
    await engine.ok("episodes", "accept", done, "--at", six_days, "--org", CSSS)
    await engine.ok("episodes", "first-contact", done, "--at", (now - timedelta(days=5)).isoformat(), "--org", CSSS)
    await engine.ok("episodes", "follow-up", done, "--at", (now - timedelta(days=2)).isoformat(), "--org", CSSS)
    waiting = await open_episode(engine, "consultation_sociale")
    await engine.ok("episodes", "accept", waiting, "--org", CSSS)
    aaor = await open_episode(engine, "aaor", "--received-at", (now - timedelta(hours=2)).isoformat())

    async def aaor_overdue() -> bool:  # its analysis clock is 3 seconds in this region (tests/e2e/engines.py)
        found = (await engine.ok("episodes", "list", "--overdue", "--json")).json()
        return [r["episode_code"] for r in found] == [aaor]
    await eventually(aaor_overdue, "the AAOR episode overdue (its 3-second analysis clock missed)")
    assert "DeadlineMissed" in await events(engine, aaor)
    listed = (await engine.ok("episodes", "list", "--json")).json()
    assert [r["episode_code"] for r in listed] == [done, waiting, aaor]
    assert [r["stage"] for r in listed] == ["suivi", "demande_acceptee", "demande_recue"]
    assert [r["episode_code"] for r in (await engine.ok("episodes", "list", "--json", "--service", "aaor")).json()
            ] == [aaor]

    today = local_date(now).isoformat()
    report = (await engine.ok("report", "standards", "--from", local_date(now - timedelta(days=7)).isoformat(),
                              "--to", today, "--json")).json()
    assert report["episodes"] == 3 and report["cases"] == 0
    figures = {f["standard_id"]: f for f in report["standards"]}
    first = figures["consultation_sociale.premier_contact"]
    assert (first["observations"], first["in_time"], first["late"], first["open_in_time"]) == (2, 1, 0, 1)
    assert first["median_delay_seconds"] == 86400  # accepted 6 days ago, reached 5 days ago
    follow = figures["consultation_sociale.amorce_suivi"]
    assert (follow["observations"], follow["in_time"], follow["late"], follow["open_in_time"]) == (2, 1, 0, 1)
    assert follow["median_delay_seconds"] == 4 * 86400
    assert figures["aaor.retour_appel"]["observations"] == 1
    table = (await engine.ok("report", "standards", "--from", today, "--to", today)).out
    assert "consultation_sociale.premier_contact" in table and "consultation_sociale.amorce_suivi" in table
    assert "3 épisodes de services" in table
