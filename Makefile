# weightlib developer commands. `make test` is the command CI runs (through .ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# The vLLM release tests/test_vllm_parity.py checks weightlib against (its wheel, ~240 MB, is
# fetched once into .cache/vllm; tests never touch the network).
VLLM_VERSION ?= 0.34.0
VLLM_CACHE := .cache/vllm
VLLM_STAMP := $(VLLM_CACHE)/vllm-$(VLLM_VERSION).fetched

.PHONY: install lint format test vllm-reference demo completions man wheel bench clean

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

# Offline, the download fails with a warning and the parity tests skip, naming this target.
vllm-reference: $(VLLM_STAMP)

$(VLLM_STAMP): | install
	@mkdir -p $(VLLM_CACHE)
	@if ls $(VLLM_CACHE)/vllm-$(VLLM_VERSION)-*.whl >/dev/null 2>&1 || \
	    $(BIN)/pip download -q --no-deps --only-binary=:all: -d $(VLLM_CACHE) vllm==$(VLLM_VERSION); then \
	    touch $@; \
	else \
	    echo "warning: could not download the vllm==$(VLLM_VERSION) wheel; tests/test_vllm_parity.py will skip" >&2; \
	fi

test: lint vllm-reference
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

completions: install
	_WEIGHTLIB_COMPLETE=source_bash $(BIN)/weightlib > completions/weightlib.bash
	_WEIGHTLIB_COMPLETE=source_zsh $(BIN)/weightlib > completions/_weightlib
	_WEIGHTLIB_COMPLETE=source_fish $(BIN)/weightlib > completions/weightlib.fish

man: install
	$(BIN)/python -m weightlib.cli.manpage > man/weightlib.1

# The wheel (with the man page, completions and weightlib-entrypoint) in dist/; needs no .venv:
# pip fetches the build backend (hatchling) into an isolated build environment.
wheel:
	$(PYTHON) -m pip wheel --no-deps --wheel-dir dist .

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
