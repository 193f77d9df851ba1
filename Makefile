# One entry point for set-up, checks and demos. Everything installs itself on a
# fresh machine: the virtual environment, the Go-built Kubernetes binaries and
# the tritonserver binary (cached outside the clone, see MODELDEPLOY_CACHE).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
export MODELDEPLOY_CACHE ?= $(HOME)/.cache/modeldeploy
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Python-side packages that `make test` needs besides the venv; the included
# fragments append their own prerequisites (Kubernetes binaries, tritonserver).
TEST_PREREQS := $(VENV)/.installed
PYTEST_ARGS ?=

include $(wildcard hack/*.mk)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# Re-installs when pyproject.toml or the no-deps list changes; the editable
# install is cheap and keeps the venv pointing at this clone.
$(VENV)/.installed: pyproject.toml requirements/no-deps.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,operator,optimizer]'
	$(PY) -m pip install -q --no-deps -r requirements/no-deps.txt
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed ## create or update the virtual environment

.PHONY: lint
lint: $(VENV)/.installed ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: typecheck
typecheck: $(VENV)/.installed ## mypy --strict on every package
	$(VENV)/bin/mypy operator/modeldeploy_operator optimizer/modeldeploy_optimizer local/modeldeploy_local

.PHONY: crds
crds: $(VENV)/.installed ## regenerate crds/ from the API models
	$(PY) -m modeldeploy_operator.api.crdgen --out crds/modeldeployment.yaml
	cp crds/modeldeployment.yaml charts/modeldeploy/files/modeldeployment.yaml

.PHONY: test
test: $(TEST_PREREQS) lint typecheck ## all checks and every test, slow ones included
	$(VENV)/bin/pytest $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: $(VENV)/.installed ## unit tests only (no real models, servers or cluster)
	$(VENV)/bin/pytest -m 'not slow' $(PYTEST_ARGS)

.PHONY: bench-optimizer
bench-optimizer: $(VENV)/.installed ## optimizer ratios on MiniLM, ResNet-18, EfficientNet-Lite0
	$(PY) bench/optimizer.py

.PHONY: bench-operator
bench-operator: $(VENV)/.installed tools ## operator latency, API writes and memory with 200 resources
	$(PY) bench/operator.py

.PHONY: format
format: $(VENV)/.installed ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
