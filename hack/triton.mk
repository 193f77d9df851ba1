# tritonserver for local mode (`modeldeploy up/serve`), its tests and the serving
# benchmark: the binary from the nvidia-pytriton wheel plus the backend stub's
# Python environment, cached outside the clone (see hack/install-tritonserver.sh).
TRITON_VERSION := 2.51.0
TRITON_HOME := $(MODELDEPLOY_CACHE)/tritonserver-$(TRITON_VERSION)
TRITON_PYVER = $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
TRITON_STAMP = $(TRITON_HOME)/python$(TRITON_PYVER)/.installed

TEST_PREREQS += triton

.PHONY: triton
triton: $(VENV)/.installed ## install tritonserver $(TRITON_VERSION) (CPU) for local mode
	@test -f $(TRITON_STAMP) || hack/install-tritonserver.sh $(PY)

.PHONY: demo
demo: $(VENV)/.installed triton ## optimize examples/minilm.yaml, serve it with tritonserver, check it
	$(VENV)/bin/modeldeploy up examples/minilm.yaml --once

.PHONY: bench-serving
bench-serving: $(VENV)/.installed triton ## Triton (with/without dynamic batching) vs a plain ONNX Runtime server
	$(PY) bench/serving.py
