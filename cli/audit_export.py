"""`arrimage audit export`: the bundle an auditor can hand over, each file hashed in MANIFEST.json.

Files: `verify.json` (the chain verified now), `checkpoint.json` (its head, signed now; absent when
the chain does not verify, or does not extend the last trusted checkpoint given with `--against`:
a signature must never bless tampering), `checkpoint.note` (the C2SP checkpoint of the Merkle tree at that
same head, signed by the log key; absent with it), `register.json` (every communication entry),
`accesses.json`, `exceptions.json`, `record.jsonl` (every stored event and chain row up to that head, the
whole store when nothing was signed: what `python -m verifier` / `arrimage audit verify --bundle DIR --log-key`
checks offline, issue 13; its format in verifier/README.md), `tree.json` (the Merkle tree's subtrees of 1,024
leaves and more over record.jsonl's event hashes: the frontier an incremental `--since` check starts from,
used only when it folds to a signed root). MANIFEST.json (each file's SHA-256, the store id,
the verdict) is itself signed with the checkpoint key (its `signature` member); `bundle_problem` (`arrimage
audit verify --bundle DIR`) checks that signature and every file (with `--since-checkpoint`, record.jsonl by its
size and the head its new lines reach, not hashed whole). Content about a person in words is
withheld from all of them (the auditor reads metadata only); the person's own copy of their entries
comes from `arrimage audit register --person`. The export is itself an access, registered before the
files are written (the record-level reads log: who, role, purpose, period); the manifest names it
(`read`), and `accesses.json` lists it with every other read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli import audit_render
from domain.audit.checkpoint import Checkpoint, CheckpointError
from domain.audit.record_reads import RecordRead
from domain.errors import NotFound
from usecases.audit.bundle import record_lines
from usecases.audit.proofs import checkpoint_with_note
from usecases.audit.trail import manifest_problem, sign_manifest
from usecases.audit.trail import verify as run_verify
from verifier.bundle_since import TREE, record_event_hashes, tree_nodes

if TYPE_CHECKING:
    from adapters.record.keys import KeyRing
    from workers.bootstrap import Root

FORMAT = "arrimage-audit-export/1"
MANIFEST = "MANIFEST.json"
RECORD = "record.jsonl"


@dataclass(frozen=True)
class Bundle:
    verified: bool
    problem: str | None
    files: dict[str, dict[str, Any]]  # name -> {"sha256", "bytes"}
    trust: tuple[str, ...] = ()


def _in(moment: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or moment >= since) and (until is None or moment < until)


def access_log(engine: Root, person: str | None, actor: str | None, since: datetime | None,
               until: datetime | None) -> list[dict[str, Any]]:
    """The rows of `arrimage audit accesses` (and of the bundle's accesses.json): access decisions about
    persons and, unless one person is asked for, reads of ententes and reads across persons."""
    try:
        decisions = engine.disclosures.accesses(subject_id=person, actor_id=actor, since=since, until=until)
    except NotFound:
        decisions = []  # no register: nobody accessed this person's record
    # An audit reads the log itself, not the listings view: a row the view skipped at catch-up (one altered under
    # the record) must not go missing from what the auditor is shown; `audit verify` names it.
    reads = [] if person else engine.replays.entente_reads(actor_id=actor, since=since, until=until,
                                                           from_view=False)
    across = [] if person else engine.reads.record_reads(actor_id=actor, since=since, until=until, from_view=False)
    return audit_render.access_rows(decisions, reads, across)


def write_bundle(
    engine: Root, out: Path, *, ring: KeyRing, since: datetime | None, until: datetime | None, now: datetime,
    against: Sequence[Checkpoint] = (), pinned_keys: Collection[str] = (), read: RecordRead | None = None,
) -> Bundle:
    """Verify (against the last trusted checkpoints `against`, their signatures by `pinned_keys` when given),
    sign the head only if that passes, write the files and the signed manifest (naming `read`, the export's
    registered access)."""
    record = engine.record
    out.mkdir(parents=True, exist_ok=True)
    report = run_verify(record, against, checkpoint_keys=ring, pinned_keys=pinned_keys)
    docs: dict[str, Any] = {"verify.json": report.to_dict()}
    signed: Checkpoint | None = None
    problem = report.problem.describe() if report.problem is not None else None
    if report.ok and report.head is not None:  # an empty store: nothing to sign
        try:  # the JSON checkpoint and the tree's note, of one head, after one more full verify
            signed, note = checkpoint_with_note(record, checkpoint_keys=ring, now=now, against=against,
                                                pinned_keys=pinned_keys)
        except CheckpointError as e:  # the store changed between the two reads and no longer verifies
            report = replace(report, ok=False)
            problem = e.message
        else:
            docs["checkpoint.json"] = signed
            docs["checkpoint.note"] = str(note)
    disclosures = engine.disclosures
    docs["register.json"] = [
        audit_render.entry_for_auditor(e) for e in disclosures.communications() if _in(e.communicated_at, since, until)
    ]
    docs["accesses.json"] = access_log(engine, None, None, since, until)
    docs["exceptions.json"] = audit_render.exceptions_data(disclosures.exceptions(now, since=since, until=until),
                                                           now, since, until)
    files: dict[str, dict[str, Any]] = {}
    for name, doc in docs.items():
        body = (doc if isinstance(doc, str) else doc.to_json() if hasattr(doc, "to_json")
                else audit_render.dumps(doc)).encode()
        (out / name).write_bytes(body)
        files[name] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    files[RECORD], tree = _write_record(engine, out / RECORD, None if signed is None else signed.notification_id)
    body = json.dumps(tree, separators=(",", ":")).encode()  # the tree's nodes for `verify --since` (untrusted)
    (out / TREE).write_bytes(body)
    files[TREE] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    manifest = {
        "format": FORMAT, "created_at": now, "since": since, "until": until, "verified": report.ok,
        "events_checked": report.events_checked, "store_id": report.store_id,
        "checkpoint": None if signed is None else {"notification_id": signed.notification_id, "count": signed.count,
                                                   "chain_hash": signed.chain_hash},
        "against": [f"{cp.key_id}@{cp.signed_at}" for cp in against], "files": files,
        "read": None if read is None else {"read_id": read.read_id, "actor_id": read.actor_id,
                                           "role": read.role.value, "purpose": read.purpose.value,
                                           "moment": read.moment},
    }
    # The manifest is signed as JSON values (moments as their ISO text), the way a reader loads it back.
    plain = json.loads(audit_render.dumps(manifest))
    (out / MANIFEST).write_text(audit_render.dumps(sign_manifest(ring, plain)), encoding="utf-8")
    return Bundle(verified=report.ok, problem=problem, files=files, trust=report.trust)


def _write_record(engine: Root, path: Path, until: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """record.jsonl streamed to disk (memory flat), hashed as it is written; and tree.json's content (the Merkle
    tree's perfect subtrees of 1,024 leaves and more over its event hashes, for `verifier --since`)."""
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as handle:

        def written() -> Iterator[bytes]:
            nonlocal size
            for line in record_lines(engine.record, until=until):
                handle.write(line)
                digest.update(line)
                size += len(line)
                yield line

        tree = tree_nodes(record_event_hashes(written()))
    return {"sha256": digest.hexdigest(), "bytes": size}, tree


def bundle_problem(out: Path, pinned_keys: Collection[str], ring: KeyRing | None = None, *,
                   incremental: bool = False, head: tuple[int, int, str] | None = None) -> str | None:
    """None when the bundle in `out` is as exported: its manifest signed by a trusted key (only `pinned_keys`
    when given, else the engine's own `ring`) and every file it lists has its SHA-256 and size.

    `incremental` (`audit verify --bundle DIR --log-key VKEY --since-checkpoint OLD.note`, issue 13): record.jsonl
    is not hashed whole, so that the pass costs the new lines. Its size must be the manifest's, and the head its
    lines verified to from OLD's signed chain head (`head`: position, notification id and chain hash of the last
    line) must be the head the manifest signs (`checkpoint`): that chain hash commits to every new line's hashed
    content. The lines at or before OLD are the frontier check's (verifier/README.md §7.1): an edit there that
    keeps the file's size is not seen. `head` None (the lines did not verify: the report names why): the size
    only. Every other file is hashed as in the full check; record.jsonl too when the manifest signs no head (an
    export that did not verify)."""
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return f"{MANIFEST}: cannot be read ({e})"
    if not isinstance(manifest, dict):
        return f"{MANIFEST}: not a JSON object"
    why = manifest_problem(manifest, ring, pinned_keys)
    if why is not None:
        return f"{MANIFEST}: {why}"
    signed = manifest.get("checkpoint")
    for name, entry in (manifest.get("files") or {}).items():
        path = out / Path(name).name
        if incremental and name == RECORD and isinstance(signed, dict):
            why = _record_since(path, entry, signed, head)
            if why is not None:
                return why
            continue
        try:
            body = path.read_bytes()
        except OSError:
            return f"{name}: missing"
        if hashlib.sha256(body).hexdigest() != entry.get("sha256") or len(body) != entry.get("bytes"):
            return f"{name}: its SHA-256 differs from the manifest's"
    return None


def _record_since(path: Path, entry: dict[str, Any], signed: dict[str, Any],
                  head: tuple[int, int, str] | None) -> str | None:
    """record.jsonl against the manifest in an incremental check: its size, and the head its new lines reach."""
    try:
        size = path.stat().st_size
    except OSError:
        return f"{RECORD}: missing"
    if size != entry.get("bytes"):
        return f"{RECORD}: {size:,} bytes, the manifest says {entry.get('bytes')} (incremental: not hashed whole)"
    if head is None:
        return None
    held = (signed.get("count"), signed.get("notification_id"), signed.get("chain_hash"))
    if head != held:
        return (f"{RECORD}: its lines verify to position {head[0]} (notification {head[1]}, chain hash {head[2]}); "
                f"the manifest signs position {held[0]} (notification {held[1]}, chain hash {held[2]})")
    return None
