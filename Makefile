# The README's first two commands: `make demo` and `make test`.
PY ?= python3

.PHONY: setup demo test test-fast bench

setup:
	bash scripts/setup.sh

demo: setup
	$(PY) -m rldistill demo --out runs/demo

test: setup
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: setup
	$(PY) scripts/bench_verifiers.py
