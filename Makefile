# Two entry points for a fresh machine (see README): `make demo` runs the main job, `make test` runs the suite.
# Every target creates the virtual environment it needs on first use; every pip call uses constraints.txt.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RAY_AUTH_MODE := disabled
export TOKENIZERS_PARALLELISM := false

.PHONY: venv demo test lint bench-ingest bench-redaction bench-cycle freeze clean clean-all \
	labelstudio-install labelstudio-start labelstudio-stop labelstudio-status chromium-install \
	postgres-install postgres-start postgres-stop postgres-status ray-cluster-start ray-cluster-stop

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: venv
	$(VENV)/bin/labelloop demo

lint: venv
	$(VENV)/bin/ruff check .

# The Label Studio server lives in its own venv (.venvs/labelstudio, pinned by connectors/labelstudio/
# server-constraints.txt); installed here as its own step so its time shows apart, and on first use otherwise.
labelstudio-install: venv
	$(PY) -m labelloop.connectors.labelstudio.server install

labelstudio-start: venv
	$(PY) -m labelloop.connectors.labelstudio.server start

labelstudio-stop: venv
	$(PY) -m labelloop.connectors.labelstudio.server stop

labelstudio-status: venv
	$(PY) -m labelloop.connectors.labelstudio.server status

# Debian's Chromium renders the HTML report in its test (headless, no network); installed with apt-get if missing.
chromium-install:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)

# PostgreSQL (the store's team backend) for the store tests' second leg: installed with apt-get if missing, run as
# an unprivileged user on 127.0.0.1 (scripts/postgres.sh). `make test` requires it: the leg fails instead of skipping.
postgres-install:
	bash scripts/postgres.sh install

postgres-start:
	bash scripts/postgres.sh start

postgres-stop:
	bash scripts/postgres.sh stop

postgres-status:
	bash scripts/postgres.sh status

# A two-node local Ray cluster (head + one worker node) reached at ray://127.0.0.1:PORT (scripts/ray_cluster.sh).
ray-cluster-start: venv
	bash scripts/ray_cluster.sh start

ray-cluster-stop: venv
	bash scripts/ray_cluster.sh stop

test: venv lint labelstudio-install postgres-install chromium-install
	LABELLOOP_REQUIRE_POSTGRES=1 $(PY) -m pytest

bench-ingest: venv
	$(PY) scripts/bench_ingest.py

bench-redaction: venv
	$(PY) scripts/bench_redaction.py

# The nightly cycle over 20,000 items through a real Label Studio, and its fault cases (bench/cycle.json|md).
bench-cycle: venv labelstudio-install
	nice -n 5 $(PY) scripts/bench_cycle.py

freeze: venv
	$(PIP) freeze --exclude-editable

clean:
	rm -rf $(VENV) .labelloop .pytest_cache .ruff_cache

clean-all: clean
	rm -rf .venvs
