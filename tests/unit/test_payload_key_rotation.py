"""The payload key rotates on a schedule (issue 9, AES-GCM limits): its id names the day it came into use, and
past ARRIMAGE_PAYLOAD_KEY_MAX_AGE_DAYS `arrimage doctor` and the worker's start-up warn, without refusing."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.record.keys import key_start
from workers import doctor
from workers.bootstrap import bootstrap
from workers.settings import Settings


def ring(kid: str, byte: int) -> str:
    return f"{kid}:{base64.b64encode(bytes([byte]) * 32).decode()}"


def production(payload_keys: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {"mode": "production", "payload_keys": payload_keys, "subject_keks": ring("k1", 2),
                              "checkpoint_keys": ring("c1", 3), **extra}
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(("kid", "started"), [
    ("p2026-12-01", date(2026, 12, 1)), ("payload-2027-03-31", date(2027, 3, 31)),
    ("p1", None), ("p2026-13-01", None), ("2026-12-01x", None),
])
def test_a_key_id_names_its_start(kid: str, started: date | None) -> None:
    assert key_start(kid) == started


def test_doctor_warns_when_the_active_payload_key_is_overdue_but_stays_production_ready() -> None:
    settings = production(f"{ring('p2026-12-01', 1)},{ring('p2026-09-01', 4)}", payload_key_max_age_days=90)
    found = doctor.report(settings, today=date(2027, 3, 15))
    assert found["payload_key"] == {"key_id": "p2026-12-01", "started": "2026-12-01", "age_days": 104,
                                    "max_age_days": 90}
    warning = ("ARRIMAGE_PAYLOAD_KEYS: the active key p2026-12-01 is 104 days old, past "
               "ARRIMAGE_PAYLOAD_KEY_MAX_AGE_DAYS=90: put a new key first")
    assert found["warnings"] == [warning]
    assert f"warning   {warning}" in doctor.lines(found)
    # Due, not dangerous yet: the service keeps running (the nonce bound is per workflow: adapters.temporal.codec).
    assert doctor.report(settings, today=date(2027, 2, 28))["warnings"] == []


def test_a_worker_starting_on_an_overdue_payload_key_logs_a_warning(tmp_path: Path) -> None:
    settings = production(ring("p2020-01-01", 1), data_dir=tmp_path, temporal_tls=False)
    with capture_logs() as logged, bootstrap(settings, create=True):
        pass
    due = [e for e in logged if e["event"] == "payload_key_rotation_due"]
    assert len(due) == 1 and due[0]["log_level"] == "warning"
    assert "the active key p2020-01-01 is" in due[0]["detail"] and "put a new key first" in due[0]["detail"]
    with capture_logs() as logged, bootstrap(settings):  # a CLI command: no warning on every call
        pass
    assert not [e for e in logged if e["event"] == "payload_key_rotation_due"]
