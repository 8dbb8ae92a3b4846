"""Signed notes, tlog checkpoints, witness cosignatures and split views (issue 13; ``domain.audit.note``).

Test vectors, used as data with their source named:
- ``golang.org/x/mod/sumdb/note`` (note.go's package example and note_test.go): the PeterNeumann and EnochRoot keys,
  the signer key, the signed text and both signature lines;
- https://c2sp.org/signed-note (the example.com/foo verifier key and its note) and https://c2sp.org/tlog-cosignature
  (the witness.example.com/w1 cosignature line and the signed message of its example).
Every key ID is computed here from the key, never taken from the vector alone.
"""

from __future__ import annotations

import base64
from hashlib import sha256

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.record.note_signing import (
    ed25519_public_key,
    ed25519_verify,
    note_signer,
    parse_signer_key,
    signer_key_from_seed,
)
from domain.audit.merkle import MemoryNodes, MerkleProofError, consistency_proof, merkle_tree_hash, verify_consistency
from domain.audit.note import (
    COSIGNATURE_V1,
    ED25519,
    EMPTY_ROOT,
    MAX_SIGNATURES,
    Agreement,
    ExtensionProof,
    Note,
    NoteError,
    Signature,
    SignerKey,
    TreeHead,
    UnverifiedNote,
    VerifiedCheckpoint,
    VerifierKey,
    compare_views,
    cosign,
    cosignature_message,
    format_note,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_note,
    sign_checkpoint,
    sign_note,
    witness_cosign,
)

# golang.org/x/mod/sumdb/note (note.go, note_test.go)
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
# https://c2sp.org/signed-note, "Verifier keys: Example"
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ER"
    "YNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

PETER = VerifierKey.parse(PETER_VKEY)
ENOCH = VerifierKey.parse(ENOCH_VKEY)


def _sig(line: str) -> Signature:
    return parse_note("x\n\n" + line).signatures[0]


# ------------------------------------------------------------------------------------------------ key IDs and keys
def test_key_ids_are_sha256_of_name_newline_type_and_key() -> None:
    for vkey in (PETER_VKEY, ENOCH_VKEY, FOO_VKEY):
        name, id_hex, key64 = vkey.split("+", 2)
        raw = base64.b64decode(key64)
        expected = sha256(name.encode() + b"\n" + raw).digest()[:4].hex()
        assert id_hex == expected  # the vector agrees with the spec's formula, computed here
        key = VerifierKey.parse(vkey)
        assert (key.name, key.signature_type, key.public_key) == (name, ED25519, raw[1:])
        assert key.key_id == int(expected, 16) == key_id(name, ED25519, raw[1:])
        assert str(key) == vkey


def test_go_signer_key_gives_the_peter_neumann_verifier_key() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert str(signer.verifier) == PETER_VKEY
    assert str(signer) == PETER_SKEY
    assert "seed=" not in repr(signer)


def _manglings(text: str) -> list[str]:
    """note_test.go's manglings: every proper substring, and every single byte incremented."""
    b = text.encode()
    out = {b[i:j].decode(errors="replace") for i in range(len(b) + 1) for j in range(i + 1, len(b) + 1)}
    out.discard(text)
    for i in range(len(b)):
        out.add((b[:i] + bytes([(b[i] + 1) % 256]) + b[i + 1 :]).decode(errors="replace"))
    return sorted(out)


def test_every_mangled_verifier_key_is_refused() -> None:
    mangled = _manglings(PETER_VKEY)
    assert len(mangled) > 2000
    for text in mangled:
        with pytest.raises(NoteError):
            VerifierKey.parse(text)
    # note_test.go: a key of the wrong length and an unknown algorithm, each with its key ID adjusted
    bad_length = "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    assert key_id("PeterNeumann", ED25519, base64.b64decode(bad_length)[1:]) == 0xCC469956
    with pytest.raises(NoteError, match=r"^verifier key: key '.*' is not canonical base64 "):
        VerifierKey.parse("PeterNeumann+cc469956+" + bad_length)  # "Y==" leaves bits set: refused before its length
    canonical_33 = base64.b64encode(b"\x01" + b"\x1a" * 33).decode()
    with pytest.raises(NoteError, match=r"^verifier key: an Ed25519 public key is 32 bytes, got 33$"):
        VerifierKey.parse(f"PeterNeumann+{key_id('PeterNeumann', ED25519, bytes([0x1A]) * 33):08x}+{canonical_33}")
    with pytest.raises(NoteError, match=r"^verifier key: unknown signature type 0x65 "):
        VerifierKey.parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_every_mangled_signer_key_is_refused() -> None:
    for text in _manglings(PETER_SKEY):
        with pytest.raises(NoteError):
            parse_signer_key(text)


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("PeterNeumann", "verifier key: expected <name>+<8 hex digits>+<base64 key>"),
        (
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "verifier key: key name 'Peter Neumann' is empty or has a space, plus or control character",
        ),
        (
            "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "verifier key: key name '' is empty or has a space, plus or control character",
        ),
        (
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "verifier key: key ID 'C74F20A3' is not 8 lowercase hex digits",
        ),
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "verifier key: key ID c74f20a4 does not match the key, whose ID is c74f20a3",
        ),
        (
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
            "verifier key: key 'ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T' is not canonical base64 of a signature "
            "type and a key",
        ),
    ],
)
def test_malformed_verifier_keys_refused_precisely(vkey: str, message: str) -> None:
    with pytest.raises(NoteError) as refused:
        VerifierKey.parse(vkey)
    assert str(refused.value) == message


# ------------------------------------------------------------------------------------------------ signing, opening
def test_signing_reproduces_go_signature_line() -> None:
    signer = note_signer(parse_signer_key(PETER_SKEY))
    note = Note(TEXT)
    assert format_note(sign_note(note, [signer])) == TEXT + "\n" + PETER_SIG
    # note_test.go: a note already holding a (bad) signature by the same key gets it replaced
    stale = Note(TEXT, (Signature("PeterNeumann", 0xC74F20A3, b"\x00" * 64),))
    assert format_note(sign_note(stale, [signer])) == TEXT + "\n" + PETER_SIG
    with pytest.raises(NoteError, match=r"^note: the text must end with a newline$"):
        sign_note("abc", [signer])


def test_open_go_vectors_one_known_one_unknown() -> None:
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER], ed25519_verify)
    assert opened.text == TEXT
    assert opened.verified == (PETER,)
    assert opened.unverified == (_sig(ENOCH_SIG),)
    assert opened.unverified[0].key_id == ENOCH.key_id == 0xAF0CFE78

    both = open_note((TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [PETER, ENOCH], ed25519_verify)
    assert both.verified == (PETER, ENOCH) and both.unverified == ()


def test_c2sp_example_note_verifies() -> None:
    opened = open_note(FOO_NOTE, [VerifierKey.parse(FOO_VKEY)], ed25519_verify)
    assert opened.text == "This is an example message.\n"


def test_note_with_no_known_key_is_refused_but_readable() -> None:
    with pytest.raises(UnverifiedNote) as refused:
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [], ed25519_verify)
    assert str(refused.value) == "note: no signature by a known key"
    assert refused.value.note.signatures == (_sig(PETER_SIG), _sig(ENOCH_SIG))


def test_unknown_key_sharing_only_the_name_is_ignored() -> None:
    """signed-note: a signature whose name matches a known key but whose ID does not is not that key's."""
    impostor = signer_key_from_seed("PeterNeumann", b"\x07" * 32)
    note = sign_note(TEXT, [note_signer(impostor)])
    with pytest.raises(UnverifiedNote, match=r"^note: no signature by a known key$"):
        open_note(note, [PETER], ed25519_verify)


def test_forged_signature_refuses_the_whole_note() -> None:
    # note_test.go: four base64 characters inserted into Peter's signature
    forged = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError) as refused:
        open_note(forged, [PETER], ed25519_verify)
    assert str(refused.value) == "note: invalid signature for key PeterNeumann+c74f20a3"
    # another key signing under Peter's name and key ID
    mallory = note_signer(signer_key_from_seed("Mallory", b"\x01" * 32))
    line = Signature("PeterNeumann", PETER.key_id, mallory.sign(TEXT.encode())).line()
    with pytest.raises(NoteError, match=r"^note: invalid signature for key PeterNeumann\+c74f20a3$"):
        open_note(TEXT + "\n" + line, [PETER], ed25519_verify)
    # Peter's signature over another text
    with pytest.raises(NoteError, match=r"^note: invalid signature for key PeterNeumann\+c74f20a3$"):
        open_note(TEXT.replace("problem", "answer", 1) + "\n" + PETER_SIG, [PETER], ed25519_verify)
    # a forged line beside a good one still refuses the note (SHOULD reject the whole note)
    with pytest.raises(NoteError, match=r"^note: invalid signature for key EnochRoot\+af0cfe78$"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:], [PETER, ENOCH], ed25519_verify)


def test_duplicate_signatures_are_dropped() -> None:
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    msg = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    opened = open_note(msg, [PETER], ed25519_verify)
    assert opened.verified == (PETER,)
    assert opened.unverified == (_sig(ENOCH_SIG), _sig(enoch_abcd))
    assert format_note(parse_note(msg)) == msg  # as written, duplicates included


def test_too_many_signatures_refused() -> None:
    assert MAX_SIGNATURES >= 16  # the spec's floor
    for known in ([PETER], []):
        with pytest.raises(NoteError, match=r"^note: more than 100 signatures \(101\)$"):
            open_note(TEXT + "\n" + PETER_SIG * 101, known, ed25519_verify)
    assert open_note(TEXT + "\n" + PETER_SIG * 100, [PETER], ed25519_verify).verified == (PETER,)


BAD_NOTES = [
    (TEXT, "note: no blank line between the text and the signatures"),
    (TEXT + "\n", "note: no signature line after the blank line"),
    (TEXT + "\n" + PETER_SIG[:-1], "note: the last signature line does not end with a newline"),
    ("\x01" + TEXT + "\n" + PETER_SIG, "note: character U+0001 at position 0 (no control character but the newline)"),
    (
        TEXT.replace("\n", "\r\n", 1) + "\n" + PETER_SIG,
        "note: character U+000D at position 56 (no control character but the newline)",
    ),
    (
        TEXT
        + "\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        "note: signature line 1: not canonical base64 of a 4-byte key ID and a signature",
    ),
    (
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        "note: signature line 2 does not start with an em dash and a space",
    ),
    (
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
        "note: signature line 1: key name 'Peter+Neumann' is empty or has a space or plus",
    ),
    (
        TEXT
        + "\n"
        + "—  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        "note: signature line 1: key name '' is empty or has a space or plus",
    ),
    (
        TEXT + "\n" + "— PeterNeumann x08gow==\n",
        "note: signature line 1: not canonical base64 of a 4-byte key ID and a signature",
    ),
    (
        TEXT + "\n" + "— PeterNeumann x08go/Z=\n",
        "note: signature line 1: not canonical base64 of a 4-byte key ID and a signature",
    ),  # unused bits set: the same bytes as x08go/Y=
    (TEXT + "\n" + PETER_SIG + "\n", "note: no signature line after the blank line"),
]


@pytest.mark.parametrize(("msg", "message"), BAD_NOTES)
def test_malformed_notes_refused_precisely(msg: str, message: str) -> None:
    with pytest.raises(NoteError) as refused:
        open_note(msg, [PETER], ed25519_verify)
    assert str(refused.value) == message


def test_malformed_bytes_refused_precisely() -> None:
    with pytest.raises(NoteError, match=r"^note: not valid UTF-8 \(byte 0\)$"):
        parse_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode())
    with pytest.raises(NoteError, match=r"^note: longer than 1048576 bytes$"):
        parse_note("a" * (1 << 20) + "\n\n" + PETER_SIG)


def test_text_may_hold_empty_lines_signatures_after_the_last() -> None:
    """signed-note: "The note text MAY contain empty lines; the text is separated from the signatures by the last
    empty line in the note" (a checkpoint's text may not: below)."""
    text = "first\n\nthird\n"
    note = sign_note(text, [note_signer(parse_signer_key(PETER_SKEY))])
    opened = open_note(format_note(note), [PETER], ed25519_verify)
    assert opened.text == text


_name = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=20).filter(
    lambda s: "+" not in s and not any(c.isspace() for c in s)
)
_line = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30).filter(lambda s: "\n" not in s)
_signature = st.builds(Signature, _name, st.integers(0, 2**32 - 1), st.binary(min_size=1, max_size=80))


@given(lines=st.lists(_line, min_size=1, max_size=6), sigs=st.lists(_signature, min_size=1, max_size=5))
def test_note_round_trip(lines: list[str], sigs: list[Signature]) -> None:
    note = Note("".join(line + "\n" for line in lines), tuple(sigs))
    text = format_note(note)
    assert parse_note(text) == note
    assert parse_note(text.encode()) == note
    assert format_note(parse_note(text)) == text


@given(
    name=_name, signature_type=st.sampled_from([ED25519, COSIGNATURE_V1]), public=st.binary(min_size=32, max_size=32)
)
def test_verifier_key_round_trip(name: str, signature_type: int, public: bytes) -> None:
    key = VerifierKey(name, signature_type, public)
    assert VerifierKey.parse(str(key)) == key
    assert str(key).split("+")[1] == sha256(name.encode() + b"\n" + bytes([signature_type]) + public).hexdigest()[:8]


# ----------------------------------------------------------------------------------------------------- checkpoints
ORIGIN = "arrimage.example/cisss-test"
LOG = parse_signer_key(str(signer_key_from_seed(ORIGIN, b"\x11" * 32)))
WITNESS = signer_key_from_seed("witness.example/cai", b"\x22" * 32, COSIGNATURE_V1)
ROOT_A = sha256(b"tree a").digest()
ROOT_B = sha256(b"tree b").digest()


def _open(text: str | Note, *witnesses: SignerKey) -> VerifiedCheckpoint:
    return open_checkpoint(text, log=LOG.verifier, verify=ed25519_verify, witnesses=[w.verifier for w in witnesses])


def _checkpoint(size: int, root: bytes, *, witnesses: tuple[SignerKey, ...] = (), at: int = 1_700_000_000) -> str:
    note = sign_checkpoint(TreeHead(ORIGIN, size, root), note_signer(LOG))
    for w in witnesses:
        note = cosign(_open(note), note_signer(w), at)
    return format_note(note)


def test_c2sp_checkpoint_example_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    head = parse_checkpoint(text)
    assert (head.origin, head.size, head.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert head.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert head.text() == text


def test_signed_checkpoint_opens_with_the_logs_key() -> None:
    opened = open_checkpoint(_checkpoint(7, ROOT_A), log=LOG.verifier, verify=ed25519_verify)
    assert opened.head == TreeHead(ORIGIN, 7, ROOT_A)
    assert opened.cosignatures == ()


def test_checkpoint_not_signed_by_the_log_is_refused() -> None:
    other = signer_key_from_seed(ORIGIN, b"\x33" * 32)  # same origin, another key: not the log's
    text = format_note(sign_checkpoint(TreeHead(ORIGIN, 7, ROOT_A), note_signer(other)))
    with pytest.raises(UnverifiedNote, match=r"^note: no signature by a known key$"):
        open_checkpoint(text, log=LOG.verifier, verify=ed25519_verify)
    # a note signed only by a witness the reader knows is still not the log's checkpoint
    only_witness = format_note(
        Note(
            TreeHead(ORIGIN, 7, ROOT_A).text(),
            cosign(_open(_checkpoint(7, ROOT_A)), note_signer(WITNESS), 5).signatures[1:],
        )
    )
    with pytest.raises(UnverifiedNote) as refused:
        open_checkpoint(only_witness, log=LOG.verifier, verify=ed25519_verify, witnesses=[WITNESS.verifier])
    assert str(refused.value) == f"checkpoint: not signed by the log's key {LOG.verifier}"


def test_checkpoint_of_another_origin_is_refused() -> None:
    log = signer_key_from_seed("other.example/log", b"\x44" * 32)
    text = format_note(sign_checkpoint(TreeHead(ORIGIN, 1, ROOT_A), note_signer(log)))
    with pytest.raises(NoteError) as refused:
        open_checkpoint(text, log=log.verifier, verify=ed25519_verify)
    assert str(refused.value) == f"checkpoint: origin {ORIGIN!r} is not the log's 'other.example/log'"
    # an origin that is not a key name (Sigstore's Rekor: "rekor.sigstore.dev - <tree id>") is named by the reader
    rekor = signer_key_from_seed("rekor.example", b"\x45" * 32)
    head = TreeHead("rekor.example - 1193050959916656506", 3, ROOT_A)
    opened = open_checkpoint(
        format_note(sign_checkpoint(head, note_signer(rekor))),
        log=rekor.verifier,
        verify=ed25519_verify,
        origin="rekor.example - 1193050959916656506",
    )
    assert opened.head == head


R64 = base64.b64encode(ROOT_A).decode()
BAD_CHECKPOINTS = [
    (f"{ORIGIN}\n7\n{R64}", "checkpoint: the text must end with a newline"),
    (f"{ORIGIN}\n7\n", "checkpoint: 2 lines, expected origin, tree size and root hash"),
    (f"{ORIGIN}\n\n7\n{R64}\n", "checkpoint: line 2 is empty"),
    (f"\n7\n{R64}\n", "checkpoint: line 1 is empty"),
    (f"{ORIGIN}\n7\n{R64}\n\nextension\n", "checkpoint: line 4 is empty"),
    (f"{ORIGIN}\n07\n{R64}\n", "checkpoint: tree size '07' is not a decimal number without leading zeros"),
    (f"{ORIGIN}\n+7\n{R64}\n", "checkpoint: tree size '+7' is not a decimal number without leading zeros"),
    (f"{ORIGIN}\n1_000\n{R64}\n", "checkpoint: tree size '1_000' is not a decimal number without leading zeros"),
    (f"{ORIGIN}\n٧\n{R64}\n", "checkpoint: tree size '٧' is not a decimal number without leading zeros"),
    (f"{ORIGIN}\n-1\n{R64}\n", "checkpoint: tree size '-1' is not a decimal number without leading zeros"),
    (f"{ORIGIN}\n{2**64}\n{R64}\n", f"checkpoint: tree size {2**64} is more than 2^64-1"),
    (f"{ORIGIN}\n7\n{R64[:-1]}\n", f"checkpoint: root hash {R64[:-1]!r} is not canonical base64"),
    (f"{ORIGIN}\n7\n{base64.b64encode(ROOT_A[:31]).decode()}\n", "checkpoint: root hash is 31 bytes, not 32 (SHA-256)"),
    (
        f"{ORIGIN}\n0\n{R64}\n",
        "checkpoint: tree size 0 with a root hash other than the empty tree's, SHA-256 of nothing",
    ),
    (f"{ORIGIN}\t\n7\n{R64}\n", "checkpoint: character U+0009 at position 27 (no control character but the newline)"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CHECKPOINTS)
def test_malformed_checkpoints_refused_precisely(text: str, message: str) -> None:
    with pytest.raises(NoteError) as refused:
        parse_checkpoint(text)
    assert str(refused.value) == message


def test_malformed_checkpoint_in_a_well_signed_note_is_refused() -> None:
    text = format_note(sign_note(f"{ORIGIN}\n07\n{R64}\n", [note_signer(LOG)]))
    with pytest.raises(NoteError, match=r"^checkpoint: tree size '07' is not a decimal number"):
        open_checkpoint(text, log=LOG.verifier, verify=ed25519_verify)


_root = st.binary(min_size=32, max_size=32)
_ext = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda s: "\n" not in s
)


@given(origin=_ext, size=st.integers(1, 2**64 - 1), root=_root, extensions=st.lists(_ext, max_size=3))
def test_checkpoint_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    head = TreeHead(origin, size, root, tuple(extensions))
    assert parse_checkpoint(head.text()) == head
    assert parse_checkpoint(head.text()).text() == head.text()
    assert parse_checkpoint(TreeHead(origin, 0, EMPTY_ROOT).text()).size == 0


# ----------------------------------------------------------------------------------------------------- cosignatures
def test_c2sp_cosignature_example_line_and_message() -> None:
    """tlog-cosignature's example: the witness line carries key ID then 8 bytes of time 1679315147 (the time of
    its example signed message), then 64 bytes of Ed25519."""
    line = (
        "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqh"
        "f5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    sig = _sig(line)
    assert (sig.name, sig.key_id, len(sig.signature)) == ("witness.example.com/w1", 0x8D66CF3F, 72)
    assert int.from_bytes(sig.signature[:8], "big") == 1679315147
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosignature_message(body, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_witness_cosigns_a_checkpoint() -> None:
    public = ed25519_public_key(b"\x22" * 32)
    assert WITNESS.verifier.key_id == int.from_bytes(sha256(b"witness.example/cai\n\x04" + public).digest()[:4], "big")
    name, id_hex, key64 = str(WITNESS.verifier).split("+", 2)
    assert (name, id_hex, base64.b64decode(key64)) == (
        "witness.example/cai",
        f"{WITNESS.verifier.key_id:08x}",
        b"\x04" + public,
    )
    assert VerifierKey.parse(str(WITNESS.verifier)) == WITNESS.verifier

    text = _checkpoint(9, ROOT_A, witnesses=(WITNESS,), at=1_764_640_000)
    lines = text.splitlines()
    assert lines[-2].startswith(f"— {ORIGIN} ") and lines[-1].startswith("— witness.example/cai ")

    seen = open_checkpoint(text, log=LOG.verifier, verify=ed25519_verify, witnesses=[WITNESS.verifier])
    assert [(c.name, c.key_id, c.timestamp) for c in seen.cosignatures] == [
        ("witness.example/cai", WITNESS.verifier.key_id, 1_764_640_000)
    ]
    assert seen.witnessed_by([WITNESS.verifier]) == seen.cosignatures

    # a reader who does not know the witness keeps its line, unverified, and still trusts the log's signature
    alone = open_checkpoint(text, log=LOG.verifier, verify=ed25519_verify)
    assert alone.cosignatures == () and [s.name for s in alone.opened.unverified] == ["witness.example/cai"]
    # cosigning again replaces the witness's earlier line
    again = cosign(_open(text, WITNESS), note_signer(WITNESS), 1_764_650_000)
    assert len(again.signatures) == 2
    assert (
        open_checkpoint(again, log=LOG.verifier, verify=ed25519_verify, witnesses=[WITNESS.verifier])
        .cosignatures[0]
        .timestamp
        == 1_764_650_000
    )


def test_tampered_cosignature_refused() -> None:
    note = parse_note(_checkpoint(9, ROOT_A, witnesses=(WITNESS,), at=1_764_640_000))
    cosig = note.signatures[1]
    later = Signature(cosig.name, cosig.key_id, (1_764_640_001).to_bytes(8, "big") + cosig.signature[8:])
    tampered = Note(note.text, (note.signatures[0], later))
    with pytest.raises(NoteError) as refused:
        open_checkpoint(tampered, log=LOG.verifier, verify=ed25519_verify, witnesses=[WITNESS.verifier])
    assert str(refused.value) == f"note: invalid signature for key witness.example/cai+{WITNESS.verifier.key_id:08x}"
    # the witness's bare Ed25519 signature over the text (no cosignature/v1 header) is not a cosignature
    bare = Signature(cosig.name, cosig.key_id, cosig.signature[:8] + note_signer(WITNESS).sign(note.text.encode()))
    with pytest.raises(NoteError, match=r"^note: invalid signature for key witness\.example/cai\+"):
        open_checkpoint(
            Note(note.text, (note.signatures[0], bare)),
            log=LOG.verifier,
            verify=ed25519_verify,
            witnesses=[WITNESS.verifier],
        )


def test_cosigning_rules() -> None:
    note = parse_note(_checkpoint(9, ROOT_A))
    seen = _open(note)
    with pytest.raises(NoteError, match=r"^witness arrimage\.example/cisss-test: a cosignature is signature type "):
        cosign(seen, note_signer(LOG), 5)
    with pytest.raises(NoteError, match=r"^cosignature: time -1 is not within 0 … 2\^63-1 seconds$"):
        cosign(seen, note_signer(WITNESS), -1)
    with pytest.raises(NoteError, match=r"^cosignature: time 9223372036854775808 is not within"):
        cosign(seen, note_signer(WITNESS), 2**63)
    with pytest.raises(NoteError, match=r"^note: the text must end with a newline$"):
        _open(Note("hello", note.signatures))
    with pytest.raises(NoteError, match=r"^signer witness\.example/cai: signature type 0x04 does not sign"):
        sign_note(note, [note_signer(WITNESS)])
    with pytest.raises(NoteError, match=r"^checkpoint: witness key arrimage\.example/cisss-test is not of "):
        open_checkpoint(note, log=LOG.verifier, verify=ed25519_verify, witnesses=[LOG.verifier])


# ----------------------------------------------------------------------------------------------------- split views
def _seen(size: int, root: bytes) -> VerifiedCheckpoint:
    return open_checkpoint(
        _checkpoint(size, root, witnesses=(WITNESS,)),
        log=LOG.verifier,
        verify=ed25519_verify,
        witnesses=[WITNESS.verifier],
    )


def test_split_view_same_size_different_roots_detected_without_proof() -> None:
    """Two parties shown two trees of the same size: both checkpoints verify, they cannot both be the log's."""
    shown_to_partner, shown_to_cai = _seen(42, ROOT_A), _seen(42, ROOT_B)
    found = compare_views(shown_to_partner, shown_to_cai)
    assert found.agreement is Agreement.SPLIT
    assert found.reason == (
        f"two roots at size 42: {base64.b64encode(ROOT_A).decode()} and {base64.b64encode(ROOT_B).decode()}"
    )
    assert {found.smaller.head.root_hash, found.larger.head.root_hash} == {ROOT_A, ROOT_B}
    assert compare_views(_seen(42, ROOT_A), _seen(42, ROOT_A)).agreement is Agreement.SAME


def test_different_sizes_need_a_consistency_proof() -> None:
    old, new = _seen(5, ROOT_A), _seen(9, ROOT_B)
    unproven = compare_views(new, old)
    assert (unproven.agreement, unproven.smaller, unproven.reason) == (
        Agreement.UNPROVEN,
        old,
        "sizes 5 and 9: no consistency proof given",
    )
    asked: list[tuple[int, bytes, int, bytes]] = []

    def proves(m: int, root_m: bytes, n: int, root_n: bytes) -> bool:
        asked.append((m, root_m, n, root_n))
        return True

    assert compare_views(old, new, proves).agreement is Agreement.EXTENDS
    assert asked == [(5, ROOT_A, 9, ROOT_B)]
    forked = compare_views(old, new, lambda *_: False)
    assert (forked.agreement, forked.reason) == (
        Agreement.SPLIT,
        "no consistency proof from size 5 to size 9: the trees diverge",
    )
    assert compare_views(_seen(0, EMPTY_ROOT), new).agreement is Agreement.EXTENDS


def test_checkpoints_of_two_logs_are_not_compared() -> None:
    other = signer_key_from_seed("other.example/log", b"\x55" * 32)
    theirs = open_checkpoint(
        format_note(sign_checkpoint(TreeHead("other.example/log", 42, ROOT_B), note_signer(other))),
        log=other.verifier,
        verify=ed25519_verify,
    )
    with pytest.raises(NoteError, match=r"^split view: checkpoints of two logs "):
        compare_views(_seen(42, ROOT_A), theirs)


def test_witness_cosigns_only_what_extends_what_it_saw() -> None:
    """tlog-cosignature: a cosignature says this is the largest consistent tree the witness has seen for the log."""
    witness = note_signer(WITNESS)
    first = _open(_checkpoint(5, ROOT_A))
    cosigned = witness_cosign(None, first, witness, 1_764_640_000)
    assert _open(cosigned, WITNESS).cosignatures[0].timestamp == 1_764_640_000
    assert witness_cosign(first, _open(_checkpoint(5, ROOT_A)), witness, 1_764_640_060).signatures[1].name == (
        "witness.example/cai"
    )
    larger = _open(_checkpoint(9, ROOT_B))
    assert len(witness_cosign(first, larger, witness, 1_764_640_120, lambda *_: True).signatures) == 2

    refusals = [
        (first, _open(_checkpoint(5, ROOT_B)), None, "witness: not cosigned (split): two roots at size 5: "),
        (first, larger, None, "witness: not cosigned (unproven): sizes 5 and 9: no consistency proof given"),
        (first, larger, lambda *_: False, "witness: not cosigned (split): no consistency proof from size 5 to size 9"),
        (larger, first, lambda *_: True, "witness: tree size 5 is smaller than 9, already cosigned"),
    ]
    for latest, candidate, proves, message in refusals:
        with pytest.raises(NoteError) as refused:
            witness_cosign(latest, candidate, witness, 1_764_640_180, proves)
        assert str(refused.value).startswith(message)
    other = signer_key_from_seed("other.example/log", b"\x56" * 32)
    theirs = open_checkpoint(
        format_note(sign_checkpoint(TreeHead("other.example/log", 9, ROOT_B), note_signer(other))),
        log=other.verifier,
        verify=ed25519_verify,
    )
    with pytest.raises(NoteError, match=r"^witness: checkpoint of 'other.example/log', the latest seen is of "):
        witness_cosign(first, theirs, witness, 1_764_640_180)


def _proof_from(nodes: MemoryNodes) -> ExtensionProof:
    """A consistency proof served by a log holding `nodes`, checked by the reader (domain.audit.merkle, RFC 9162)."""

    def proves(m: int, root_m: bytes, n: int, root_n: bytes) -> bool:
        try:
            verify_consistency(m, n, root_m, root_n, consistency_proof(nodes, m, n))
        except MerkleProofError:
            return False
        return True

    return proves


def test_fork_of_another_size_detected_by_a_consistency_proof() -> None:
    """The log shows one party its tree of 5 events, then a rewritten history of 9 to another: the larger tree
    does not extend the smaller, and no proof the log can serve says it does."""
    events = [f"event {i}".encode() for i in range(9)]
    rewritten = [*events[:3], b"event 3, altered", *events[4:]]
    honest_5, honest_9 = _seen(5, merkle_tree_hash(events[:5])), _seen(9, merkle_tree_hash(events))
    forked_9 = _seen(9, merkle_tree_hash(rewritten))

    assert compare_views(honest_5, honest_9, _proof_from(MemoryNodes.of_entries(events))).agreement is (
        Agreement.EXTENDS
    )
    for nodes in (MemoryNodes.of_entries(rewritten), MemoryNodes.of_entries(events)):
        found = compare_views(honest_5, forked_9, _proof_from(nodes))
        assert (found.agreement, found.reason) == (
            Agreement.SPLIT,
            "no consistency proof from size 5 to size 9: the trees diverge",
        )
    assert compare_views(honest_9, forked_9).agreement is Agreement.SPLIT  # same size: no proof needed
