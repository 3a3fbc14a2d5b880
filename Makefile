# Two commands on a fresh machine: `make run` and `make test`.
# Everything they need is installed from here; no step needs standard input.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Test processes: one per core, at most 4 (each may run Chromium, a Celery worker and a small
# training run at once). TEST_WORKERS=0 runs the suite in this one process, as it does with your
# own REDIS_URL: parallel processes would share its database and take each other's tasks.
TEST_WORKERS ?= $(if $(REDIS_URL),0,$(shell $(PYTHON) -c "import os; n = len(os.sched_getaffinity(0)) \
	if hasattr(os, 'sched_getaffinity') else os.cpu_count(); print(min(4, n or 1))"))

.PHONY: install run scoring-worker test lint fmt demo browser clean-data help

help:
	@echo "make run    - install, start embedded PostgreSQL + Redis, load the demo, run web + worker + beat"
	@echo "make scoring-worker - one more scoring worker for a running make run (ARGS='--device cuda')"
	@echo "make test   - lint, then the whole test suite on real PostgreSQL and Redis"
	@echo "make lint   - ruff"
	@echo "make demo   - (re)load the demo campaign only"

$(STAMP): pyproject.toml .ci/constraints.txt .ci/backbone-requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
		print('\n'.join(p['dependencies'] + p['optional-dependencies']['dev']))" > $(VENV)/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check \
		-c .ci/constraints.txt -r $(VENV)/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
		-r .ci/backbone-requirements.txt
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the Playwright browser tests; Playwright's own browser
# download cannot work offline, so we drive the system one.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian chromium for browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "WARNING: could not install chromium; browser tests will fail"; }

run: install
	$(PY) -m annotate.devrun

# In a second terminal while `make run` runs: the score stage's chunks then split between the workers.
ARGS ?=
scoring-worker: install
	$(PY) -m annotate.devrun scoring-worker $(ARGS)

demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo

lint: install
	$(PY) -m ruff check .

fmt: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

test: install browser lint
	DJANGO_ENV=test $(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

clean-data:
	$(PY) -m annotate.embedded stop || true
	rm -rf .var
