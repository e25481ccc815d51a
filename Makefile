# The two commands of the README: `make run` (the main job) and `make test` (the tests).
# Each creates .venv on first use, and reinstalls only when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tweetbench-installed
DEVICES ?= cpu,gpu,tpu
ARGS ?=

# `make test-device-image`: the suite in a venv that mirrors the GPU machine's image (Python 3.12, torch 2.11,
# Lightning 2.6.6, no torch_xla, jsonschema only from the .whl/ wheels installed offline with --target, as there).
DEVICE_PYTHON ?= $(shell pyenv prefix 3.12.1 2>/dev/null)/bin/python
DEVICE_VENV ?= .venv-device-image
DEVICE_STAMP := $(DEVICE_VENV)/.tweetbench-installed
DEVICE_SITE := $(DEVICE_VENV)/wheels-site
# The image's packages that tweetbench or its tests import (README: "The GPU machine"); versions where known.
DEVICE_IMAGE_PACKAGES := torch==2.11.0 pytorch-lightning==2.6.6 lightning==2.6.6 numpy scipy matplotlib rich psutil \
	nvidia-ml-py tensorboard pandas pyyaml attrs pytest pytest-benchmark pytest-timeout hypothesis

.PHONY: run test bench clean-venv test-device-image device-wheels

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
	rm -rf $(VENV) $(DEVICE_VENV)

device-wheels: .whl/.ready

.whl/.ready: scripts/device_wheels.sh
	scripts/device_wheels.sh

$(DEVICE_STAMP): pyproject.toml Makefile
	test -x $(DEVICE_PYTHON) || { echo "no Python 3.12.1 at $(DEVICE_PYTHON): pyenv install 3.12.1, or DEVICE_PYTHON=..."; exit 1; }
	test -x $(DEVICE_VENV)/bin/python || $(DEVICE_PYTHON) -m venv $(DEVICE_VENV)
	$(DEVICE_VENV)/bin/python -m pip install --quiet $(DEVICE_IMAGE_PACKAGES)
	$(DEVICE_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(DEVICE_STAMP)

test-device-image: $(DEVICE_STAMP) .whl/.ready
	rm -rf $(DEVICE_SITE)
	$(DEVICE_VENV)/bin/python -m pip install --quiet --no-index --no-deps --target $(DEVICE_SITE) .whl/*.whl
	PYTHONPATH=$(CURDIR)/$(DEVICE_SITE) $(DEVICE_VENV)/bin/python -m pytest -p no:cacheprovider -rs $(ARGS)
