# IdentityHub: `make run` serves the app, `make test` runs every test. See README.md.
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: run test lint bench bench-reader bench-delta bench-scale lab-deps browser-deps clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	bin/run

# Lint, migrations in step with the models, then the whole suite (it starts its own directory servers).
test: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.dev bench-reader
	$(PY) bench/scan_bench.py $(BENCH_ARGS)
	$(PY) bench/export_bench.py $(EXPORT_BENCH_ARGS)

# The export readers' time and peak memory: 10 MB and 100 MB ldifde files, a hostile 10 MB DN.
bench-reader: $(VENV)/.dev
	$(PY) bench/reader_bench.py $(READER_BENCH_ARGS)

# A large forest scanned twice into PostgreSQL, then its pages under load (issue 18); see the file's docstring.
bench-scale: $(VENV)/.dev
	$(PY) bench/scale_bench.py $(BENCH_SCALE_ARGS)

# A full scan against a delta after 100 changes, on a real Samba AD DC (root, like the tests' lab).
bench-delta: $(VENV)/.dev
	$(PY) bench/delta_bench.py $(DELTA_BENCH_ARGS)

# Debian packages the tests use: Samba AD DC and slapd for the directory lab, Chromium for pages,
# docker-compose to validate docker-compose.yml. Needs root; starts no system daemon.
lab-deps:
	bin/install-test-deps

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
