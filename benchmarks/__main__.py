"""`python -m benchmarks`: the store benchmark, then the workflow benchmark, default parameters."""

from __future__ import annotations

import sys

from benchmarks import store, workflows


def main() -> int:
    return store.main([]) or workflows.main([])


if __name__ == "__main__":
    sys.exit(main())
