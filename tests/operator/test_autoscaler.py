"""Autoscalers from the spec: HPA on CPU or Triton's metrics, KEDA ScaledObject, targets."""

from __future__ import annotations

from typing import Any

import pytest
from modeldeploy_operator import triton_metrics
from modeldeploy_operator.api import ModelDeployment, parse_manifest
from modeldeploy_operator.builders.autoscaler import (
    build_hpa,
    build_scaled_object,
    parse_duration_us,
    quantity,
    target_of,
)


def _md(**autoscaling: Any) -> ModelDeployment:
    return parse_manifest(
        {
            "apiVersion": "modeldeploy.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "m", "namespace": "ns"},
            "spec": {"model": {"uri": "pvc://models/m"}, "autoscaling": autoscaling},
        }
    )


def test_quantities_are_written_as_the_api_server_writes_them() -> None:
    assert [quantity(v) for v in (0, 568, 1000, 1500, 20000, 3_000_000)] == [
        "0",
        "568",
        "1k",
        "1500",
        "20k",
        "3M",
    ]


def test_durations() -> None:
    assert parse_duration_us("20ms") == 20_000
    assert parse_duration_us("500us") == 500
    assert parse_duration_us("0.5s") == 500_000
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration_us("fast")


def test_targets_and_where_they_come_from() -> None:
    cpu = target_of(_md(), None)
    assert cpu is not None
    assert (cpu.value, cpu.text, cpu.source) == (70, "70%", "default")
    queue = target_of(_md(metric="queue-latency", target="5ms"), None)
    assert queue is not None
    assert (queue.value, queue.text, queue.source) == (5000, "5ms", "spec")
    auto = target_of(_md(metric="inference-rate", target="auto"), 812.0)
    assert auto is not None
    assert (auto.value, auto.text) == (568, "568/s")
    assert "70% of the 812/s" in auto.source
    # auto with nothing measured: no target rather than a guess.
    assert target_of(_md(metric="inference-rate"), None) is None
    fixed = target_of(_md(metric="inference-rate", target=300), 812.0)
    assert fixed is not None
    assert (fixed.value, fixed.source) == (300, "spec")


def test_hpa_on_triton_queue_latency_uses_the_adapter_metric_and_behavior() -> None:
    md = _md(metric="queue-latency", target="20ms", minReplicas=2, maxReplicas=9,
             behavior={"scaleDownStabilizationSeconds": 600})  # fmt: skip
    target = target_of(md, None)
    assert target is not None
    hpa = build_hpa(md, target)["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 9)
    pods = hpa["metrics"][0]["pods"]
    assert pods["metric"]["name"] == triton_metrics.ADAPTER_QUEUE_LATENCY
    assert pods["target"] == {"type": "AverageValue", "averageValue": "20k"}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert hpa["behavior"]["scaleDown"]["policies"][0] == {
        "type": "Percent",
        "value": 50,
        "periodSeconds": 60,
    }
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0


def test_keda_scaled_object_scales_to_zero_on_prometheus_queries() -> None:
    md = _md(metric="queue-latency", target="20ms", minReplicas=0, maxReplicas=5)
    target = target_of(md, None)
    assert target is not None
    scaled = build_scaled_object(md, target, "http://prom:9090")
    spec = scaled["spec"]
    assert scaled["metadata"]["name"] == "m-triton"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 5)
    trigger = spec["triggers"][0]
    assert trigger["type"] == "prometheus"
    assert trigger["metricType"] == "Value"
    assert trigger["metadata"]["threshold"] == "20000"
    query = trigger["metadata"]["query"]
    assert triton_metrics.QUEUE_DURATION_US in query
    assert triton_metrics.REQUEST_SUCCESS in query
    assert 'namespace="ns",pod=~"m-triton-.*"' in query
    rate = build_scaled_object(
        _md(metric="inference-rate", target=100), target_of(_md(metric="inference-rate",
        target=100), None) or target, "http://prom:9090")  # fmt: skip
    assert rate["spec"]["triggers"][0]["metricType"] == "AverageValue"
    assert triton_metrics.INFERENCE_COUNT in rate["spec"]["triggers"][0]["metadata"]["query"]
