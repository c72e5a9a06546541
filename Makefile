# CR Tracker: the commands a fresh machine needs (only python3 3.11+ is required).
#
#   make run     create .venv, install, migrate, load demo data, start web, a worker per queue, scheduler
#   make test    the whole suite on SQLite and PostgreSQL (needs PostgreSQL and Redis on 127.0.0.1)
#   make lint    ruff
#   make bench   the ticket and monitoring benchmarks (bench/README.md)
#   make clean   remove the venv and caches (instance/, your local database, is kept)
#
# Variables: PYTHON (interpreter that creates the venv, default python3), PORT (make run,
# default 5000), PYTEST_ARGS (extra pytest arguments), TEST_WORKERS (pytest-xdist, default 2).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
TEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: run test lint bench clean install test-system-deps

run: $(STAMP)
	$(PY) -m workers.devstack

install: $(STAMP)

# The venv; fails with one line when python3 is missing or too old.
$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found: install Python 3.11 or newer"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "make: CR Tracker needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1). Use PYTHON=python3.12 make …"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { echo "make: could not create $(VENV) (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }

# Re-install only when the dependency list changed since the last install.
$(STAMP): setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

test: $(STAMP) test-system-deps
	@$(PY) -c "$$SERVICES_CHECK"
	PYTHONHASHSEED=0 $(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# PYTHONHASHSEED=0: pytest-xdist requires every worker to collect the same test ids in the same
# order, and parameters built from sets would otherwise differ between worker processes.

# The suite needs Redis, and PostgreSQL unless CRM_TEST_DATABASES=sqlite: say so in one line.
define SERVICES_CHECK
import os, socket, sys
need = [("Redis", 6379)]
if "postgresql" in os.environ.get("CRM_TEST_DATABASES", "sqlite,postgresql"):
    need.append(("PostgreSQL", 5432))
for name, port in need:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        sys.exit(f"make test: {name} is not running on 127.0.0.1:{port}; start it "
                 "(.ci/run does, see the README) or run CRM_TEST_DATABASES=sqlite make test")
endef
export SERVICES_CHECK

# System packages the suite uses: Debian's chromium (browser tests), wkhtmltopdf (PDF health
# reports) and poppler-utils (pdftotext reads the PDFs back). Installed when missing and we can
# (root + apt-get); otherwise say which are missing (their tests then fail or skip and say so).
SYSTEM_TEST_DEPS := /usr/bin/chromium:chromium /usr/bin/wkhtmltopdf:wkhtmltopdf /usr/bin/pdftotext:poppler-utils

test-system-deps:
	@missing=""; for dep in $(SYSTEM_TEST_DEPS); do \
		[ -x "$${dep%%:*}" ] || missing="$$missing $${dep##*:}"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing$$missing for the tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "make: missing system packages:$$missing (not root: apt-get install$$missing)"; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check .

# The ticket benchmark drives gunicorn with wrk (Debian package), installed here when missing.
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; } || \
		echo "make: wrk not found (apt-get install wrk); bench/tickets.py falls back to hey"
	$(PY) bench/tickets.py
	$(PY) bench/monitors.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
