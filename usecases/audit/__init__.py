"""The audit use cases.

- ``trail``: verify the hash chain, sign a checkpoint, shred a person's key (erasure).
- ``replays``: replay an entente, case or consent as of a moment, and list who read what.
"""
