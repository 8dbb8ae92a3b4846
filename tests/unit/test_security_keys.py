"""Issue 9, Keys and Transport: each attack reproduced, then refused.

- a process started without keys and without development mode ran on the public development keys;
- the codec's `decode` passed plaintext payloads through (a payload proved nothing about who wrote it);
- the OTLP exporter was `insecure=True` and the Temporal client connected without TLS;
- the record's SQLite file was created world-readable;
- `arrimage doctor` reports all of it, never a key.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.service import TLSConfig

from adapters.record.keys import DEV_PAYLOAD_KEYS, DEV_SUBJECT_KEKS, format_key_ring
from adapters.record.record import Record
from adapters.temporal.client import data_converter, tls_config
from adapters.temporal.codec import EncryptionCodec, PlaintextPayloadRefused
from workers import doctor, tracing
from workers.bootstrap import DevelopmentKeys, bootstrap
from workers.settings import Settings

KEYS = ("ARRIMAGE_PAYLOAD_KEYS", "ARRIMAGE_SUBJECT_KEKS", "ARRIMAGE_CHECKPOINT_KEYS")


def ring(kid: str, byte: int) -> str:
    return f"{kid}:{base64.b64encode(bytes([byte]) * 32).decode()}"


def production(**extra: Any) -> Settings:
    """Production settings with every key configured (nothing read from this process's ARRIMAGE_ variables
    but what is given)."""
    values: dict[str, Any] = {
        "mode": "production", "payload_keys": ring("p1", 1), "subject_keks": ring("k1", 2),
        "checkpoint_keys": ring("c1", 3), "otel_exporter": "none",
    }
    values.update(extra)
    return Settings(_env_file=None, **values)


# ---------------------------------------------------------------------------------------------------- keys
def test_no_keys_outside_development_mode_refuses_to_start() -> None:
    settings = production(payload_keys="", subject_keks="", checkpoint_keys="")
    with pytest.raises(DevelopmentKeys) as refused:
        bootstrap(settings)
    assert refused.value.missing == list(KEYS)
    assert refused.value.message == (
        "refusing to start on public development keys: ARRIMAGE_PAYLOAD_KEYS, ARRIMAGE_SUBJECT_KEKS, "
        "ARRIMAGE_CHECKPOINT_KEYS not set (set them, see deploy/arrimage.env.example; "
        "or ARRIMAGE_MODE=development for a test machine)"
    )


def test_one_missing_key_is_named_alone() -> None:
    with pytest.raises(DevelopmentKeys) as refused:
        bootstrap(production(checkpoint_keys=""))
    assert refused.value.missing == ["ARRIMAGE_CHECKPOINT_KEYS"]


def test_a_public_development_key_pasted_into_production_refuses_to_start() -> None:
    """Issue 9: the public development keys are derived from public strings; set by hand (under any key id,
    beside a real one) they are still no secret, and the process must not start on them."""
    pasted = f"rotated:{base64.b64encode(DEV_SUBJECT_KEKS.keys[0][1]).decode()}"
    with pytest.raises(DevelopmentKeys) as refused:
        bootstrap(production(payload_keys=format_key_ring(DEV_PAYLOAD_KEYS), subject_keks=f"{ring('k2', 4)},{pasted}"))
    assert (refused.value.missing, refused.value.public) == ([], ["ARRIMAGE_PAYLOAD_KEYS", "ARRIMAGE_SUBJECT_KEKS"])
    assert refused.value.message == (
        "refusing to start on public development keys: ARRIMAGE_PAYLOAD_KEYS, ARRIMAGE_SUBJECT_KEKS set to a "
        "public development key (set them, see deploy/arrimage.env.example; or ARRIMAGE_MODE=development for a "
        "test machine)"
    )
    pasted_settings = production(subject_keks=f"{ring('k2', 4)},{pasted}")
    assert doctor.report(pasted_settings)["keys"]["ARRIMAGE_SUBJECT_KEKS"] == "development"
    with pytest.raises(DevelopmentKeys) as both:
        bootstrap(production(checkpoint_keys="", payload_keys=format_key_ring(DEV_PAYLOAD_KEYS)))
    assert both.value.message.startswith(
        "refusing to start on public development keys: ARRIMAGE_CHECKPOINT_KEYS not set; ARRIMAGE_PAYLOAD_KEYS set "
        "to a public development key (")


def test_production_is_the_default_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARRIMAGE_MODE", raising=False)
    assert Settings(_env_file=None).mode == "production"


def test_development_mode_runs_on_the_development_keys() -> None:
    with bootstrap(production(mode="development", payload_keys="", subject_keks="", checkpoint_keys="")) as root:
        assert root.settings.missing_keys() == list(KEYS)


def test_every_key_configured_starts() -> None:
    with bootstrap(production()) as root:
        assert root.settings.missing_keys() == []


# ---------------------------------------------------------------------------------------------------- codec
async def test_plaintext_payload_refused_outside_development_mode() -> None:
    forged = Payload(metadata={"encoding": b"json/plain"}, data=b'{"reason": "forged"}')
    with pytest.raises(PlaintextPayloadRefused, match=r"not encrypted .*'json/plain'.* outside development mode"):
        await EncryptionCodec(DEV_PAYLOAD_KEYS).decode([forged])
    codec = data_converter(production()).payload_codec
    assert codec is not None
    with pytest.raises(PlaintextPayloadRefused):
        await codec.decode([forged])


async def test_plaintext_payload_passes_in_development_mode_only() -> None:
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b"{}")
    codec = data_converter(production(mode="development")).payload_codec
    assert codec is not None
    assert await codec.decode([clear]) == [clear]


async def test_encrypted_payloads_still_round_trip_in_production() -> None:
    codec = data_converter(production()).payload_codec
    assert codec is not None
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b'{"a": 1}')
    assert await codec.decode(await codec.encode([clear])) == [clear]


# ---------------------------------------------------------------------------------------------------- transport
def test_temporal_tls_on_by_default_outside_development_mode() -> None:
    assert tls_config(production()) == TLSConfig()
    assert tls_config(production(mode="development")) is False
    assert tls_config(production(temporal_tls=False)) is False


def test_temporal_mtls_reads_ca_cert_and_key(tmp_path: Path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_bytes(name.encode())
    config = tls_config(production(temporal_tls_ca=tmp_path / "ca.pem", temporal_tls_cert=tmp_path / "cert.pem",
                                   temporal_tls_key=tmp_path / "key.pem", temporal_tls_server_name="temporal.rss"))
    assert config == TLSConfig(server_root_ca_cert=b"ca.pem", client_cert=b"cert.pem", client_private_key=b"key.pem",
                               domain="temporal.rss")


def test_temporal_client_cert_without_key_refused(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(b"c")
    with pytest.raises(ValueError, match="set both or neither"):
        tls_config(production(temporal_tls_cert=tmp_path / "cert.pem"))


def test_otlp_exporter_insecure_only_in_development_mode() -> None:
    secure = tracing.otlp_exporter("https://collector:4317", development=False)
    insecure = tracing.otlp_exporter("http://localhost:4317", development=True)
    # the gRPC exporter keeps its credentials: None means an insecure channel
    assert getattr(secure, "_credentials", None) is not None
    assert getattr(insecure, "_credentials", None) is None


def test_postgres_sslmode_reaches_the_record_environment() -> None:
    env = production(store="postgres", postgres_sslmode="verify-full").store_env()
    assert env["POSTGRES_SSLMODE"] == "verify-full"
    assert "POSTGRES_SSLMODE" not in production(store="postgres").store_env()


# ---------------------------------------------------------------------------------------------------- files
def test_record_files_readable_by_their_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a permissive umask: the files must not depend on the caller's
    try:
        settings = production(mode="development", data_dir=tmp_path / "var")
        record = Record(settings.store_env(create=True))
        try:
            record.close()
        finally:
            pass
    finally:
        os.umask(old)
    data = tmp_path / "var"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = sorted(p.name for p in data.iterdir())
    assert "record.sqlite" in files
    for name in files:  # the record and any -wal / -shm beside it
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name


# ---------------------------------------------------------------------------------------------------- doctor
def test_doctor_report_of_a_production_configuration() -> None:
    found = doctor.report(production(temporal_address="temporal.rss:7233", temporal_tls_cert=Path("c"),
                                     temporal_tls_key=Path("k"), payload_keys=ring("p2026-12-01", 1)),
                          today=date(2027, 1, 15))
    assert found == {
        "mode": "production",
        "keys": {name: "production" for name in KEYS},
        "payload_key": {"key_id": "p2026-12-01", "started": "2026-12-01", "age_days": 45, "max_age_days": 90},
        "connections": {"temporal": {"address": "temporal.rss:7233", "tls": True, "mtls": True}},
        "production_ready": True,
        "problems": [],
        "warnings": [],
    }
    assert doctor.lines(found) == [
        "mode      production",
        "key       ARRIMAGE_PAYLOAD_KEYS: production",
        "key       ARRIMAGE_SUBJECT_KEKS: production",
        "key       ARRIMAGE_CHECKPOINT_KEYS: production",
        "temporal  temporal.rss:7233: mTLS",
        "production-ready",
    ]


def test_doctor_report_of_a_development_configuration_never_prints_a_key() -> None:
    settings = production(mode="development", subject_keks="", checkpoint_keys=ring("dev-x", 65),
                          payload_keys="broken", store="postgres", postgres_host="db", postgres_sslmode="prefer")
    found = doctor.report(settings)
    assert found == {
        "mode": "development",
        "keys": {"ARRIMAGE_PAYLOAD_KEYS": "invalid", "ARRIMAGE_SUBJECT_KEKS": "development",
                 "ARRIMAGE_CHECKPOINT_KEYS": "development"},
        "payload_key": None,
        "connections": {
            "temporal": {"address": "localhost:7233", "tls": False, "mtls": False},
            "postgres": {"address": "db:5432/arrimage", "tls": False, "sslmode": "prefer"},
        },
        "production_ready": False,
        "problems": ["ARRIMAGE_MODE=development", "ARRIMAGE_PAYLOAD_KEYS is invalid",
                     "ARRIMAGE_SUBJECT_KEKS is development", "ARRIMAGE_CHECKPOINT_KEYS is development",
                     "no TLS to temporal", "no TLS to postgres"],
        "warnings": [],
    }
    assert doctor.lines(found)[-3:] == [
        "temporal  localhost:7233: no TLS",
        "postgres  db:5432/arrimage: no TLS (sslmode prefer)",
        "not production-ready: ARRIMAGE_MODE=development; ARRIMAGE_PAYLOAD_KEYS is invalid; ARRIMAGE_SUBJECT_KEKS "
        "is development; ARRIMAGE_CHECKPOINT_KEYS is development; no TLS to temporal; no TLS to postgres",
    ]
    text = json.dumps(found) + "\n".join(doctor.lines(found))
    assert ring("dev-x", 65).split(":")[1] not in text and "broken" not in text
