# ChargeKit bootstrap: `make test` on a machine that has only Python >= 3.11 and make.

PYTHON ?= python3
PYTEST_ARGS ?=
VENV := .venv
BIN := $(VENV)/bin
# The stamp makes the venv rebuild only when pyproject.toml (the dependency list) changes.
STAMP := $(VENV)/.installed
# mpy-check treats a missing folder as an error; pass only the device folders that exist.
MPY_DIRS := $(wildcard protocol firmware boards)

.DEFAULT_GOAL := help
.PHONY: help venv lint mpy-check test demo format clean

help:
	@echo "make venv       create .venv with $(PYTHON) (>= 3.11) and install '.[dev]'"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make mpy-check  compile the device code ($(MPY_DIRS)) with mpy-cross"
	@echo "make demo       central + two simulated stations: tap, charge, stop (Ctrl-C ends it)"
	@echo "make test       lint, mpy-check, then pytest (PYTEST_ARGS='...' to pass options)"
	@echo "make format     ruff format and ruff check --fix"
	@echo "make clean      remove .venv, caches and build output"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { \
		echo "error: '$(PYTHON)' not found; install Python >= 3.11 or pass PYTHON=..." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "error: ChargeKit needs Python >= 3.11 but '$(PYTHON)' is $$($(PYTHON) -V 2>&1);" \
			"pass e.g. PYTHON=python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: venv
	$(BIN)/chargekit demo $(DEMO_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

mpy-check: venv
	$(BIN)/chargekit mpy-check $(MPY_DIRS)

# Prerequisites run left to right: cheap static checks fail fast before the suite.
# pytest's exit code 5 (nothing collected) stays a failure on purpose.
test: venv lint mpy-check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist stage *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name '*.mpy' -type f -delete
