# weightlib developer commands. `make test` is the command CI runs (through .ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install lint format test demo completions man bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	$(BIN)/pip install -qq -c constraints.txt -e '.[all,test]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check weightlib tests bench scripts
	$(BIN)/ruff format --check weightlib tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python scripts/check_function_length.py weightlib

format: install
	$(BIN)/ruff check --fix weightlib tests bench
	$(BIN)/ruff format weightlib tests bench

test: lint
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

completions: install
	_WEIGHTLIB_COMPLETE=source_bash $(BIN)/weightlib > completions/weightlib.bash
	_WEIGHTLIB_COMPLETE=source_zsh $(BIN)/weightlib > completions/_weightlib
	_WEIGHTLIB_COMPLETE=source_fish $(BIN)/weightlib > completions/weightlib.fish

man: install
	$(BIN)/python -m weightlib.cli.manpage > man/weightlib.1

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
