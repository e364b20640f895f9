# The two README commands: `make demo` (the main job) and `make test` (the test suite).
# Both install what they need into .venv first (torch from the local CPU wheel, then retok).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.retok-installed

REF_STAMP := .venv-ref/.reference-installed

.PHONY: install reference-env demo test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# the reference packages (wechsel 0.0.4, deepfocus 1.0.1) in their own environment, for the benchmark and its test
reference-env: $(REF_STAMP)

$(REF_STAMP): recipes/reference_env.sh
	bash recipes/reference_env.sh

demo: install
	$(VENV)/bin/retok demo --out runs/demo $(DEMO_ARGS)

test: install reference-env
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .venv-ref runs
