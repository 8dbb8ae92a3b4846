"""Issue 9, "verify/export only warn": outside development mode, a signature is checked against a key the
reader pinned (`--trusted-key`) or the reader says explicitly that this machine's configuration decides
(`--trust-engine-key`); `export` signs a head only against the last trusted checkpoint (`--against`) or when
the auditor says there is none yet (`--first-export`). Before, both printed a warning and went on. SQLite and
PostgreSQL (issue 12)."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from adapters.record.record import Record
from domain.ententes import commands as ac
from tests.audit_builders import ENTENTE, T0
from tests.crisis_builders import crisis_content
from tests.e2e.harness import run_completed, store_cli_env
from usecases.ententes import Ententes

SEED = bytes([7]) * 32
PRODUCTION_KEYS = {
    "ARRIMAGE_PAYLOAD_KEYS": f"p1:{base64.b64encode(bytes([1]) * 32).decode()}",
    "ARRIMAGE_SUBJECT_KEKS": f"s1:{base64.b64encode(bytes([2]) * 32).decode()}",
    "ARRIMAGE_CHECKPOINT_KEYS": f"c1:{base64.b64encode(SEED).decode()}",
}
NEEDS_TRUST = ("invalid input: give --trusted-key FILE|BASE64 (the checkpoint public key kept away from the operator), "
               "or --trust-engine-key to rely on this machine's configuration\n")
NEEDS_AGAINST = ("invalid input: give --against FILE (the last checkpoint you trust, kept away from the operator), "
                 "or --first-export when there is none yet\n")


@dataclass
class Machine:
    """`arrimage` on a production machine: every key configured, no development mode, over a record (SQLite or
    PostgreSQL) that holds an entente (no personal content, so it reads the same under any key-encryption key)."""

    cwd: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_completed(*args, env=self.env, cwd=self.cwd)


@pytest.fixture
def machine(store_env: dict[str, str], tmp_path: Path) -> Machine:
    record = Record(store_env)
    Ententes(record).draft(ac.DraftEntente(by="dsp", code=ENTENTE, content=crisis_content("cc-laval")), T0)
    record.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
    env.update({"ARRIMAGE_DATA_DIR": str(tmp_path / "var"), "ARRIMAGE_TEMPORAL_ADDRESS": "127.0.0.1:1",
                "ARRIMAGE_LOG_FORMAT": "console", "ARRIMAGE_ROLE": "auditeur", **store_cli_env(store_env),
                **PRODUCTION_KEYS})
    return Machine(tmp_path, env)


def public_key() -> str:
    raw = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def test_verify_outside_development_needs_a_pinned_key_or_an_explicit_choice(machine: Machine) -> None:
    run = machine.run
    refused = run("audit", "verify")
    assert (refused.returncode, refused.stdout, refused.stderr) == (2, "", NEEDS_TRUST)
    pinned = run("audit", "verify", "--trusted-key", public_key())
    assert pinned.returncode == 0, pinned
    assert pinned.stdout.startswith("verified 1 events (")  # the fixture's store: its entente's draft
    assert "checked against 1 pinned public key" in pinned.stdout
    engine_key = run("audit", "verify", "--trust-engine-key")
    assert engine_key.returncode == 0, engine_key
    assert "the engine's own key only" in engine_key.stdout


def test_export_outside_development_signs_only_against_a_trusted_checkpoint_or_a_declared_first(
        machine: Machine, tmp_path: Path) -> None:
    run = machine.run
    untrusted = run("audit", "export", "--out", str(tmp_path / "a"))
    assert (untrusted.returncode, untrusted.stderr) == (2, NEEDS_TRUST)
    unanchored = run("audit", "export", "--out", str(tmp_path / "b"), "--trusted-key", public_key())
    assert (unanchored.returncode, unanchored.stderr) == (2, NEEDS_AGAINST)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing written when refused
    first = run("audit", "export", "--out", str(tmp_path / "c"), "--trusted-key", public_key(),
                "--first-export")
    assert first.returncode == 0, first
    assert (tmp_path / "c" / "MANIFEST.json").is_file()
    checked = run("audit", "verify", "--bundle", str(tmp_path / "c"), "--trusted-key", public_key())
    assert checked.returncode == 0 and "bundle verified" in checked.stdout, checked
