"""The heart of arrimage: aggregates, their events, value objects and the rules. Pure.

- ``values``, ``errors``: the value types every boundary parses into; domain refusals.
- ``clock``: calendar arithmetic in Québec time (never the wall clock: callers pass `now`).
- ``ententes``: the entente aggregate, its content model, commands, rules, views, version diff.
- ``crisis``: the crisis case aggregate, commands, rules, views, routing to mobile teams, and what a
  handoff may send of the intake.
- ``disclosure``: consents, the legal bases' allow-list, the pure decision, the person's register,
  the auditor's exception report.
- ``standards``: the ministry's access standards as a configuration model; compliance figures.
- ``audit``: the chain's hashes and its verification over rows, replays laid out per reader,
  the checkpoint's content, and the erasure and entente-read aggregates.

Nothing here imports Temporal, a database driver, threads, cryptography or a file reader, nor reads
a clock; time is the event's or the caller's `now`. The use cases that load, call and save are
``usecases``; the record's infrastructure (store, chaining, sealing, keys, signing) is ``adapters``.
"""
