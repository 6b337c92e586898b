# Two commands do all set-up on a fresh machine:
#   make run   installs the dependencies and runs the dashboard on the demo database
#   make test  installs the dependencies (and headless Chromium) and runs the tests
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: run test test-pg system-deps seed bench lint

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py --server.port $(PORT)

# Debian packages the tests need: Chromium for the browser tests, DejaVu for PDF checks,
# poppler-utils (pdftotext) to read generated invoices.
system-deps:
	@command -v chromium >/dev/null && command -v pdftotext >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium fonts-liberation fonts-dejavu-core poppler-utils >/dev/null; }

test: $(VENV)/.dev system-deps
	$(PY) -m pytest -n 2 -q $(PYTEST_ARGS)

# The same suite on PostgreSQL (needs a server; .ci/run starts one).
test-pg: $(VENV)/.dev
	KILO_TEST_DATABASE_URL=$${KILO_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	  $(PY) -m pytest -n 2 -q -m "not e2e" $(PYTEST_ARGS)

seed: $(VENV)/.runtime
	$(PY) -m kilo seed --reset

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
