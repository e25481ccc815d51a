# The two commands of the README: `make run` (the main job) and `make test` (the tests).
# Each creates .venv on first use, and reinstalls only when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tweetbench-installed
DEVICES ?= cpu,gpu,tpu
ARGS ?=

.PHONY: run test bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,xla]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tweetbench run --devices $(DEVICES) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m pytest --benchmark-only $(ARGS)

clean-venv:
	rm -rf $(VENV)
