# Every target sets itself up: a virtualenv in .venv with everything installed.
# torch==2.13.0 goes in first, so that the CPU build is used and no CUDA build
# is downloaded.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,demo]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mendb demo

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
