"""`arrimage demo` end to end: the installed command, run twice against a dev server and a real worker, under the
region file of `examples/` (issue 11: tightened standards, P-38.001 designations, AAOR hours and the CISSS's
teams with their hours); the record then holds the two ententes and a case on every path of the crisis
trajectory, each case carrying the region's figures. On a SQLite file and a PostgreSQL schema (`store_env`, issue
12); each variant has a dev server of its own, so the demo's fixed entente codes never meet on one."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from cli.demo import ENTENTE_CC, ENTENTE_CPS, PATHS
from domain.crisis.model import InterventionOutcome
from domain.crisis.state import AttemptStatus, CaseView, ReferralStatus
from tests.e2e.engines import engine_env, store_settings
from tests.e2e.harness import arun_cli
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from workers.binaries import temporal_cli
from workers.bootstrap import data_converter
from workers.settings import Settings
from workers.worker import build_worker
from workflows.crisis import SEARCH_ATTRIBUTES

pytestmark = pytest.mark.slow
REGION = Path(__file__).parents[2] / "examples" / "standards-laval.toml"



@pytest_asyncio.fixture
async def engine(task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[tuple[dict[str, str], dict[str, str]]]:
    server = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), data_converter=data_converter(), ui=False,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    settings = Settings(_env_file=None, task_queue=task_queue, data_dir=tmp_path, standards_file=REGION,
                        **store_settings(store_env))
    record = Record(store_env)
    env = engine_env(store_env, tmp_path, columns=160, target=server.client.service_client.config.target_host,
                     task_queue=task_queue, ARRIMAGE_STANDARDS_FILE=str(REGION))
    try:
        with ThreadPoolExecutor(8) as executor:
            async with build_worker(server.client, settings, record, executor=executor):
                yield env, store_env
    finally:
        record.close()
        await server.shutdown()


async def demo(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    ran = await arun_cli("demo", *args, env=env, timeout=240)
    return ran.code, ran.out, ran.err


def cases_in(store: dict[str, str]) -> tuple[list[CaseView], dict[str, int]]:
    record = Record(store)
    try:
        cases = CrisisCases(record)
        views = [cases.view(code) for code, _ in cases.opened()]
        ententes = Ententes(record)
        events = {code: ententes.view(code).event_count for code in ententes.codes()}
        return views, events
    finally:
        record.close()


async def test_a_synthetic_day_takes_every_path_and_can_run_twice(
    engine: tuple[dict[str, str], dict[str, str]],
) -> None:
    env, store = engine
    code, out, err = await demo(env, "--calls", "12", "--seed", "7", "--json")
    assert (code, err) == (0, ""), (out, err)
    summary: dict[str, Any] = json.loads(out)
    assert (summary["cases"], summary["failed"], summary["errors"]) == (12, 0, [])
    assert summary["ententes"] == [{"code": ENTENTE_CC, "status": "en_vigueur"},
                                   {"code": ENTENTE_CPS, "status": "en_vigueur"}]
    assert list(summary["paths"]) == PATHS and all(sum(v.values()) == 1 for v in summary["paths"].values())
    assert summary["stages"] == {"fermee": 11, "reference": 1}

    views, ententes = cases_in(store)
    assert len(views) == 12 and {v.case_code for v in views} == set(summary["codes"])
    assert summary["events"] == sum(v.event_count for v in views)
    assert Counter(v.stage.value for v in views) == {"fermee": 11, "reference": 1}
    assert Counter(v.closure.kind.value for v in views if v.closure) == {
        "fermeture_telephonique": 2, "crise_resolue": 7, "service_rejoint": 1, "fermeture_superviseur": 1,
    }
    outcomes = Counter(v.intervention.outcome for v in views if v.intervention and v.intervention.outcome)
    assert outcomes == {InterventionOutcome.CRISIS_RESOLVED: 6, InterventionOutcome.HOSPITAL_EMERGENCY: 1,
                        InterventionOutcome.CRISIS_HOUSING: 1, InterventionOutcome.P38_APPLICATION: 1}
    assert sum(1 for v in views if v.intervention and v.intervention.p38_applied) == 1
    assert Counter(f.plan for v in views for f in v.follow_ups if f.completed_at) == {
        "hebergement_temporaire": 1, "suivi_etroit": 1}
    assert Counter(r.status for v in views for r in v.referrals) == {
        ReferralStatus.REACHED: 1, ReferralStatus.REFUSED: 1, ReferralStatus.ACCEPTED: 1}
    escalated = [v for v in views if any(e.deadline_id is None for e in v.escalations)]
    assert len(escalated) == 1  # no team accepted: the supervisor reassigned
    assert [a.status for a in escalated[0].attempts][-1] is AttemptStatus.ACCEPTED
    assert escalated[0].attempts[-1].assigned_by_supervisor
    declined = Counter(a.status for v in views for a in v.attempts)[AttemptStatus.DECLINED]
    assert declined == 1 + 3  # one decline then another team; three declines before the supervisor
    assert [v.referring_agreement for v in views if v.intake_org == "cps-laval"] == [ENTENTE_CPS]
    assert all(v.subject_id.startswith("demo-") for v in views)
    # the cases run under the region's figures: the AAOR's first contact tightened to 1 h 30 (seed: 2 heures)
    aaor = [d for v in views for d in v.deadlines if d.standard_id == "aaor.premier_contact"]
    assert aaor and {d.original_due_at - d.started_at for d in aaor} == {timedelta(hours=1, minutes=30)}
    assert set(ententes) == {ENTENTE_CC, ENTENTE_CPS}

    # A second run reuses the ententes (nothing recorded on them) and adds its own calls.
    code, out, err = await demo(env, "--calls", "12", "--seed", "8")
    assert (code, err) == (0, ""), (out, err)
    assert "Synthetic day: 12 calls" in out and "arrimage report standards --from" in out
    # People read the French labels; the codes stay in --json (issue 7).
    assert "fermée (crise résolue) ×" in out and f"{ENTENTE_CC} (en vigueur)" in out, out
    assert not any(code in out for code in ("fermee (", "fermee ×", "crise_resolue", "reference ×", "en_vigueur"))
    views_after, ententes_after = cases_in(store)
    assert len(views_after) == 24 and ententes_after == ententes
    assert Counter(v.stage.value for v in views_after) == {"fermee": 22, "reference": 2}
