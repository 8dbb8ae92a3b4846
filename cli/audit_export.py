"""`arrimage audit export`: the bundle an auditor can hand over, each file hashed in MANIFEST.json.

Files: `verify.json` (the chain verified now), `checkpoint.json` (its head, signed now; absent when
the chain does not verify: a signature must never bless tampering), `register.json` (every
communication entry), `accesses.json`, `exceptions.json`. Content about a person in words is
withheld from all of them (the auditor reads metadata only); the person's own copy of their entries
comes from `arrimage audit register --person`.
"""

from __future__ import annotations

import hashlib
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli import audit_render
from domain.audit.checkpoint import CheckpointError
from domain.errors import NotFound
from usecases.audit.trail import checkpoint as make_checkpoint
from usecases.audit.trail import verify as run_verify

if TYPE_CHECKING:
    from adapters.record.keys import KeyRing
    from workers.bootstrap import Root

FORMAT = "arrimage-audit-export/1"
MANIFEST = "MANIFEST.json"


@dataclass(frozen=True)
class Bundle:
    verified: bool
    problem: str | None
    files: dict[str, dict[str, Any]]  # name -> {"sha256", "bytes"}


def _in(moment: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or moment >= since) and (until is None or moment < until)


def access_log(engine: Root, person: str | None, actor: str | None, since: datetime | None,
               until: datetime | None) -> list[dict[str, Any]]:
    """The rows of `arrimage audit accesses` (and of the bundle's accesses.json): access decisions about
    persons and, unless one person is asked for, reads of ententes."""
    try:
        decisions = engine.disclosures.accesses(subject_id=person, actor_id=actor, since=since, until=until)
    except NotFound:
        decisions = []  # no register: nobody accessed this person's record
    reads = [] if person else engine.replays.entente_reads(actor_id=actor, since=since, until=until)
    return audit_render.access_rows(decisions, reads)


def write_bundle(
    engine: Root, out: Path, *, ring: KeyRing, since: datetime | None, until: datetime | None, now: datetime,
) -> Bundle:
    record = engine.record
    out.mkdir(parents=True, exist_ok=True)
    report = run_verify(record, checkpoint_keys=ring)
    docs: dict[str, Any] = {"verify.json": report.to_dict()}
    if report.ok:
        with suppress(CheckpointError):  # an empty store: nothing to sign
            docs["checkpoint.json"] = make_checkpoint(record, checkpoint_keys=ring, now=now)
    disclosures = engine.disclosures
    docs["register.json"] = [
        audit_render.entry_for_auditor(e) for e in disclosures.communications() if _in(e.communicated_at, since, until)
    ]
    docs["accesses.json"] = access_log(engine, None, None, since, until)
    docs["exceptions.json"] = audit_render.exceptions_data(disclosures.exceptions(now, since=since, until=until),
                                                           now, since, until)
    files: dict[str, dict[str, Any]] = {}
    for name, doc in docs.items():
        body = (doc.to_json() if hasattr(doc, "to_json") else audit_render.dumps(doc)).encode()
        (out / name).write_bytes(body)
        files[name] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    manifest = {
        "format": FORMAT, "created_at": now, "since": since, "until": until, "verified": report.ok,
        "events_checked": report.events_checked, "files": files,
    }
    (out / MANIFEST).write_text(audit_render.dumps(manifest), encoding="utf-8")
    return Bundle(verified=report.ok, problem=report.problem.describe() if report.problem else None, files=files)
