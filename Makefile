# wirewatch developer entry points. `make demo` and `make test` are the two commands
# of the README; both set up what they need on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The SAM CLI pins its own boto3 and friends: it lives in a venv of its own.
SAMVENV := .venv-sam
SAM    := $(SAMVENV)/bin/sam
# checkov pins an older boto3 than both: a venv of its own too. Pinned, like the linters:
# a new release adds checks, and CI must not turn red by the calendar.
SCANVENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: demo test lint typecheck validate unit integration e2e build bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

$(SAMVENV)/.installed:
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install --quiet --upgrade pip
	$(SAMVENV)/bin/pip install --quiet aws-sam-cli
	touch $@

$(SCANVENV)/.installed: Makefile
	$(PYTHON) -m venv $(SCANVENV)
	$(SCANVENV)/bin/pip install --quiet --upgrade pip
	$(SCANVENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

## demo: the main job on the embedded default (moto + bundled feeds), two cycles
demo: $(BIN)/.installed
	$(BIN)/wirewatch run --local

## test: every gate CI runs: lint, types, template, tests
test: lint typecheck validate
	$(BIN)/pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# The template is linted like code: SAM's own validation, cfn-lint (informational rules too)
# and checkov. Every finding is fixed or suppressed in template.yaml, with its reason.
validate: $(SAMVENV)/.installed $(SCANVENV)/.installed $(BIN)/.installed
	$(SAM) validate --lint --template template.yaml
	$(SAMVENV)/bin/cfn-lint --include-checks I -- template.yaml
	$(SCANVENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	$(BIN)/wirewatch validate examples/watch.yaml

unit: $(BIN)/.installed
	$(BIN)/pytest -q tests/unit

integration: $(BIN)/.installed
	$(BIN)/pytest -q tests/integration

e2e: $(BIN)/.installed
	$(BIN)/pytest -q tests/e2e

## build: the Lambda artifact (needs python3.13 on PATH, e.g. PYENV_VERSION=3.11.7:3.13.0)
build: $(SAMVENV)/.installed
	$(SAM) build

bench: $(BIN)/.installed
	$(BIN)/python bench/matching.py

clean:
	rm -rf $(VENV) $(SAMVENV) $(SCANVENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
