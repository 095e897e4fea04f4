# `make run` and `make test` build .venv on first use from constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench grid baselines clean

$(STAMP): pyproject.toml setup.py comparisons/check/_walk.c constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	@$(BIN)/python -c "from comparisons.check import fastwalk; fastwalk.AVAILABLE or print('warning: comparisons/check/_walk.c was not built (no C compiler?): the comparison uses its slower NumPy walk')"
	touch $(STAMP)

run: $(STAMP)  ## train both sides on the built-in data, write runs/demo/
	$(BIN)/lockstep run --out runs/demo --overwrite

test: $(STAMP)  ## the whole suite except tests marked slow
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)  ## every performance target, measured on this machine (~6 min; docs/benchmarks.md)
	$(BIN)/python -m benchmarks

grid: $(STAMP)  ## the false-alarm grids and 10x property runs (tests marked slow; long)
	$(BIN)/python -m pytest -q -m slow

baselines: $(STAMP)  ## rerun the assignment on ../shared/data/notmnist-small-10k into baselines/
	$(BIN)/python -m benchmarks.baselines

clean:
	rm -rf $(VENV) runs build comparisons/_walk.*.so
