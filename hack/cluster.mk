# The test control plane (issue 5): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, helm and metrics-server built from their Go
# modules (hack/tools/<component>/go.mod) into $(MODELDEPLOY_CACHE)/bin, and a
# launcher that runs them on 127.0.0.1. See hack/README.md.
# Included by the main Makefile, which defines VENV and PY.

CLUSTER_DIR ?= .cache/cluster
CLUSTER_NODES ?= 3

.PHONY: tools
tools: ## build the control plane's binaries that are missing (cold: ~27 min)
	@bash hack/build-tools.sh

# Everything but the last line goes to stderr, so that
#   eval "$(make -s cluster-up)"
# works; the last line is `export KUBECONFIG=<path>`.
.PHONY: cluster-up
cluster-up: $(VENV)/.installed ## start a local control plane (prints export KUBECONFIG=...)
	@bash hack/build-tools.sh >&2
	@$(PY) -m hack.cluster --workdir $(CLUSTER_DIR) up --nodes $(CLUSTER_NODES)

.PHONY: cluster-down
cluster-down: ## stop the local control plane and remove its folder
	@$(PY) -m hack.cluster --workdir $(CLUSTER_DIR) down

.PHONY: cluster-logs
cluster-logs: ## tail every component's log of the local control plane
	@$(PY) -m hack.cluster --workdir $(CLUSTER_DIR) logs

# `make test` builds the binaries first (the session fixture would otherwise
# build them itself, silently inside pytest).
TEST_PREREQS += tools
