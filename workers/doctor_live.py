"""`arrimage doctor`'s checks of a running deployment (issue 12), beside the configuration checks of
`workers.doctor`: each one `ok`, `warn` or `fail`, with what it found and, when not ok, how to fix it.

- `temporal`: the frontend answers within a short timeout (with the TLS settings the workers use);
- `namespace`: ARRIMAGE_TEMPORAL_NAMESPACE exists there;
- `search_attributes`: the case search attributes (`workflows.crisis.SEARCH_ATTRIBUTES`) are registered in the
  namespace with their types (`arrimage up` registers them on its own dev server; `--temporal existing`, a
  cluster and Temporal Cloud do not: a crisis workflow's first upsert would fail its workflow task);
- `record`: PostgreSQL answers and holds the record's tables (or the SQLite file does);
- `gateway`: when ARRIMAGE_API_URL is set, its `/readyz` answers 200;
- `clock`: this machine's clock against PostgreSQL's `now()` (or the gateway's `Date` header, to the second);
  past ARRIMAGE_CLOCK_SKEW_SECONDS a warning (Temporal's timers fire on the server's clock, the record's
  timestamps are the workers'). Temporal's API gives no server time, so the skew is not measured against it.

Nothing is written anywhere, no key is printed; each check stops after `TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.record.record import Record
from adapters.record.sql import CASE_SUBJECTS, CHAIN, CHECKPOINTS, KEYS, STORE
from adapters.temporal.client import connect
from workers.settings import Settings
from workflows.crisis import SEARCH_ATTRIBUTES

TIMEOUT = 3.0
Status = Literal["ok", "warn", "fail"]

# The record's tables on PostgreSQL (the library's events table is `<application name>_events`), and on SQLite
RECORD_TABLES = (f"{Record.name}_events", CHAIN, CHECKPOINTS, STORE, KEYS, CASE_SUBJECTS)
SQLITE_TABLES = ("stored_events", CHAIN, CHECKPOINTS, STORE, KEYS, CASE_SUBJECTS)

_TYPES = {IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword", IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
          IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime", IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
          IndexedValueType.INDEXED_VALUE_TYPE_TEXT: "Text", IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: "Double",
          IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList"}
# The search attributes the crisis workflow upserts, with the type `temporal operator search-attribute create`
# takes (`workers.embedded.SEARCH_ATTRIBUTES` registers the same on `arrimage up`'s dev server)
WANTED = {key.name: _TYPES[IndexedValueType.ValueType(int(key.indexed_value_type))] for key in SEARCH_ATTRIBUTES}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def json(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v or k != "fix"}


async def checks(settings: Settings) -> list[Check]:
    """Every check of the deployment these settings name, in order."""
    found = await _temporal(settings)
    record, server_time = await asyncio.to_thread(_record, settings)
    found.append(record)
    gateway_time = None
    if settings.api_url is not None:
        gateway, gateway_time = await _gateway(str(settings.api_url))
        found.append(gateway)
    found.append(_clock(settings, server_time or gateway_time, "PostgreSQL's clock" if server_time else
                        "the gateway's Date header (to the second)"))
    return found


# ---------------------------------------------------------------------------------------------------- Temporal
async def _temporal(settings: Settings) -> list[Check]:
    where = f"{settings.temporal_address} ({'TLS' if settings.temporal_tls_on() else 'no TLS'})"
    try:
        client = await asyncio.wait_for(connect(settings, tracing=False), TIMEOUT)
    except TimeoutError:
        return [Check("temporal", "fail", f"no answer from {where} within {TIMEOUT:g} s", _TEMPORAL_FIX)]
    except Exception as err:  # the native client's RuntimeError, a TLS file unreadable, a malformed key ring
        return [Check("temporal", "fail", f"cannot connect to {where}: {_said(err)}", _TEMPORAL_FIX)]
    ns = settings.temporal_namespace
    try:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=ns), timeout=_td())
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return [Check("temporal", "ok", f"{where} answers"),
                    Check("namespace", "fail", f"no namespace {ns!r} on {settings.temporal_address}",
                          f"temporal operator namespace create --namespace {ns} --retention 30d "
                          "(on Temporal Cloud: create it in the Cloud UI or with tcld), or correct "
                          "ARRIMAGE_TEMPORAL_NAMESPACE")]
        return [Check("temporal", "fail", f"{where} refused DescribeNamespace ({err.status.name}): {err.message}",
                      "check this client's certificate or API key is allowed on the namespace")]
    return [Check("temporal", "ok", f"{where} answers"), Check("namespace", "ok", f"{ns!r} exists"),
            await _search_attributes(client, ns)]


_TEMPORAL_FIX = ("start the Temporal frontend or correct ARRIMAGE_TEMPORAL_ADDRESS; with TLS check "
                 "ARRIMAGE_TEMPORAL_TLS_CA / _CERT / _KEY / _SERVER_NAME (deploy/RUNBOOK.md, TLS to Temporal)")


def _td() -> Any:
    from datetime import timedelta

    return timedelta(seconds=TIMEOUT)


async def _search_attributes(client: Client, ns: str) -> Check:
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=ns), timeout=_td())
    except RPCError as err:
        return Check("search_attributes", "warn", f"cannot list them ({err.status.name}): {err.message}",
                     "on Temporal Cloud list them with `tcld namespace search-attributes`; they must be: "
                     + ", ".join(f"{n}={t}" for n, t in WANTED.items()))
    have = {name: _TYPES.get(kind, str(kind)) for name, kind in listed.custom_attributes.items()}
    missing = [name for name in WANTED if name not in have]
    wrong = [f"{name} is {have[name]}, not {WANTED[name]}" for name in WANTED if name in have
             and have[name] != WANTED[name]]
    if not missing and not wrong:
        return Check("search_attributes", "ok", f"the {len(WANTED)} case attributes registered in {ns!r}")
    said = ([f"missing {', '.join(missing)}"] if missing else []) + wrong
    fix = "; ".join(f"temporal operator search-attribute create --namespace {ns} --name {name} --type {WANTED[name]}"
                    for name in missing)
    if wrong:
        fix += ("; " if fix else "") + "an attribute of the wrong type cannot be changed: remove it (temporal " \
               "operator search-attribute remove) then create it again"
    return Check("search_attributes", "fail", f"{'; '.join(said)} in {ns!r} (a crisis case's workflow task would "
                 "fail on its first upsert)", fix)


# ---------------------------------------------------------------------------------------------------- the record
def _record(settings: Settings) -> tuple[Check, datetime | None]:
    if settings.store == "postgres":
        return _postgres(settings)
    path = settings.record_path()
    if not path.is_file():
        return Check("record", "fail", f"no SQLite record at {path}",
                     "start `arrimage worker` (or `up`) once to create it, or set ARRIMAGE_SQLITE_PATH"), None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT) as db:
            have = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as err:
        return Check("record", "fail", f"cannot read {path}: {err}", "is it the record's file?"), None
    missing = [t for t in SQLITE_TABLES if t not in have]
    if missing:
        return Check("record", "fail", f"{path} lacks the record's tables {', '.join(missing)}",
                     "point ARRIMAGE_SQLITE_PATH at the record, or start `arrimage worker` once to create it"), None
    return Check("record", "ok", f"SQLite {path}: the record's {len(SQLITE_TABLES)} tables present"), None


def _postgres(settings: Settings) -> tuple[Check, datetime | None]:
    import psycopg

    where = settings.describe_store()
    params: dict[str, Any] = {"host": settings.postgres_host, "port": settings.postgres_port,
                              "dbname": settings.postgres_dbname, "user": settings.postgres_user,
                              "password": settings.postgres_password.get_secret_value(),
                              "connect_timeout": max(1, int(TIMEOUT))}
    if settings.postgres_sslmode:
        params["sslmode"] = settings.postgres_sslmode
    try:
        with psycopg.connect(autocommit=True, **params) as conn:
            offsets = []  # the server's clock against the middle of each round trip; the shortest trip's kept
            for _ in range(3):
                before = time.time()
                stamp: Any = conn.execute("SELECT clock_timestamp()").fetchone()
                after = time.time()
                offsets.append((after - before, stamp[0].timestamp() - (before + after) / 2))
            current: Any = conn.execute("SELECT current_schema()").fetchone()
            schema = settings.postgres_schema or str(current[0])
            have = {r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))}
    except psycopg.Error as err:
        return Check("record", "fail", f"PostgreSQL {where}: {_said(err)}",
                     "start PostgreSQL or correct ARRIMAGE_POSTGRES_HOST/PORT/DBNAME/USER/PASSWORD/SSLMODE; "
                     "the user needs CONNECT on the database"), None
    measured = datetime.fromtimestamp(time.time() + min(offsets)[1], UTC)
    missing = [t for t in RECORD_TABLES if t not in have]
    if missing:
        return Check("record", "fail", f"PostgreSQL {where}, schema {schema}: the record's tables "
                     f"{', '.join(missing)} are missing",
                     "start `arrimage worker` once (it creates them), or correct ARRIMAGE_POSTGRES_DBNAME / "
                     "ARRIMAGE_POSTGRES_SCHEMA; restoring: see deploy/RUNBOOK.md, Backups"), measured
    return Check("record", "ok", f"PostgreSQL {where}, schema {schema}: the record's {len(RECORD_TABLES)} tables "
                 "present"), measured


# ---------------------------------------------------------------------------------------------------- gateway
async def _gateway(url: str) -> tuple[Check, datetime | None]:
    import httpx

    ready = url.rstrip("/") + "/readyz"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            answer = await http.get(ready)
    except httpx.HTTPError as err:
        return Check("gateway", "fail", f"{ready}: {type(err).__name__} {err}".strip(),
                     "start `arrimage gateway` or correct ARRIMAGE_API_URL (and the proxy in front of it)"), None
    when = None
    if "date" in answer.headers:
        try:
            when = parsedate_to_datetime(answer.headers["date"])
        except (TypeError, ValueError):
            when = None
    if answer.status_code != 200:
        return Check("gateway", "fail", f"{ready} answered {answer.status_code}: {answer.text[:200]}",
                     "the gateway reaches neither the record nor Temporal: see its log and the checks above"), when
    return Check("gateway", "ok", f"{ready} answered 200"), when


# ---------------------------------------------------------------------------------------------------- clock
def _clock(settings: Settings, theirs: datetime | None, against: str) -> Check:
    if theirs is None:
        return Check("clock", "warn", "not measured: no PostgreSQL record nor gateway answered to compare with "
                     "(Temporal's API gives no server time)", "keep every machine on NTP (chrony, systemd-timesyncd)")
    skew = (theirs - datetime.now(UTC)).total_seconds()
    limit = settings.clock_skew_seconds
    detail = f"{abs(skew):.2f} s {'behind' if skew > 0 else 'ahead of'} {against}"
    if abs(skew) > limit + (1.0 if "Date header" in against else 0.0):  # a Date header is rounded to the second
        return Check("clock", "warn", f"{detail}, past ARRIMAGE_CLOCK_SKEW_SECONDS={limit:g}",
                     "synchronise this machine's clock (and the server's) with NTP: chronyc tracking")
    return Check("clock", "ok", detail)


def _said(err: BaseException) -> str:
    """The OS's words from a native connection error ("Connection refused"), else the error's first line."""
    found = re.search(r'message: "([^"]+)"', str(err))
    if found:
        return found.group(1)
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:300]


def combined(config: dict[str, Any], found: list[Check]) -> dict[str, Any]:
    """The configuration report (`workers.doctor.report`) with the live checks: production-ready only when
    the configuration is and no check failed; a failed check is a problem, a warning a warning."""
    problems = list(config["problems"]) + [f"{c.name}: {c.detail}" for c in found if c.status == "fail"]
    warnings = list(config["warnings"]) + [f"{c.name}: {c.detail}" for c in found if c.status == "warn"]
    return {**config, "checks": [c.json() for c in found], "production_ready": not problems,
            "problems": problems, "warnings": warnings}


def lines(found: dict[str, Any]) -> list[str]:
    out = []
    for check in found.get("checks", []):
        out.append(f"{check['status']:<9} {check['name']}: {check['detail']}")
        if check.get("fix"):
            out.append(f"{'':<9} fix: {check['fix']}")
    return out
