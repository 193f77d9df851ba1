"""The Triton metric families the operator's autoscalers query exist on a real
tritonserver's /metrics, with the values the PromQL expects to grow."""

from __future__ import annotations

from modeldeploy_local import check, runner
from modeldeploy_operator import triton_metrics


def test_autoscaler_metric_names_are_what_triton_exports(served: runner.Running) -> None:
    model = next(m for m in served.models if m.name == "linear")
    check.check_model(served.server.endpoints, model.config, served.onnx_path(model))
    samples = check.scrape_metrics(served.server.endpoints.metrics)
    families = check.metric_families(samples)
    assert set(triton_metrics.FAMILIES) <= families
    # The counters the rates are taken of have counted the request just made.
    success = samples[f'{triton_metrics.REQUEST_SUCCESS}{{model="linear",version="1"}}']
    assert success >= 1
    assert f'{triton_metrics.QUEUE_DURATION_US}{{model="linear",version="1"}}' in samples
