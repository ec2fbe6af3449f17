# Two commands on a fresh machine with Python 3.10+:
#   make demo   # installs into .venv, trains the CPU demo, evaluates it
#   make test   # installs into .venv (with pytest), runs the whole test suite (what CI runs)
#   make test-fast  # the same without the slow end-to-end tests (pytest -m "not slow")
# Both run the tests in two processes (pytest-xdist): much of a test is
# single-threaded tracing, so two share 2 cores well; `pytest -n0` runs them
# in one.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast install bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

demo: install
	$(BIN)/s2f-train --flagfile=flags/demo.cfg --workdir=runs/demo

test: install
	$(BIN)/python -m pytest -q -n 2 tests

test-fast: install
	$(BIN)/python -m pytest -q -n 2 -m "not slow" tests

bench: install
	$(BIN)/python tools/bench_data.py
	$(BIN)/python tools/bench_projector.py
	$(BIN)/python tools/bench_step.py --presets=smoke,demo
