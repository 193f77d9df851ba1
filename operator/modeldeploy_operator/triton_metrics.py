"""The Triton metric families the autoscalers use, and their PromQL.

Names are checked against a real tritonserver's /metrics in tests/local (so they are
not typed from memory). Triton's counters are cumulative: rates give per-second values.
"""

from __future__ import annotations

# Cumulative microseconds requests spent waiting in the scheduler queue.
QUEUE_DURATION_US = "nv_inference_queue_duration_us"
# Requests that completed successfully.
REQUEST_SUCCESS = "nv_inference_request_success"
# Inferences performed (a batch of 8 counts 8).
INFERENCE_COUNT = "nv_inference_count"

FAMILIES = (QUEUE_DURATION_US, REQUEST_SUCCESS, INFERENCE_COUNT)

# Names of the per-pod custom metrics a Prometheus adapter serves for the HPA (see the
# README for the adapter rules): average queue time per request, inferences per second.
ADAPTER_QUEUE_LATENCY = "modeldeploy_triton_queue_latency_us"
ADAPTER_INFERENCE_RATE = "modeldeploy_triton_inference_rate"

WINDOW = "1m"


def _selector(namespace: str, deployment: str) -> str:
    return f'namespace="{namespace}",pod=~"{deployment}-.*"'


def queue_latency_query(namespace: str, deployment: str) -> str:
    """Average queue time per request across the Deployment's pods, in microseconds."""
    match = _selector(namespace, deployment)
    return (
        f"sum(rate({QUEUE_DURATION_US}{{{match}}}[{WINDOW}]))"
        f" / clamp_min(sum(rate({REQUEST_SUCCESS}{{{match}}}[{WINDOW}])), 1)"
    )


def inference_rate_query(namespace: str, deployment: str) -> str:
    """Inferences per second across the Deployment's pods (KEDA divides by replicas)."""
    return f"sum(rate({INFERENCE_COUNT}{{{_selector(namespace, deployment)}}}[{WINDOW}]))"
