# One-command entry points (see README): `make run` and `make test` each do all set-up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install data run test sync-check nbtest pytest bench clean-runs

$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

data: install
	$(BIN)/uda_fetch_data

run: data
	$(BIN)/uda_reproduce --preset quick

# library and notebooks in sync and clean, lessons in fast mode, then the pytest suite
test: data sync-check nbtest pytest

sync-check: install
	PATH=$(BIN):$$PATH bash .ci/check-sync

nbtest: install
	$(BIN)/nbdev_test --n_workers 2 --timing

pytest: install
	$(BIN)/python -m pytest -q tests

bench: install
	$(BIN)/python bench/bench_augment.py
