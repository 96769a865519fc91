# One command for every routine job. `make run` and `make test` set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: setup run test test-fast lint format bench bench-quick browser clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	# The extended real data (signal-lab[data]): only the wheels' data files are needed.
	$(PY) -m pip install --quiet --no-deps pmdarima==2.1.1 arch==8.0.0 skfolio==1.12.2
	# Compile the sweep's numba kernel once into its cache (core/analytics/__pycache__).
	$(PY) -m core.analytics.kernels
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the project with its dev tools

run: setup ## set up, then serve the dashboard on http://localhost:$(PORT)
	@# the sweep's kernel: loaded from its cache, or compiled once after an update
	$(PY) -m core.analytics.kernels
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

browser: ## make sure Debian's chromium is installed (browser tests need it)
	@bash scripts/ensure-chromium.sh

test: setup browser ## set up, then run the whole test suite (browser tests included)
	$(PY) -m pytest -q

test-fast: setup ## the suite without browser journeys
	$(PY) -m pytest -q -m "not browser"

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: setup ## benchmarks, one JSON object per line (installs the bench extra: polars, duckdb, psutil)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) bench/run.py

bench-quick: setup
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) bench/run.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/screenshots
