# Every target sets itself up: a virtualenv in .venv with everything installed.
# torch==2.13.0 goes in first, so that the CPU build is used and no CUDA build
# is downloaded.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,demo]"
	touch $(STAMP)

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,demo,bench]"
	touch $(BENCH_STAMP)

# Heavy (docs/BENCHMARKS.md says how long each part takes); writes docs/BENCHMARKS.md. BENCH_ARGS=--quick for a taste.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.influence
	$(BIN)/python -m bench.detection
	$(BIN)/python -m bench.read_path --write
	$(BIN)/python -m bench.cli_start --write
	$(BIN)/python -m bench.loop
	$(BIN)/python -m bench.regression

demo: $(STAMP)
	$(BIN)/mendb demo

# mypy cannot follow the editable install's mapping of mendb.* onto the top-level
# folders, so it reads them through a tree of links that has the installed layout.
MYPY_TREE := build/mypy
PACKAGES := db migrations repair server valuation

lint: $(STAMP)
	$(BIN)/ruff check .
	mkdir -p $(MYPY_TREE)/mendb
	for p in $(PACKAGES); do ln -sfn ../../../$$p $(MYPY_TREE)/mendb/$$p; done
	MYPYPATH=$(MYPY_TREE) $(BIN)/mypy -p mendb.valuation -p mendb.db

# The browser tests (tests/browser) drive Debian's chromium through playwright (the
# dev extra); playwright's own browser download is not used.
BROWSER_STAMP := $(VENV)/.browser-installed

$(BROWSER_STAMP): $(STAMP)
	command -v chromium || (apt-get update && apt-get install -y chromium)
	touch $(BROWSER_STAMP)

test: $(STAMP) $(BROWSER_STAMP) lint
	$(BIN)/python -m pytest

# Regenerates docs/ui/proposals.png and docs/ui/proposal.png.
screenshots: $(BROWSER_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/browser/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info bench/.venv-* bench/out
