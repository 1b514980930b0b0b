# Backend Engineering — an interactive course.
#   make lab    open the course in JupyterLab (bootstraps .venv on first use)
#   make test   run every test: unit tests, every notebook (nbval), grading round trips
#   make bench  grading throughput: plain nbgrader vs `course autograde` (default --jobs)
#   make bench-caches / bench-lin   library benchmarks (LFU put cost; linearizability checker)
#   make bench-class  a class of 500 submissions: course autograde's wall time and peak memory
#   make bench-lab    how long `make lab` takes to start a second time (nothing changed)
# Each target creates .venv with the first Python >= 3.11 it finds, and reinstalls only
# when pyproject.toml changes, so the second run starts at once.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: lab test bench bench-caches bench-lin bench-class bench-lab release clean-venv help
help:
	@sed -n '2,8p' Makefile

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

lab: $(STAMP)
	$(BIN)/course lab

test: $(STAMP)
	@bash scripts/ensure-system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@bash scripts/ensure-system-packages
	$(BIN)/course bench

bench-caches: $(STAMP)
	$(BIN)/python benchmarks/caches.py

bench-lin: $(STAMP)
	$(BIN)/python benchmarks/linearizability.py

bench-class: $(STAMP)
	@bash scripts/ensure-system-packages
	$(BIN)/course bench-class

bench-lab: $(STAMP)
	$(BIN)/python benchmarks/lab_start.py

release: $(STAMP)
	$(BIN)/course release

clean-venv:
	rm -rf $(VENV)
