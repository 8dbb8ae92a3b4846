"""`arrimage doctor`'s checks of a deployment (issue 12) on the real dev server and PostgreSQL: Temporal and its
namespace answer, the case search attributes are registered (or the fix names the `temporal operator
search-attribute create` command for each missing one), the record's tables are present, the gateway's
/readyz answers, and the clock is compared with PostgreSQL's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import PG, PostgresSchema, require_postgres
from workers.bootstrap import open_record
from workers.doctor_live import RECORD_TABLES, WANTED, Check, checks, combined
from workers.settings import Settings


def settings(env: WorkflowEnvironment, tmp_path: Path, **extra: Any) -> Settings:
    return Settings(_env_file=None, mode="development", temporal_tls=False,
                    temporal_address=env.client.service_client.config.target_host,
                    data_dir=tmp_path, **extra)


def by_name(found: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in found}


async def test_a_dev_server_without_the_case_search_attributes_fails_with_the_commands_to_register_them(
        dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """`up --temporal existing` registers nothing: the crisis workflow's first upsert would fail its task."""
    open_record(settings(dev_env, tmp_path), create=True).close()
    found = by_name(await checks(settings(dev_env, tmp_path)))
    assert (found["temporal"].status, found["namespace"].status, found["record"].status) == ("ok", "ok", "ok")
    attributes = found["search_attributes"]
    assert attributes.status == "fail"
    assert attributes.detail.startswith("missing CaseStage, CaseHolder, CaseTerritory, CaseTeam, CaseOverdue, "
                                        "CaseNextDeadline, CaseOpenedAt in 'default'")
    assert attributes.fix.split("; ") == [
        f"temporal operator search-attribute create --namespace default --name {name} --type {kind}"
        for name, kind in WANTED.items()]
    assert found["clock"].status == "warn"  # nothing to compare with: SQLite and no gateway


async def test_registered_search_attributes_and_a_missing_namespace(visible_env: WorkflowEnvironment,
                                                                    tmp_path: Path) -> None:
    found = by_name(await checks(settings(visible_env, tmp_path)))
    assert found["search_attributes"] == Check("search_attributes", "ok",
                                               "the 7 case attributes registered in 'default'")
    assert found["record"].status == "fail" and found["record"].detail.startswith("no SQLite record at ")
    elsewhere = by_name(await checks(settings(visible_env, tmp_path, temporal_namespace="arrimage-absent")))
    assert elsewhere["namespace"].status == "fail"
    assert elsewhere["namespace"].fix.startswith("temporal operator namespace create --namespace arrimage-absent")
    assert "search_attributes" not in elsewhere


async def test_temporal_unreachable_within_the_short_timeout(tmp_path: Path) -> None:
    found = await checks(Settings(_env_file=None, mode="development", temporal_tls=False,
                                  temporal_address="127.0.0.1:1", data_dir=tmp_path))
    assert found[0].name == "temporal" and found[0].status == "fail"
    assert found[0].detail == "cannot connect to 127.0.0.1:1 (no TLS): Connection refused"
    assert "ARRIMAGE_TEMPORAL_ADDRESS" in found[0].fix


@pytest.mark.postgres
async def test_postgres_schema_and_clock(visible_env: WorkflowEnvironment, tmp_path: Path) -> None:
    require_postgres()
    schema = PostgresSchema()
    try:
        pg = settings(visible_env, tmp_path, store="postgres", postgres_host=PG["host"],
                      postgres_port=int(PG["port"]), postgres_dbname=PG["dbname"], postgres_user=PG["user"],
                      postgres_password=PG["password"], postgres_schema=schema.name)
        empty = by_name(await checks(pg))["record"]
        assert empty.status == "fail"
        assert f"schema {schema.name}: the record's tables {', '.join(RECORD_TABLES)} are missing" in empty.detail
        open_record(pg, create=True).close()
        found = by_name(await checks(pg))
        assert found["record"].status == "ok", found["record"]
        assert found["clock"].status == "ok" and found["clock"].detail.endswith("PostgreSQL's clock")
        strict = by_name(await checks(pg.model_copy(update={"clock_skew_seconds": 1e-9})))["clock"]
        assert strict.status == "warn" and "past ARRIMAGE_CLOCK_SKEW_SECONDS=1e-09" in strict.detail
        wrong = by_name(await checks(pg.model_copy(update={"postgres_port": 1})))["record"]
        assert wrong.status == "fail" and "ARRIMAGE_POSTGRES_HOST/PORT" in wrong.fix
    finally:
        schema.drop()


@pytest.fixture
def gateway_stand_in() -> Iterator[tuple[str, list[int]]]:
    """An HTTP server answering /readyz with the status the test sets (a stand-in for the gateway's own)."""
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status[0] if self.path == "/readyz" else 404)
            self.end_headers()
            self.wfile.write(b'{"record": "ok", "temporal": "unreachable"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", status
    finally:
        server.shutdown()
        server.server_close()


async def test_the_gateway_readiness_and_its_clock(visible_env: WorkflowEnvironment, tmp_path: Path,
                                                   gateway_stand_in: tuple[str, list[int]]) -> None:
    url, status = gateway_stand_in
    found = by_name(await checks(settings(visible_env, tmp_path, api_url=url)))
    assert found["gateway"] == Check("gateway", "ok", f"{url}/readyz answered 200")
    assert found["clock"].status == "ok" and "the gateway's Date header" in found["clock"].detail
    status[0] = 503
    failed = by_name(await checks(settings(visible_env, tmp_path, api_url=url)))["gateway"]
    assert failed.status == "fail" and failed.detail.startswith(f"{url}/readyz answered 503")


def test_production_ready_only_when_the_configuration_is_and_no_check_failed() -> None:
    config = {"mode": "production", "problems": [], "warnings": [], "production_ready": True}
    ok = [Check("temporal", "ok", "answers"), Check("clock", "warn", "not measured", "NTP")]
    assert combined(config, ok)["production_ready"] is True
    assert combined(config, ok)["warnings"] == ["clock: not measured"]
    failed = combined(config, [*ok, Check("record", "fail", "no tables", "start the worker")])
    assert (failed["production_ready"], failed["problems"]) == (False, ["record: no tables"])
    assert combined({**config, "problems": ["ARRIMAGE_MODE=development"]}, ok)["production_ready"] is False


async def test_the_compose_setup_script_creates_what_doctor_checks(dev_env: WorkflowEnvironment,
                                                                   tmp_path: Path) -> None:
    """deploy/compose/compose.yaml's temporal-setup, its TLS flags replaced by this dev server's address and its
    namespace by a new one: the namespace and the seven case attributes, as doctor then finds them; run twice,
    it succeeds twice (a restarted stack runs it again)."""
    import re
    import subprocess
    import uuid

    import yaml

    from workers.binaries import temporal_cli

    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "deploy/compose/compose.yaml").read_text())
    namespace = f"arrimage-{uuid.uuid4().hex[:8]}"
    address = dev_env.client.service_client.config.target_host
    script = compose["services"]["temporal-setup"]["command"][0].replace("$$", "$")
    script = re.sub(r"^T=.*$", f'T="{temporal_cli()} --address {address}"', script, flags=re.M)
    script = script.replace("--namespace arrimage ", f"--namespace {namespace} ").replace(
        "--namespace arrimage\n", f"--namespace {namespace}\n")
    before = by_name(await checks(settings(dev_env, tmp_path, temporal_namespace=namespace)))
    assert before["namespace"].status == "fail"
    for _ in range(2):
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    after = by_name(await checks(settings(dev_env, tmp_path, temporal_namespace=namespace)))
    assert (after["namespace"].status, after["search_attributes"].status) == ("ok", "ok"), after
