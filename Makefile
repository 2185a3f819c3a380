# Charter: `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup demo test lint typecheck unit bench clean

# Idempotent: re-installs only when pyproject.toml changed.
setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[dev,langchain,openai-agents]'
	@touch $(STAMP)
	@echo "setup: charter installed in $(VENV) ($$($(BIN)/charter version))"

demo: setup
	@bash examples/demo/run.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy src

unit: setup
	$(BIN)/pytest -q -n auto --durations=15

test: lint typecheck unit

bench: setup
	$(BIN)/python bench/registry.py
	$(BIN)/python bench/tokens.py

clean:
	rm -rf $(VENV) .charter .pytest_cache .mypy_cache .ruff_cache
