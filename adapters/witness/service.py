"""One witness: its cosignature/v1 key, the logs it knows, its state and its clock, answering add-checkpoint
bodies with the spec's status, content type and body. The HTTP server and the offline `cosign` both call it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from adapters.record.note_signing import ed25519_verify, generate_signer_key, note_signer, parse_signer_key
from adapters.witness.state import WitnessState
from domain.audit.note import COSIGNATURE_V1, Note, NoteError, SignerKey, VerifierKey
from domain.audit.witnessing import (
    SIZE_CONTENT_TYPE,
    AddCheckpoint,
    Cosigned,
    WitnessRefusal,
    add_checkpoint,
    logs_by_origin,
    parse_add_checkpoint,
)


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes


class Witness:
    def __init__(self, signer_key_text: str, log_keys: Iterable[VerifierKey], state: WitnessState,
                 clock: Callable[[], float] = time.time) -> None:
        key = parse_signer_key(signer_key_text.strip())
        if key.signature_type != COSIGNATURE_V1:
            raise NoteError(f"witness key {key.name}: not a cosignature/v1 key (type 0x04)")
        self.key = key
        self.signer = note_signer(key)
        self.logs = logs_by_origin(log_keys)
        if not self.logs:
            raise NoteError("a witness knows at least one log key")
        self.state = state
        self.clock = clock

    def cosign(self, request: AddCheckpoint, body: bytes) -> Cosigned:
        """The decision, kept atomically; `WitnessRefusal` with the spec's status otherwise."""
        def decide(req: AddCheckpoint, latest: Note | None) -> Cosigned:
            return add_checkpoint(req, logs=self.logs, latest=latest, witness=self.signer,
                                  timestamp=max(1, int(self.clock())), verify=ed25519_verify)
        return self.state.add(request, decide, body)

    def handle(self, body: bytes) -> Reply:
        try:
            cosigned = self.cosign(parse_add_checkpoint(body), body)
        except WitnessRefusal as refusal:
            if refusal.known_size is not None:
                return Reply(409, SIZE_CONTENT_TYPE, f"{refusal.known_size}\n".encode())
            return Reply(refusal.status, "text/plain; charset=utf-8", (refusal.message + "\n").encode())
        except NoteError as e:  # the witness's own latest checkpoint no longer opens (its log key was changed)
            return Reply(500, "text/plain; charset=utf-8", f"witness state: {e.message}\n".encode())
        return Reply(200, "text/plain; charset=utf-8", cosigned.body())


verify_ed25519 = ed25519_verify  # re-exported: the CLI checks notes without importing the record's adapters


def new_witness_key(name: str) -> SignerKey:
    """A new cosignature/v1 signer key from the system's random source."""
    return generate_signer_key(name, COSIGNATURE_V1)
