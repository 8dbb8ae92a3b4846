"""Adapters: the outside world behind the domain's and the use cases' backs.

- ``record/``: the legal record's infrastructure (event store, chaining, per-person sealing, keys, signing).
- ``standards_file``: a region's access standards read from a TOML or JSON file.
"""
