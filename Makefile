# Two commands on a fresh clone (Python 3.11 on PATH):
#   make demo   set up .venv, write the demo data if missing, run the whole pipeline locally
#   make test   set up .venv with test extras, run ruff and the test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.bigtrain-installed
DEMO_ROWS ?= 20000
PYTEST_ARGS ?=

.PHONY: demo test lint venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	@touch $(STAMP)

# Rewritten when the generator changes (its columns must match pipelines/configs/demo.yaml).
data/demo/part-00000.csv: pipelines/demo_data.py | $(STAMP)
	rm -rf data/demo
	$(BIN)/bigtrain demo-data --rows $(DEMO_ROWS) --output data/demo

demo: $(STAMP) data/demo/part-00000.csv
	$(BIN)/bigtrain run --config pipelines/configs/demo.yaml --summary runs/last-summary.json

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf runs serving data/demo
