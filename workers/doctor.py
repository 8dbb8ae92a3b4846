"""`arrimage doctor`: is this process's configuration fit for production? Never prints a key.

Reads the settings only (no record opened, no connection made): each key ring is `production` (configured),
`development` (empty: the public DEVELOPMENT key stands in; a `dev-` key id; or a public development key
under another id) or `invalid` (does not parse);
each connection says whether it uses TLS. Production-ready: production mode, every key `production`, TLS to
Temporal, and, on PostgreSQL, an sslmode that requires TLS (`require`, `verify-ca`, `verify-full`).

The active payload key's age (its id ends with its start date, ``adapters.record.keys.key_start``) is reported;
past ``ARRIMAGE_PAYLOAD_KEY_MAX_AGE_DAYS``, or when its id names no date, a warning says so: rotation is due,
yet the configuration stays production-ready (a late rotation is not a reason to stop the service).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapters.record.keys import KeyConfigError, is_development, key_start, parse_key_ring
from workers.settings import Settings

TLS_SSLMODES = ("require", "verify-ca", "verify-full")


def key_status(spec: str) -> str:
    if not spec.strip():
        return "development"
    try:
        ring = parse_key_ring(spec)
    except KeyConfigError:
        return "invalid"
    return "development" if is_development(ring) else "production"


def payload_key_age(settings: Settings, today: date) -> tuple[dict[str, Any] | None, list[str]]:
    """The active payload key (id, start, age in days, the allowed age) and the warnings about its rotation;
    (None, []) for a ring that is not a production one (that is a problem of its own)."""
    spec = settings.payload_keys.get_secret_value()
    if key_status(spec) != "production":
        return None, []
    kid, limit = parse_key_ring(spec).active_id, settings.payload_key_max_age_days
    started = key_start(kid)
    age = (today - started).days if started else None
    found = {"key_id": kid, "started": started.isoformat() if started else None, "age_days": age,
             "max_age_days": limit}
    if age is None:
        return found, [f"ARRIMAGE_PAYLOAD_KEYS: the active key id {kid!r} names no start date, so its age is "
                       "unknown (name keys by the day they come into use: p2026-12-01)"]
    if age > limit:
        return found, [f"ARRIMAGE_PAYLOAD_KEYS: the active key {kid} is {age} days old, past "
                       f"ARRIMAGE_PAYLOAD_KEY_MAX_AGE_DAYS={limit}: put a new key first"]
    return found, []


def report(settings: Settings, today: date | None = None) -> dict[str, Any]:
    keys = {
        "ARRIMAGE_PAYLOAD_KEYS": key_status(settings.payload_keys.get_secret_value()),
        "ARRIMAGE_SUBJECT_KEKS": key_status(settings.subject_keks.get_secret_value()),
        "ARRIMAGE_CHECKPOINT_KEYS": key_status(settings.checkpoint_keys.get_secret_value()),
    }
    if settings.webhook_keys.get_secret_value().strip():  # empty: derived from the subject KEKs, checked above
        keys["ARRIMAGE_WEBHOOK_KEYS"] = key_status(settings.webhook_keys.get_secret_value())
    for name in settings.public_keys():  # a public development key under a key id of its own
        keys[name] = "development"
    tls = settings.temporal_tls_on()
    connections: dict[str, dict[str, Any]] = {
        "temporal": {"address": settings.temporal_address, "tls": tls,
                     "mtls": tls and settings.temporal_tls_cert is not None},
    }
    if settings.temporal_api_key.get_secret_value().strip():  # Temporal Cloud's API key (never printed)
        connections["temporal"]["api_key"] = True
    if settings.store == "postgres":
        connections["postgres"] = {
            "address": f"{settings.postgres_host}:{settings.postgres_port}/{settings.postgres_dbname}",
            "tls": settings.postgres_sslmode in TLS_SSLMODES,
            "sslmode": settings.postgres_sslmode or "(libpq default)",
        }
    problems = []
    if settings.development:
        problems.append("ARRIMAGE_MODE=development")
    problems += [f"{name} is {status}" for name, status in keys.items() if status != "production"]
    problems += [f"no TLS to {name}" for name, conn in connections.items() if not conn["tls"]]
    payload_key, warnings = payload_key_age(settings, today or date.today())
    return {"mode": settings.mode, "keys": keys, "payload_key": payload_key, "connections": connections,
            "production_ready": not problems, "problems": problems, "warnings": warnings}


def lines(found: dict[str, Any]) -> list[str]:
    out = [f"mode      {found['mode']}"]
    out += [f"key       {name}: {status}" for name, status in found["keys"].items()]
    for name, conn in found["connections"].items():
        how = (("mTLS" if conn.get("mtls") else "TLS") if conn["tls"] else "no TLS") + (
            ", API key" if conn.get("api_key") else "")
        extra = f" (sslmode {conn['sslmode']})" if "sslmode" in conn else ""
        out.append(f"{name:<9} {conn['address']}: {how}{extra}")
    out += [f"warning   {warning}" for warning in found.get("warnings", [])]
    out.append("production-ready" if found["production_ready"]
               else "not production-ready: " + "; ".join(found["problems"]))
    return out
