# wxent: every target creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.wxent-installed
LINT_DIRS := $(wildcard src tests benchmarks examples)

.PHONY: test demo bench lint clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install --disable-pip-version-check -q "torch==2.13.0"
	$(PY) -m pip install --disable-pip-version-check -q -e ".[all,test]"
	# Triton 3.6 (what torch 2.11's CUDA builds ship) beside the installed one, for the
	# sm_90 compile test of the kernels (tests/test_triton.py): GPU machines run it.
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --upgrade \
		--target $(VENV)/triton-3.6 "triton==3.6.0"
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check $(LINT_DIRS)
	$(PY) -m ruff format --check $(LINT_DIRS)
	$(PY) -m mypy

test: $(STAMP) lint
	$(PY) -m pytest -n 2 --dist loadfile tests src README.md

demo: $(STAMP)
	$(PY) -m wxent demo

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
