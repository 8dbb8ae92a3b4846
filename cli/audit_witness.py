"""`arrimage audit witness key|serve|cosign`, `audit compare` and `audit publish` (issue 13, c2sp.org/tlog-witness).

The witness's side (`witness …`) needs no record: a partner organisation or the ministry runs it with its own
cosignature/v1 key, the log's verifier key it pins (`arrimage audit log-key` prints it) and a state file it owns.
`publish` is the log's side: it signs the record's tree checkpoint and sends it to ARRIMAGE_WITNESSES. `compare`
is anyone's: two checkpoints of one log that met, checked for a split view.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from adapters.witness.server import RequestLimit, tls_context, witness_server
from adapters.witness.service import Witness, new_witness_key
from adapters.witness.service import verify_ed25519 as ed25519_verify
from adapters.witness.state import WitnessState
from cli.client import root
from cli.errors import CliError, Exit, bad_input, fail, read_text
from domain.audit.checkpoint import CheckpointError
from domain.audit.merkle import MerkleProofError, verify_consistency
from domain.audit.note import (
    Agreement,
    Note,
    NoteError,
    VerifiedCheckpoint,
    VerifierKey,
    compare_views,
    open_checkpoint,
    parse_note,
)
from domain.audit.witnessing import AddCheckpoint, WitnessRefusal, origin_of, parse_hash_lines
from usecases.audit.witnessing import publish as do_publish
from workers.bootstrap import KeyConfigError, checkpoint_keys

WITNESS_EXIT_CODES = (
    "Exit codes: 0 cosigned (cosign), serving until interrupted (serve), key written (key); 1 refused by the witness's "
    "rule (cosign: a stale size, a bad proof, a split view, a forged log signature); 2 bad input."
)

witness_app = typer.Typer(
    help="Run a witness of an arrimage record (or of any C2SP tlog-checkpoint log): a key, the HTTP witness "
         "(c2sp.org/tlog-witness), or an offline cosignature.",
    epilog=WITNESS_EXIT_CODES,
    no_args_is_help=True,
)

P = ParamSpec("P")
R = TypeVar("R")


def _worded(command: Callable[P, R]) -> Callable[P, R]:
    """A `CliError` raised by the helpers below ends the command with its line and exit code."""
    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as e:
            fail(e)
    return run


LogKeys = Annotated[list[str], typer.Option(
    "--log-key", metavar="VKEY",
    help="The log's verifier key, <origin>+<key id>+<base64> (`arrimage audit log-key` prints it); repeatable.",
)]
KeyFile = Annotated[Path, typer.Option("--key", help="the witness's signer key file (`witness key` writes it)")]
StateFile = Annotated[Path, typer.Option("--state", help="the witness's state (SQLite; made 0600 if absent)")]
ProofFile = Annotated[Path | None, typer.Option(
    "--proof", help="a consistency proof: one base64 hash per line, from the smaller size to the larger")]


def _verifier(text: str, what: str, signature_type: int | None = None) -> VerifierKey:
    try:
        key = VerifierKey.parse(text.strip())
    except NoteError as e:
        raise bad_input(f"{what}: {e.message}") from None
    if signature_type is not None and key.signature_type != signature_type:
        raise bad_input(f"{what}: {key.name} is not of signature type 0x{signature_type:02x}")
    return key


def _note(path: Path) -> Note:
    try:
        return parse_note(read_text(path))
    except NoteError as e:
        raise bad_input(f"{path}: {e.message}") from None


def _proof(path: Path | None) -> tuple[bytes, ...]:
    if path is None:
        return ()
    try:
        return parse_hash_lines(read_text(path).splitlines(), f"{path}: proof")
    except NoteError as e:
        raise bad_input(e.message) from None


def _witness(key: Path, log_keys: list[str], state: Path) -> Witness:
    if not log_keys:
        raise bad_input("at least one --log-key")
    logs = [_verifier(k, "--log-key") for k in log_keys]
    try:
        return Witness(read_text(key), logs, WitnessState(state))
    except NoteError as e:
        raise bad_input(f"{key}: {e.message}") from None
    except (OSError, ValueError) as e:
        raise bad_input(f"{state}: {e}") from None


@witness_app.command("key")
@_worded
def key(
    name: str = typer.Option(..., "--name", help="the witness's name, e.g. witness.cisss-exemple.qc.ca/1"),
    out: Path = typer.Option(..., "--out", help="where to write the secret signer key (0600; never overwritten)"),
) -> None:
    """Make a cosignature/v1 key: the secret to --out, the verifier key (what logs configure) on stdout."""
    try:
        made = new_witness_key(name)
    except NoteError as e:
        fail(bad_input(f"--name: {e.message}"))
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(bad_input(f"{out} exists: a witness key is never overwritten"))
    except OSError as e:
        fail(bad_input(f"cannot write {out}: {e.strerror or e}"))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"{made}\n")
    typer.echo(str(made.verifier))


@witness_app.command("serve")
@_worded
def serve(
    key: KeyFile,
    log_keys: LogKeys,
    state: StateFile,
    listen: str = typer.Option("127.0.0.1:7380", "--listen", metavar="HOST:PORT"),
    prefix: str = typer.Option("", "--prefix", help="the submission prefix, e.g. /witness (default: none)"),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="serve HTTPS with this certificate (PEM chain)"),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="the certificate's private key (PEM)"),
    tls_client_ca: Path | None = typer.Option(
        None, "--tls-client-ca", help="require client certificates signed by this CA (PEM): mTLS"),
    per_minute: int = typer.Option(
        60, "--requests-per-minute", min=0, help="per client address, beyond which 429 (0: no limit)"),
) -> None:
    """Serve POST <prefix>/add-checkpoint until interrupted: HTTPS with --tls-cert/--tls-key (and mTLS with
    --tls-client-ca), else plain HTTP (behind a TLS proxy, or on localhost); each client address limited."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        fail(bad_input(f"--listen {listen!r}: expected HOST:PORT"))
    if (tls_cert is None) != (tls_key is None):
        fail(bad_input("--tls-cert and --tls-key go together"))
    if tls_client_ca is not None and tls_cert is None:
        fail(bad_input("--tls-client-ca needs --tls-cert and --tls-key"))
    tls = None
    if tls_cert is not None and tls_key is not None:
        try:
            tls = tls_context(tls_cert, tls_key, tls_client_ca)
        except (OSError, ssl.SSLError) as e:
            fail(bad_input(f"TLS files ({tls_cert}, {tls_key}{', ' + str(tls_client_ca) if tls_client_ca else ''}): "
                           f"{getattr(e, 'strerror', None) or e}"))
    limit = RequestLimit(per_minute, 60.0) if per_minute else None
    witness = _witness(key, log_keys, state)
    try:
        server = witness_server(witness, host.strip("[]") or "127.0.0.1", int(port_text), prefix, tls=tls,
                                limit=limit)
    except OSError as e:
        fail(CliError(Exit.FAILED, f"cannot listen on {listen}: {e.strerror or e}"))
    bound_host, bound_port = server.server_address[:2]
    shown = bound_host.decode() if isinstance(bound_host, bytes) else bound_host
    scheme = "http" if tls is None else "https"
    typer.echo(f"witness {witness.key.verifier} on {scheme}://{shown}:{bound_port}{prefix.rstrip('/')}/add-checkpoint "
               f"for {', '.join(sorted(witness.logs))}"
               f"{' (client certificates required)' if tls_client_ca else ''}"
               f"{f', {per_minute} requests a minute per client' if limit else ''}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@witness_app.command("cosign", epilog=WITNESS_EXIT_CODES)
@_worded
def cosign(
    note: Path,
    key: KeyFile,
    log_keys: LogKeys,
    state: StateFile,
    out: Path = typer.Option(..., "--out", help="where to write the cosigned note"),
    proof: ProofFile = None,
) -> None:
    """The offline witness: the same decision as `serve` on a checkpoint file, from the size the state holds for
    its log (--proof from that size; none for a first checkpoint or the same size)."""
    witness = _witness(key, log_keys, state)
    checkpoint = _note(note)
    hashes = _proof(proof)
    try:
        origin = origin_of(AddCheckpoint(0, (), checkpoint))
        latest = witness.state.latest(origin)
        held = 0
        if latest is not None and origin in witness.logs:
            held = open_checkpoint(latest, log=witness.logs[origin], verify=ed25519_verify).head.size
        request = AddCheckpoint(held, hashes, checkpoint)
        cosigned = witness.cosign(request, request.body())
    except WitnessRefusal as r:
        if r.status == 400:
            fail(bad_input(f"{note}: {r.message}"))
        fail(CliError(Exit.FAILED, f"refused ({r.status}): {note}: {r.message}"))
    except NoteError as e:
        fail(bad_input(f"{note}: {e.message}"))
    try:
        out.write_text(str(cosigned.note), encoding="utf-8")
    except OSError as e:
        fail(bad_input(f"cannot write {out}: {e.strerror or e}"))
    typer.echo(f"cosigned {cosigned.head.origin} at size {cosigned.head.size} → {out}")


@_worded
def compare(
    a: Path,
    b: Path,
    log_keys: LogKeys,
    proof: ProofFile = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Two checkpoints of one log that met: 0 the same tree or the larger proven to extend the smaller (--proof),
    1 a split view (same size, two roots; or a proof that fails), naming both; 2 bad input (or sizes differ and
    no --proof: nothing is known)."""
    keys = [_verifier(k, "--log-key") for k in log_keys]
    if not keys:
        fail(bad_input("--log-key: the log's verifier key"))
    opened: list[VerifiedCheckpoint] = []
    for path in (a, b):
        note = _note(path)
        last: NoteError | None = None
        for k in keys:
            try:
                opened.append(open_checkpoint(note, log=k, verify=ed25519_verify))
                break
            except NoteError as e:
                last = e
        else:
            fail(bad_input(f"{path}: {last.message if last else 'not signed by the log'}"))
    hashes = _proof(proof)

    def proves(m: int, rm: bytes, n: int, rn: bytes) -> bool:
        try:
            verify_consistency(m, n, rm, rn, hashes)
        except MerkleProofError:
            return False
        return True

    try:
        found = compare_views(opened[0], opened[1], proves if proof is not None else None)
    except NoteError as e:
        fail(bad_input(e.message))
    names = {id(opened[0]): str(a), id(opened[1]): str(b)}
    small, large = names[id(found.smaller)], names[id(found.larger)]
    if as_json:
        print(json.dumps({"agreement": found.agreement.value, "reason": found.reason,
                          "smaller": {"file": small, "size": found.smaller.head.size},
                          "larger": {"file": large, "size": found.larger.head.size}}))
    line = (f"{found.agreement.value}: {small} (size {found.smaller.head.size}) and {large} "
            f"(size {found.larger.head.size}): {found.reason}")
    if found.agreement is Agreement.UNPROVEN:
        fail(bad_input(f"{line}; give --proof (a consistency proof from the smaller size to the larger)"))
    if not as_json:
        typer.echo(line, err=found.agreement is Agreement.SPLIT)
    if found.agreement is Agreement.SPLIT:
        raise typer.Exit(1)


@_worded
def publish(
    as_json: bool = typer.Option(False, "--json"),
    out: Path | None = typer.Option(None, "--out", help="also write the cosigned checkpoint note here"),
) -> None:
    """Sign the record's tree checkpoint and send it to every witness of ARRIMAGE_WITNESSES (with the consistency
    proof from the size each last cosigned); keep the cosigned note in the record. Exit 0 every witness cosigned,
    1 some refused or did not answer (each named), 2 no witness configured or bad input."""
    from adapters.witness.client import client_tls, post_add_checkpoint  # httpx: this command's only, of `audit`

    with root() as engine:
        witnesses = engine.settings.witness_list()
        if not witnesses:
            fail(bad_input("no witness configured: set ARRIMAGE_WITNESSES to <witness verifier key>=<url>, …"))
        try:
            ring = checkpoint_keys(engine.settings)
        except KeyConfigError as e:
            fail(bad_input(str(e)))
        post = post_add_checkpoint
        cert, tls_key = engine.settings.witness_tls_cert, engine.settings.witness_tls_key
        if cert is not None and tls_key is not None:
            try:
                post = functools.partial(post_add_checkpoint, tls=client_tls(cert, tls_key))
            except (OSError, ssl.SSLError) as e:
                fail(bad_input(f"ARRIMAGE_WITNESS_TLS_CERT/_KEY ({cert}, {tls_key}): "
                               f"{getattr(e, 'strerror', None) or e}"))
        try:
            done = do_publish(engine.record, ring, witnesses, datetime.now(UTC), post=post)
        except (NoteError, CheckpointError) as e:
            fail(CliError(Exit.FAILED, f"cannot publish: {e.message}"))
    if out is not None:
        try:
            out.write_text(done.note, encoding="utf-8")
        except OSError as e:
            fail(bad_input(f"cannot write {out}: {e.strerror or e}"))
    if as_json:
        print(json.dumps({"size": done.size, "note": done.note, "witnesses": [
            {"witness": r.witness, "url": r.url, "outcome": r.outcome.value, "detail": r.detail,
             "old_size": r.old_size} for r in done.reports]}))
    else:
        typer.echo(f"tree size {done.size}: {sum(r.outcome == 'cosigned' for r in done.reports)} of "
                   f"{len(done.reports)} witnesses cosigned")
        for r in done.reports:
            typer.echo(f"  {r.outcome.value}: {r.witness.split('+')[0]} ({r.url}) from size {r.old_size}: {r.detail}")
    if not done.all_cosigned:
        raise typer.Exit(1)
