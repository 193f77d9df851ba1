"""A real tritonserver serving the local repository, queried with tritonclient."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from modeldeploy_local import check, runner
from modeldeploy_local.errors import InferenceError
from modeldeploy_local.repository import LocalModel

pytestmark = pytest.mark.slow


def _model(served: runner.Running, name: str) -> LocalModel:
    return next(m for m in served.models if m.name == name)


@pytest.mark.parametrize("name", ["linear", "tokens"])
def test_http_and_grpc_match_onnxruntime(served: runner.Running, name: str) -> None:
    model = _model(served, name)
    for batch, length in ((1, 3), (5, 11)):
        inputs = check.sample_inputs(model.config, batch=batch, length=length, seed=batch)
        result = check.check_model(
            served.server.endpoints, model.config, served.onnx_path(model), inputs
        )
        assert set(result.diffs) == {"http", "grpc"}
        assert result.worst <= 1e-4
        for output in model.config.output:
            assert result.served["http"][output.name].shape[0] == batch


def test_concurrent_requests_are_batched_and_answered_each_their_own(
    served: runner.Running,
) -> None:
    """Dynamic batching stacks requests into one ONNX Runtime call; each gets its rows back."""
    model = _model(served, "tokens")
    requests = [
        check.sample_inputs(model.config, batch=1 + i % 3, length=6, seed=100 + i)
        for i in range(24)
    ]
    names = [o.name for o in model.config.output]
    before = check.scrape_metrics(served.server.endpoints.metrics)

    def ask(inputs: check.Tensors) -> check.Tensors:
        return check.infer_grpc(served.server.endpoints.grpc, "tokens", inputs, names)

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(ask, requests))
    for inputs, answer in zip(requests, answers, strict=True):
        expected = check.onnxruntime_outputs(served.onnx_path(model), inputs, names)
        np.testing.assert_allclose(answer["embedding"], expected["embedding"], atol=1e-5)

    after = check.scrape_metrics(served.server.endpoints.metrics)
    label = '{model="tokens",version="1"}'
    inferences = after[f"nv_inference_count{label}"] - before.get(f"nv_inference_count{label}", 0)
    executions = after[f"nv_inference_exec_count{label}"] - before.get(
        f"nv_inference_exec_count{label}", 0
    )
    assert inferences == sum(r["input_ids"].shape[0] for r in requests)
    # Fewer model executions than requests: the dynamic batcher merged some of them.
    assert executions < len(requests)


def test_metrics_expose_the_autoscaling_families(served: runner.Running) -> None:
    model = _model(served, "linear")
    check.check_model(served.server.endpoints, model.config, served.onnx_path(model))
    samples = check.scrape_metrics(served.server.endpoints.metrics)
    families = check.metric_families(samples)
    missing = [name for name in check.REQUIRED_METRICS if name not in families]
    assert not missing, f"missing metric families: {missing}"
    assert samples['nv_inference_request_success{model="linear",version="1"}'] >= 2


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_wrong_shape_gets_tritons_message(served: runner.Running, protocol: str) -> None:
    infer = check.infer_http if protocol == "http" else check.infer_grpc
    url = getattr(served.server.endpoints, protocol)
    bad = {"x": np.zeros((2, 5), dtype=np.float32)}
    with pytest.raises(InferenceError) as caught:
        infer(url, "linear", bad, ["y"])
    message = str(caught.value)
    assert "unexpected shape for input 'x' for model 'linear'" in message
    assert "Expected [-1,4], got [2,5]" in message
    assert "Traceback" not in message


def test_health_endpoints(served: runner.Running) -> None:
    import tritonclient.http as http

    with http.InferenceServerClient(served.server.endpoints.http) as client:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("linear")
        assert client.get_model_metadata("tokens")["platform"] == "python"
