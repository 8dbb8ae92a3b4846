"""The audit trail's pure parts: what is chained, how it is checked, what a reader sees.

`hashing` (the canonical bytes and the three SHA-256 links), `verify` (the check over two
streams of rows, first problem named; no clock, no store), `replay` (an aggregate laid out
item by item for one reader), `checkpoint` (the content of a signed chain head; signing is
``adapters.record.signing``), `erasure`, `entente_reads` and `record_reads` (aggregates: the act of
erasure, the reads of an entente, the reads across persons; their stored topics must not move), `reads`
(what a read outside a replay asks for, and who reads across persons), `merkle` (the RFC 9162 tree: roots,
inclusion and consistency proofs, the compact range a follower keeps; issue 13). Reading the store and signing are
``adapters.record``; the use cases are ``usecases.audit``.
"""
