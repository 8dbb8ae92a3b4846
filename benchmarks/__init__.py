"""Benchmarks: scripts that print figures. Never tests, never timing assertions.

    .venv/bin/python -m benchmarks.store       # events appended per second (SQLite, PostgreSQL)
    .venv/bin/python -m benchmarks.workflows   # entente workflows per second vs a bare workflow
    .venv/bin/python -m benchmarks             # both
"""
