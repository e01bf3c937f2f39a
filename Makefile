# The two commands: `make demo` and `make test`. Each sets up everything it needs on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck layers pytest bench clean

# Re-install whenever the dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sitrep demo $(ARGS)

test: lint typecheck layers pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# One benchmark at a time: make bench BENCH=sync|insights|slack (each writes its README table).
BENCH ?= upsert
bench: $(STAMP)
	$(BIN)/python bench/$(BENCH).py --write-readme

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
