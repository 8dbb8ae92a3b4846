"""`python -m benchmarks`: every benchmark in one table, as `make bench` (`benchmarks.summary`; `--quick`, `--only`,
`--markdown FILE`). One benchmark alone: `python -m benchmarks.store` and so on."""

from __future__ import annotations

import sys

from benchmarks import summary

if __name__ == "__main__":
    sys.exit(summary.main())
