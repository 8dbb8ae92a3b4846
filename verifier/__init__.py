"""The offline verifier of an arrimage record (issue 13): anyone can run it, with nothing of the engine.

Given an export bundle (`record.jsonl`, written by `arrimage audit export`) or a SQLite copy of the record, and the
checkpoints the auditor trusts (C2SP checkpoint notes signed by the log's key, or the engine's JSON checkpoints),
it recomputes every event, aggregate and chain hash, builds the RFC 9162 Merkle tree over the events, and checks
each checkpoint against it; it names the first event that fails, or where a change lies. `python -m verifier`
is its command; `verifier/README.md` the format and every formula, for an auditor who writes their own.

It loads only the standard library, `cryptography` (Ed25519) and the pure modules of `domain.audit` (hashing,
merkle, note, checkpoint): no Temporal, no eventsourcing, no driver, no pydantic (import-linter contract
`verifier-standalone`, and tests/unit/test_verifier_imports.py at run time).
"""

from verifier.check import (
    CheckpointResult,
    Kind,
    Problem,
    Report,
    check_rows,
    render,
    verify_bundle,
    verify_database,
)
from verifier.rows import BadInput, Row, bundle_rows, database_rows
from verifier.trusted import Source

__all__ = ["BadInput", "CheckpointResult", "Kind", "Problem", "Report", "Row", "Source", "bundle_rows",
           "check_rows", "database_rows", "render", "verify_bundle", "verify_database"]
