# Scoreline developer commands. `make setup pipeline` sets up and runs the main job;
# `make test` runs the tests. Every target uses the project's own .venv.
SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3.11
QUIET  := 2>&1 | { grep -v "is ignored" || true; }
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.scoreline-installed

.PHONY: setup pipeline ingest test test-deps check lint typecheck security audit lab ui lock clean-venv

setup: $(STAMP)

# Re-runs only when the lock or the package metadata change.
# pip 23 (Python 3.11.7's bundled one) crashes resolving this lock: phase 2 uses a pinned newer pip.
# Each phase says what it does and how long it took (a fresh install is ~3 minutes, mostly phase 2).
PHASE = @echo "[setup $(1)/5] $(2) ... " && SECONDS=0 &&
DONE  = && echo "[setup $(1)/5] done in $${SECONDS} s"
$(STAMP): requirements.lock pyproject.toml
	$(call PHASE,1,virtual environment $(VENV)) $(PYTHON) -m venv $(VENV) $(call DONE,1)
	$(call PHASE,2,packages of requirements.lock (about 2.4 GB; pip's cache makes a rerun quick)) \
	  $(BIN)/python -m pip install --quiet pip==26.3 $(QUIET) && \
	  $(BIN)/python -m pip install --quiet -r requirements.lock $(QUIET) $(call DONE,2)
	$(call PHASE,3,scoreline itself (editable)) $(BIN)/python -m pip install --quiet --no-deps -e . $(QUIET) $(call DONE,3)
	$(call PHASE,4,pip check) $(BIN)/python -m pip check $(call DONE,4)
	$(call PHASE,5,the 'scoreline' Jupyter kernel) \
	  $(BIN)/python -m ipykernel install --prefix $(VENV) --name scoreline --display-name "Scoreline (.venv)" > /dev/null $(call DONE,5)
	@touch $@
	@echo "setup done: $(VENV) with the 'scoreline' Jupyter kernel"

# The main job: the weekly_training pipeline (ingest -> features -> train -> backtest) for the
# Premier League, every step a papermill-executed notebook tracked in MLflow.
# It ends by saying what it decided (champion before -> after, scores next to the market) and
# where to look (the executed notebooks, the MLflow run page).
pipeline: setup
	$(BIN)/scoreline pipeline run weekly_training

ingest: setup
	$(BIN)/scoreline ingest

test: setup test-deps
	$(BIN)/python -m pytest -n auto --dist loadfile

# Debian packages the tests drive: Chromium (the match-centre page in a headless browser), the
# PostgreSQL server (team mode), Redis (the live event bus in team mode; the tests start and stop
# their own throwaway servers) and Prometheus's promtool (the alert rules' unit tests).
SYSTEM_PACKAGES := chromium postgresql redis-server prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
test-deps:
	@if ! command -v chromium > /dev/null || ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 \
	    || ! command -v redis-server > /dev/null || ! command -v promtool > /dev/null; then \
	    echo "installing Debian packages: $(SYSTEM_PACKAGES)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) > /dev/null \
	    || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) > /dev/null; }; \
	fi

# The habits CI keeps: lint and formatting, types, a security scan of the code and of the lock.
check: lint typecheck security audit

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

security: setup
	$(BIN)/bandit -q -r src

# pip-audit asks PyPI's JSON API (per release) for known vulnerabilities of every pinned package. Where that
# service is not reachable (a machine that only sees a package mirror), it says so and skips.
AUDIT_PROBE := https://pypi.org/pypi/requests/2.34.2/json
audit: setup
	@if $(BIN)/python -c "import sys, urllib.request; urllib.request.urlopen('$(AUDIT_PROBE)', timeout=10); sys.exit(0)" 2> /dev/null; then \
	    $(BIN)/pip-audit --strict --progress-spinner off --no-deps --disable-pip -r requirements.lock; \
	else \
	    echo "audit skipped: pip-audit's vulnerability source ($(AUDIT_PROBE)) is not reachable from this machine"; \
	fi

LAB_PORT ?= 8888
# JupyterLab rooted at the workspace, so reports/ (the executed notebooks) is reachable beside
# notebooks/; it opens on notebooks/.
lab: setup
	$(BIN)/jupyter lab --ip 127.0.0.1 --port $(LAB_PORT) --no-browser --allow-root --ServerApp.root_dir=$(CURDIR) \
	  --LabApp.default_url=/lab/tree/notebooks

ui: setup
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri sqlite:///registry/mlflow.db

# Regenerate requirements.lock from pyproject.toml's top-level pins in a throw-away venv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet ".[test,dev]" $(QUIET)
	.lock-venv/bin/pip check
	{ head -2 requirements.lock; .lock-venv/bin/pip freeze --exclude scoreline; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

clean-venv:
	rm -rf $(VENV)

.PHONY: serve bento
PORT ?= 3000

# The prediction service on http://127.0.0.1:$(PORT): exports each competition's champion from
# the MLflow registry into the BentoML store (.bentoml/), then `bentoml serve` (one worker per core unless WORKERS=).
serve: setup
	$(BIN)/scoreline serve --port $(PORT) $(if $(WORKERS),--workers $(WORKERS))

# A bento of the service carrying the champions' model files (`bentoml build`, offline); run it
# with `bentoml serve scoreline:latest` or turn it into an image with `bentoml containerize`.
bento: setup
	$(BIN)/scoreline package --build
