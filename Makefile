# Two commands on a fresh machine with Python 3.10+:
#   make demo   # installs into .venv, trains the CPU demo, evaluates it
#   make test   # installs into .venv (with pytest), runs the whole test suite (what CI runs)
#   make test-fast  # the same without the slow end-to-end tests (pytest -m "not slow")
# Both run the tests in one pytest-xdist process more than there are cores
# (at most 6), each op on one thread (tests/conftest.py): the models are
# tiny and much of a test is single-threaded tracing, so this fills the
# cores best (docs/speed.md, "The test suite"); `pytest -n0` runs them in one.
# --dist=worksteal: a worker that runs out of tests takes half of another's
# queue, so no worker is left with a backlog of heavy tests while the others
# idle (measured: under the default --dist=load one worker ran on for over
# 200 s after the others' last test; docs/speed.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(); print(min(n + 1, 6))')

.PHONY: demo test test-fast install bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

demo: install
	$(BIN)/s2f-train --flagfile=flags/demo.cfg --workdir=runs/demo

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist=worksteal tests

test-fast: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist=worksteal -m "not slow" tests

bench: install
	$(BIN)/python tools/bench_data.py
	$(BIN)/python tools/bench_projector.py
	$(BIN)/python tools/bench_step.py --presets=smoke,demo
