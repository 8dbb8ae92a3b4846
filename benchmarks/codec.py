"""`python -m benchmarks.codec`: what sealing a crisis case's Temporal payloads with its person's key costs.

Figures, not a test. The same payloads (a 1 KB JSON, the size of a case command with its `personal` part)
encoded then decoded one batch of one payload at a time, as the SDK calls the codec for an update or an
activity input, by the codec bound to:

- an entente workflow: the shared ring, its derived key cached per workflow (`_shared_derived`); its id names no
  person, which the codec knows from the id alone (`CaseKeys.may_name_a_person`);
- a crisis case workflow: the person's key from the record's key store (SQLite; the row kept in memory at most
  `adapters.record.sql.KEY_ROW_SECONDS` after it is read, a shred waiting that out; unwrapped with the KEK) and
  derived for the workflow on every batch. In this loop the row is read from the store once a second.

Prints µs per payload (median of `--rounds`) and the case ÷ entente ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

from adapters.record.keys import DEV_PAYLOAD_KEYS
from adapters.record.record import Record
from adapters.temporal.case_keys import RecordCaseKeys, case_subjects
from adapters.temporal.codec import EncryptionCodec
from benchmarks import summary
from benchmarks.common import print_header, print_table
from workflows.crisis import workflow_id

BODY = json.dumps({"type": "decline", "reason": "x" * 700, "personal": {"notes": "y" * 200}}).encode()


async def per_payload(codec: EncryptionCodec, wf_id: str, n: int) -> float:
    bound = codec.with_context(WorkflowSerializationContext("default", wf_id))
    payload = Payload(metadata={"encoding": b"json/plain"}, data=BODY)
    started = time.perf_counter()
    for _ in range(n):
        (sealed,) = await bound.encode([payload])
        (opened,) = await bound.decode([sealed])
    assert opened.data == BODY
    return (time.perf_counter() - started) / n * 1e6


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.codec")
    parser.add_argument("--payloads", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    summary.option(parser)
    args = parser.parse_args(argv)
    print_header("Temporal payload codec: a case's payloads under its person's key",
                 [f"{args.payloads:,} payloads of {len(BODY):,} bytes, encode + decode, one per batch; "
                  f"median of {args.rounds} rounds; record: SQLite"])
    with tempfile.TemporaryDirectory() as tmp:
        record = Record({"PERSISTENCE_MODULE": "adapters.record.sqlite",
                         "SQLITE_DBNAME": str(Path(tmp) / "record.sqlite")})
        try:
            case_subjects(record).bind("C-BENCHMARK2", "p-bench")
            codec = EncryptionCodec(DEV_PAYLOAD_KEYS, cases=lambda: RecordCaseKeys.of(record))
            entente, case = [], []
            for _ in range(args.rounds):
                entente.append(asyncio.run(per_payload(codec, "entente-ENT-BENCH", args.payloads)))
                case.append(asyncio.run(per_payload(codec, workflow_id("C-BENCHMARK2"), args.payloads)))
        finally:
            record.close()
    e, c = statistics.median(entente), statistics.median(case)
    print_table(["workflow", "key", "µs / payload (encode + decode)", "payloads/s"], [
        ["entente-ENT-BENCH", "shared ring, derived per workflow", f"{e:,.0f}", f"{1e6 / e:,.0f}"],
        ["case-C-BENCHMARK2", "the person's key, from the record", f"{c:,.0f}", f"{1e6 / c:,.0f}"],
    ])
    print(f"ratio case ÷ entente: {c / e:.1f}")
    summary.add(summary.Row("codec", "a case's payload under its person's key, encode + decode", c, "µs", e,
                            "entente: shared ring", "value/baseline", "case ÷ entente"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
