"""`arrimage audit log-key | prove | consistency` and `checkpoint --note`: the record's Merkle proofs (issue 13).

A proof is checked here against a signed C2SP checkpoint (`usecases.audit.proofs`), opened with the log's
verifier key the reader pins (``--log-key``); without one, the engine's own key (its configuration), and the
output says so. Exit codes: 0 proven; 1 not provable, not proven, or a checkpoint whose signature fails;
2 bad input (a file missing or malformed, an event or key that cannot be read): nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from cli.client import root
from cli.errors import CliError, Exit, bad_input, fail, read_text, reported
from domain.audit import merkle
from domain.audit.checkpoint import CheckpointError
from domain.audit.note import NoteError, TreeHead, VerifiedCheckpoint, VerifierKey, parse_checkpoint, parse_note
from usecases.audit import proofs
from workers.bootstrap import KeyConfigError, Root, checkpoint_keys

PROOF_EXIT_CODES = (
    "Exit codes: 0 proven; 1 not provable or not proven (named), or the checkpoint's signature does not verify; "
    "2 bad input (a file missing or malformed, an event or a key that cannot be read)."
)
ENGINE_LOG_KEY = (
    "checkpoint signature checked against the engine's own log key (its configuration): "
    "pin the log's verifier key with --log-key (`arrimage audit log-key`)"
)

console = Console()

LogKey = Annotated[str | None, typer.Option(
    "--log-key", metavar="VKEY|FILE",
    help="The log's verifier key you trust (`<origin>+<key id>+<base64>`, as `audit log-key` prints it, or a "
         "file holding it). Default: the engine's own, from its configuration (said in the output).",
)]
AsJson = Annotated[bool, typer.Option("--json", help="the result and the proof as JSON on stdout")]


@dataclass(frozen=True)
class _Input:
    path: Path
    head: TreeHead
    text: str


def _note_file(path: Path) -> _Input:
    """A checkpoint note the reader named: missing or malformed is bad input (exit 2); its signature is
    checked later, against the log key."""
    text = read_text(path)
    try:
        note = parse_note(text)
        head = parse_checkpoint(note.text)
    except NoteError as e:
        raise bad_input(f"{path} is not a signed checkpoint note: {e}") from None
    return _Input(path, head, text)


def _log_key(value: str | None) -> VerifierKey | None:
    if value is None:
        return None
    text = value.strip()
    candidate = Path(text)
    if "\n" not in text and len(text) < 4096 and candidate.is_file():
        text = read_text(candidate).strip()
    try:
        return VerifierKey.parse(text)
    except NoteError as e:
        raise bad_input(f"--log-key: {e}") from None


def _engine_key(engine: Root) -> VerifierKey:
    try:
        return proofs.log_verifier(engine.record, checkpoint_keys(engine.settings))
    except KeyConfigError as e:
        raise bad_input(str(e)) from None


def _not_proven(reason: str, as_json: bool, **extra: Any) -> NoReturn:
    if as_json:
        print(json.dumps({"proven": False, "reason": reason, **extra}))
    fail(CliError(Exit.FAILED, f"not proven: {reason}"))


def _opened(given: _Input, key: VerifierKey, engine: Root, as_json: bool) -> VerifiedCheckpoint:
    """The note opened with the log key, and of this record's log: else exit 1."""
    try:
        opened = proofs.open_tree_checkpoint(given.text, key)
    except NoteError as e:
        _not_proven(f"checkpoint {given.path} does not verify with log key {key}: {e}", as_json)
    mine = proofs.record_origin(engine.record)
    if opened.head.origin != mine:
        _not_proven(f"checkpoint {given.path} is of log {opened.head.origin!r}; this record is log {mine!r}", as_json)
    return opened


def _basis(pinned: VerifierKey | None) -> str:
    return ENGINE_LOG_KEY if pinned is None else f"checkpoint signature checked against the pinned log key {pinned}"


def log_key() -> None:
    """Print this record's log verifier key: what auditors and witnesses pin to check its tree checkpoints."""
    with reported(), root() as engine:
        key = _engine_key(engine)
        development = engine.settings.development
    print(str(key))
    if development:
        typer.echo("(development mode: the key may come from the public DEVELOPMENT checkpoint seed)", err=True)


def prove(
    event: Annotated[str, typer.Argument(metavar="EVENT", help="a notification id, or <aggregate uuid>@<version>")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", metavar="NOTE", help="a signed tree checkpoint "
                                             "(`audit checkpoint --note`)")],
    as_json: AsJson = False,
    log_key_value: LogKey = None,
) -> None:
    """Prove that one event is in the tree a signed checkpoint names, revealing no other event."""
    with reported():
        try:
            ref = proofs.EventRef.parse(event)
        except ValueError as e:
            raise bad_input(str(e)) from None
        given = _note_file(checkpoint)
        pinned = _log_key(log_key_value)
        with root() as engine:
            key = pinned or _engine_key(engine)
            head = _opened(given, key, engine, as_json).head
            try:
                proof = proofs.inclusion(engine.record, ref, head.size)
            except proofs.NotProvable as e:
                _not_proven(str(e), as_json, event=str(ref), size=head.size)
        try:
            proof.verify(head.root_hash)
        except merkle.MerkleProofError as e:
            _not_proven(f"event {ref}'s proof from this record does not reach the root checkpoint {checkpoint} "
                        f"signs (the record's tree of {head.size:,} events is not the one signed): {e}", as_json,
                        event=str(ref), **proof.to_dict())
    basis = _basis(pinned)
    if as_json:
        print(json.dumps({"proven": True, **proof.to_dict(), "origin": head.origin, "log_key": str(key),
                          "trust": basis}))
        return
    console.print(f"[green]proven[/green] event notification {proof.notification_id} ({proof.aggregate_id}@"
                  f"{proof.version}) is leaf {proof.index:,} of the tree of {proof.size:,} events signed by "
                  f"{head.origin}", soft_wrap=True)
    console.print(f"index {proof.index}  size {proof.size}  event hash {proof.event_hash.hex()}", soft_wrap=True)
    console.print(f"proof ({len(proof.proof)} hashes, leaf to root):", markup=False)
    for h in proof.proof:
        console.print(f"  {h.hex()}", markup=False)
    console.print(basis, markup=False, soft_wrap=True)


def consistency(
    old: Annotated[Path, typer.Argument(metavar="OLD", help="the older signed tree checkpoint")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="the newer one")],
    as_json: AsJson = False,
    log_key_value: LogKey = None,
) -> None:
    """Prove that the tree of NEW extends the tree of OLD: nothing signed in OLD was changed, removed or
    reordered since."""
    with reported():
        before, after = _note_file(old), _note_file(new)
        if before.head.size > after.head.size:
            raise bad_input(f"{old} holds {before.head.size:,} events, more than {new} ({after.head.size:,}): "
                            "give the older checkpoint first")
        pinned = _log_key(log_key_value)
        with root() as engine:
            key = pinned or _engine_key(engine)
            m, n = _opened(before, key, engine, as_json).head, _opened(after, key, engine, as_json).head
            try:
                path = proofs.consistency(engine.record, m.size, n.size)
            except proofs.NotProvable as e:
                _not_proven(str(e), as_json, old_size=m.size, new_size=n.size)
        try:
            merkle.verify_consistency(m.size, n.size, m.root_hash, n.root_hash, path)
        except merkle.MerkleProofError as e:
            _not_proven(f"the tree of {n.size:,} events ({new}) is not proven to extend the tree of {m.size:,} "
                        f"({old}): {e}", as_json, old_size=m.size, new_size=n.size, kind=str(e.kind))
    basis = _basis(pinned)
    if as_json:
        print(json.dumps({"proven": True, "old_size": m.size, "new_size": n.size, "old_root": m.root_hash.hex(),
                          "new_root": n.root_hash.hex(), "proof": [h.hex() for h in path], "origin": n.origin,
                          "log_key": str(key), "trust": basis}))
        return
    console.print(f"[green]proven[/green] the tree of {n.size:,} events ({new}) extends the tree of {m.size:,} "
                  f"({old}): {len(path)} hashes", soft_wrap=True)
    console.print(basis, markup=False, soft_wrap=True)


def writable(path: Path, option: str) -> None:
    """A file about to be written: its folder must be there and it must not be a folder (exit 2 before any
    work, so nothing is signed or written on bad input)."""
    if path.is_dir():
        raise bad_input(f"{option} {path} is a directory")
    if not path.parent.is_dir():
        raise bad_input(f"{option} {path}: no such directory {path.parent}")


def checkpoint_with_note(out: Path, note: Path) -> None:
    """`audit checkpoint --out F.json --note F.note`: one full verify, then the JSON checkpoint and the tree's
    C2SP checkpoint of the same head, both written; the log's verifier key printed for auditors to pin."""
    with reported():
        writable(out, "--out")
        writable(note, "--note")
        with root() as engine:
            try:
                ring = checkpoint_keys(engine.settings)
            except KeyConfigError as e:
                raise bad_input(str(e)) from None
            try:
                cp, signed = proofs.checkpoint_with_note(engine.record, checkpoint_keys=ring, now=datetime.now(UTC))
            except CheckpointError as e:
                fail(CliError(Exit.FAILED, str(e)))
            key = proofs.log_verifier(engine.record, ring)
        for path, body in ((out, cp.to_json()), (note, str(signed))):
            try:
                path.write_text(body, encoding="utf-8")
            except OSError as e:
                fail(CliError(Exit.REFUSED, f"cannot write {path}: {e.strerror or e}"))
    head = parse_checkpoint(signed.text)
    console.print(f"signed head: notification {cp.notification_id}, {cp.count:,} events, key {cp.key_id} → {out}")
    console.print(f"store {cp.store_id}; public key {cp.public_key} (an auditor pins it: --trusted-key)",
                  markup=False, soft_wrap=True)
    console.print(f"signed tree: {head.size:,} events, root {head.root_hash.hex()} → {note}", markup=False,
                  soft_wrap=True)
    console.print(f"log key {key} (an auditor or witness pins it: --log-key)", markup=False, soft_wrap=True)
