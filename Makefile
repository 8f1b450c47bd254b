# The two commands of the README: `make demo` and `make test`. Each sets up everything it needs first.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.voxpop-installed

.PHONY: demo test quick-test docs

# A virtual environment with the CPU build of torch 2.13.0 (installed first, so nothing pulls a CUDA
# build), voxpop in editable mode and its test / export extras. Redone when pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install torch==2.13.0 -e ".[dev]"
	touch $@

demo: $(STAMP)
	$(BIN)/voxpop demo

# The suite runs in PYTEST_WORKERS processes (pytest-xdist; 2 by default, the machine the README times it on):
# `make test PYTEST_WORKERS=1` runs it in one. worksteal: a worker done with its share takes tests from the other,
# so one long docs page at the end does not leave a core idle.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist worksteal

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks conftest.py
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

quick-test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow"

# The documentation site (guide + API reference from the docstrings) into site/, in strict mode: any warning fails.
# NO_MKDOCS_2_WARNING silences mkdocs-material's banner about its own end of life (a notice, not a build problem).
docs: $(STAMP)
	$(BIN)/python docs/api_pages.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
