# Charter: `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup demo test lint typecheck unit bench bench-compare mutate clean

# Idempotent: re-installs only when pyproject.toml changed.
setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[dev,aws,langchain,openai-agents,otel]'
	@touch $(STAMP)
	@echo "setup: charter installed in $(VENV) ($$($(BIN)/charter version))"

demo: setup
	@bash examples/demo/run.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy src

# Test processes: -n auto is one per core; worksteal lets an idle one take tests queued
# on another (with the default scheduling one sat idle for the last 20-odd minutes of a
# loaded run while the other worked through its queue). TESTS narrows the run:
# make test TESTS=tests/unit TEST_WORKERS=3
# Two test processes per core: many tests wait on servers and subprocesses, so a core is
# rarely busy with one (on 2 cores, 4 processes: 10.8 min under load against 14.5 with 2).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))
TESTS ?=

unit: setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15 $(TESTS)

# lint and typecheck run beside the tests (they share no state); their output is
# printed after the tests', and any of the three failing fails `make test`.
test: setup
	@checks=$$(mktemp); \
	( $(MAKE) --no-print-directory lint typecheck > $$checks 2>&1 ) & pid=$$!; \
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15 $(TESTS); tests=$$?; \
	wait $$pid; static=$$?; cat $$checks; rm -f $$checks; \
	echo "make test: pytest exit $$tests, lint and typecheck exit $$static"; \
	test $$tests -eq 0 -a $$static -eq 0

bench: setup
	$(BIN)/python bench/registry.py
	$(BIN)/python bench/tokens.py

# Every benchmark on two commits, alternating rounds, a table per figure (docs/benchmarks.md).
# About 15 minutes; ARGS=--quick for about 5. Example: make bench-compare BASE=730e18a
HEAD ?= HEAD
ARGS ?=
bench-compare: setup
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<commit> [HEAD=<commit>] [ARGS=--quick]"; exit 2; }
	$(BIN)/python bench/compare_commits.py --base '$(BASE)' --head '$(HEAD)' $(ARGS)

# Mutation testing of the security-critical modules ([tool.mutmut] in pyproject.toml,
# docs/mutation-testing.md). Minutes, not seconds, so not part of `make test`.
# Incremental: only mutants of changed functions are re-run. Narrow it with
# MUTANTS='charter.domain.tokens.dpop*'; MUTANTS=survivors re-runs every mutant not yet
# killed (after adding tests); MUTATE_JOBS sets the worker count.
MUTANTS ?=
MUTATE_JOBS ?= 2
ifeq ($(MUTANTS),survivors)
MUTANT_ARGS = $(shell $(BIN)/python tests/mutation/report.py --names)
else
MUTANT_ARGS = $(foreach m,$(MUTANTS),'$(m)')
endif
mutate: setup
	$(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(MUTANT_ARGS)
	$(BIN)/python tests/mutation/report.py

clean:
	rm -rf $(VENV) .charter .pytest_cache .mypy_cache .ruff_cache mutants
