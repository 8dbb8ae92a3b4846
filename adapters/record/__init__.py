"""The legal record's infrastructure: the `Record` application over one event store, and what it is made of.

- `record`: the eventsourcing application (`Record`), the topics of moved modules, `events_of`;
- `sqlite`, `postgres`, `popo`: one persistence module per store (``PERSISTENCE_MODULE``), each a
  ``Factory`` giving the chaining recorder, the subject-key store and the audit reader;
- `sql`: what the two SQL stores share (the audit tables, written once over a dialect);
- `sealing` (per-person AES-GCM), `keys` (key rings), `signing` (Ed25519 checkpoints),
  `group_commit` (concurrent saves share a transaction), `environment` (the one env builder).
"""
