# The two commands a newcomer needs: `make demo` and `make test`. Everything else is here too.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps lint typecheck test test-fast demo demo-stop clean

$(STAMP): pyproject.toml constraints/cpu.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints/cpu.txt -e '.[dev,train]'
	touch $(STAMP)

setup: $(STAMP)

# System packages the tests drive for real: podman (container engine), Chromium (browser),
# PostgreSQL (database server). Installed only when missing, and only where we are root.
system-deps:
	bash scripts/system-deps.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy --strict runner server speedrun web

test: system-deps setup lint typecheck
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/pytest -q -m "not slow" $(PYTEST_ARGS)

demo: setup
	bash scripts/demo.sh

demo-stop:
	bash scripts/demo.sh stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# [runner] container images (runner/image.py): the CPU image is built without any registry
# (debootstrap base + pinned wheels); the CUDA image needs a registry and the internet.
.PHONY: image-cpu image-cuda
image-cpu: setup
	$(BIN)/speedrun image build cpu

image-cuda: setup
	$(BIN)/speedrun image build cuda
