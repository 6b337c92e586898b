# Two commands do all set-up on a fresh machine:
#   make run   installs the dependencies and runs the dashboard on the demo database
#   make test  installs the dependencies (and headless Chromium) and runs the tests
# Dependencies install from the hash-locked requirements.lock (runtime) and
# requirements-dev.lock (runtime + tests), generated from requirements.txt and
# requirements-dev.txt by `make lock`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
PYTEST_ARGS ?=
# The lock tool: only `make lock` installs and runs it (not a dependency of the app).
LOCK_TOOL := uv==0.13.8
# Locks hold every file hash of each pinned version, with markers for Python 3.11+ on any
# platform. Existing pins are kept unless requirements*.txt needs another version;
# `make lock UPGRADE=1` moves every pin to the newest version the ranges allow.
LOCK := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)

.PHONY: run api test test-pg system-deps seed bench lint lock gateway

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime: requirements.lock | $(PY)
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock | $(PY)
	$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	touch $@

# The LiteLLM proxy and the plugin (kilo_litellm/) have a virtualenv of their own: LiteLLM
# is a test and gateway dependency, not one of the dashboard (requirements-litellm.txt).
LITELLM_VENV := .venv-litellm
$(LITELLM_VENV)/.installed: requirements-litellm.lock
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(LITELLM_VENV)/bin/python -m pip install -q --require-hashes -r requirements-litellm.lock
	touch $@

$(VENV)/bin/uv: | $(PY)
	$(PY) -m pip install -q "$(LOCK_TOOL)"

# Regenerate both locks after editing requirements.txt or requirements-dev.txt (commit all
# four files). The dev lock is constrained by the runtime lock, so both pin the same versions.
lock: $(VENV)/bin/uv
	$(LOCK) requirements.txt -o requirements.lock
	$(LOCK) requirements-dev.txt --constraint requirements.lock -o requirements-dev.lock
	$(LOCK) requirements-litellm.txt -o requirements-litellm.lock

run: $(VENV)/.runtime
	$(PY) -m streamlit run server.py --server.port $(PORT)

# The HTTP API alone, in a process of its own (README, "HTTP API"), on the same database.
API_PORT ?= 8502
api: $(VENV)/.runtime
	$(PY) -m api --port $(API_PORT)

# The LiteLLM proxy with the plugin (README, "Connect a gateway"): set KILO_DASHBOARD_URL,
# KILO_GATEWAY_TOKEN, LITELLM_MASTER_KEY and your providers' keys; GATEWAY_CONFIG is the
# proxy's config (a copy of kilo_litellm/litellm.example.yaml with your models).
GATEWAY_CONFIG ?= kilo_litellm/litellm.example.yaml
GATEWAY_PORT ?= 4000
gateway: $(LITELLM_VENV)/.installed
	PYTHONPATH=$(CURDIR) LITELLM_LOCAL_MODEL_COST_MAP=True \
	  $(LITELLM_VENV)/bin/litellm --config $(GATEWAY_CONFIG) --port $(GATEWAY_PORT)

# Debian packages the tests need: Chromium for the browser tests, DejaVu for PDF checks,
# poppler-utils (pdftotext) to read generated invoices.
system-deps:
	@command -v chromium >/dev/null && command -v pdftotext >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium fonts-liberation fonts-dejavu-core poppler-utils >/dev/null; }

test: $(VENV)/.dev $(LITELLM_VENV)/.installed system-deps
	$(PY) -m pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS)

# The same suite on PostgreSQL (needs a server; .ci/run starts one).
test-pg: $(VENV)/.dev $(LITELLM_VENV)/.installed
	KILO_TEST_DATABASE_URL=$${KILO_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	  $(PY) -m pytest -n 2 -q -m "not e2e" $(PYTEST_ARGS)

seed: $(VENV)/.runtime
	$(PY) -m kilo seed --reset

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
