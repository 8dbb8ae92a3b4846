"""`python -m verifier --bundle DIR --against FILE… --log-key VKEY [--json]` (or `--database FILE.sqlite`).

Exit 0: every row and every trusted checkpoint verified; 1: something failed (named); 2: bad input (a file that
cannot be read, a malformed key or checkpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from verifier.bundle_since import verify_bundle_since
from verifier.check import render, verify_bundle, verify_database
from verifier.rows import BadInput
from verifier.trusted import Source


def _key(value: str) -> str:
    """A key given inline, or a file that holds it."""
    path = Path(value)
    try:
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    except OSError:
        pass
    return value


def _source(path: str) -> Source:
    try:
        return Source(path, Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: cannot be read ({getattr(e, 'strerror', None) or e})") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verifier", description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--bundle", metavar="DIR", help="an `arrimage audit export` bundle (its record.jsonl)")
    where.add_argument("--database", metavar="FILE", help="a SQLite copy of the record (stored_events, audit_chain)")
    parser.add_argument("--against", metavar="FILE", nargs="+", action="extend", default=[],
                        help="trusted checkpoints: C2SP notes (.note) or the engine's JSON checkpoints")
    parser.add_argument("--log-key", metavar="VKEY", action="append", default=[],
                        help="the log's verifier key <name>+<key ID>+<base64> (or a file holding it; or the base64 "
                             "Ed25519 public key of JSON checkpoints); repeatable")
    parser.add_argument("--text-ids", action="store_true", help="the database keeps originator ids as text")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="processes checking segments of a database copy (default: the cores, at most 4); a bundle "
                             "is read by one process")
    parser.add_argument("--since", metavar="NOTE", default=None,
                        help="a checkpoint note you verified before: check only the events after its size, of a "
                             "bundle or a database copy (verifier/README.md §7)")
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    args = parser.parse_args(argv)
    try:
        against = [_source(p) for p in args.against]
        keys = [_key(k) for k in args.log_key]
        if args.jobs is not None and args.jobs < 1:
            raise BadInput("--jobs takes a whole number of at least 1")
        if args.bundle is not None:
            if args.since is not None:
                report = verify_bundle_since(args.bundle, against, keys, _source(args.since))
            else:
                report = verify_bundle(args.bundle, against, keys)
            what = str(Path(args.bundle) / "record.jsonl")
        else:
            since = _source(args.since) if args.since is not None else None
            report = verify_database(args.database, against, keys, text_ids=args.text_ids, jobs=args.jobs,
                                     since=since)
            what = args.database
    except BadInput as e:
        print(f"bad input: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print("\n".join(render(report, what)))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
