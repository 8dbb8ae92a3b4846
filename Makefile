# `make bench`: every benchmark in one table (figure, goal, baseline measured in the same run, ratio, met?),
# headed by the date, the machine and the load average (benchmarks/summary.py; about 15 min on 2 cores).
# `make bench-quick`: the same with smaller parameters (about 3 min). BENCH_ARGS adds options, e.g.
# `make bench BENCH_ARGS="--only store,verify --markdown bench.md"`. The venv is the README's (.venv).

PYTHON ?= .venv/bin/python
BENCH_ARGS ?=

.PHONY: bench bench-quick

bench:
	$(PYTHON) -m benchmarks.summary $(BENCH_ARGS)

bench-quick:
	$(PYTHON) -m benchmarks.summary --quick $(BENCH_ARGS)
