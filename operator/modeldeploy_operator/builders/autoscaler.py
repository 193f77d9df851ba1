"""The autoscaler of the Triton Deployment: an HPA, or a KEDA ScaledObject when KEDA is
installed (needed to scale to zero). ``replicas`` of the Deployment is always left to it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from modeldeploy_operator import triton_metrics
from modeldeploy_operator.api import ModelDeployment
from modeldeploy_operator.builders.common import Manifest, metadata
from modeldeploy_operator.naming import server_name

COMPONENT = "server"
DEFAULT_CPU_PERCENT = 70
DEFAULT_QUEUE_LATENCY = "20ms"
# "auto" inference-rate targets keep this much headroom below the measured capacity.
AUTO_RATE_FRACTION = 0.7
_UNITS_US = {"us": 1, "ms": 1_000, "s": 1_000_000}


@dataclass(frozen=True)
class Target:
    """The number the autoscaler aims for, for people and for the manifest."""

    value: int  # percent (cpu), microseconds (queue-latency), inferences/s (inference-rate)
    text: str
    source: str


def parse_duration_us(text: str) -> int:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return max(1, round(float(match.group(1)) * _UNITS_US[match.group(2)]))


def target_of(md: ModelDeployment, throughput: float | None) -> Target | None:
    """The target in effect; None when inference-rate is ``auto`` and nothing was measured."""
    scaling = md.spec.autoscaling
    if scaling.metric == "cpu":
        percent = scaling.target if isinstance(scaling.target, int) else DEFAULT_CPU_PERCENT
        return Target(percent, f"{percent}%", "spec" if scaling.target else "default")
    if scaling.metric == "queue-latency":
        text = scaling.target if isinstance(scaling.target, str) else DEFAULT_QUEUE_LATENCY
        return Target(parse_duration_us(text), text, "spec" if scaling.target else "default")
    if isinstance(scaling.target, int):
        return Target(scaling.target, f"{scaling.target}/s", "spec")
    if not throughput:
        return None
    rate = max(1, math.floor(throughput * AUTO_RATE_FRACTION))
    source = (
        f"{AUTO_RATE_FRACTION:.0%} of the {throughput:.0f}/s the optimization Job measured "
        "at its largest batch"
    )
    return Target(rate, f"{rate}/s", source)


def quantity(value: int) -> str:
    """``value`` as the API server writes a quantity back (20000 -> "20k"), so that a
    re-read HPA compares equal to what we apply and a quiet reconcile writes nothing."""
    for suffix in ("", "k", "M", "G", "T", "P"):
        if value % 1000 or suffix == "P" or value == 0:
            return f"{value}{suffix}"
        value //= 1000
    raise AssertionError("unreachable")


def _behavior(md: ModelDeployment) -> Manifest:
    behavior = md.spec.autoscaling.behavior
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": behavior.scale_up_stabilization_seconds,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15},
                {"type": "Pods", "value": 4, "periodSeconds": 15},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": behavior.scale_down_stabilization_seconds,
            "selectPolicy": "Min",
            "policies": [
                {
                    "type": "Percent",
                    "value": behavior.scale_down_percent_per_minute,
                    "periodSeconds": 60,
                }
            ],
        },
    }


def build_hpa(md: ModelDeployment, target: Target) -> Manifest:
    """autoscaling/v2: CPU from metrics-server, or a per-pod Triton metric from a
    Prometheus adapter. An HPA cannot go below one pod."""
    scaling = md.spec.autoscaling
    name = server_name(md.metadata.name)
    metric: Manifest
    if scaling.metric == "cpu":
        metric = {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": target.value},
            },
        }
    else:
        adapter = (
            triton_metrics.ADAPTER_QUEUE_LATENCY
            if scaling.metric == "queue-latency"
            else triton_metrics.ADAPTER_INFERENCE_RATE
        )
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": adapter},
                "target": {"type": "AverageValue", "averageValue": quantity(target.value)},
            },
        }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(md, name, COMPONENT),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": max(scaling.min_replicas, 1),
            "maxReplicas": scaling.max_replicas,
            "metrics": [metric],
            "behavior": _behavior(md),
        },
    }


def build_scaled_object(md: ModelDeployment, target: Target, prometheus: str) -> Manifest:
    """A KEDA ScaledObject on Triton's own metrics through Prometheus; scales to zero
    when minReplicas is 0. KEDA makes and owns the HPA underneath."""
    scaling = md.spec.autoscaling
    namespace = md.metadata.namespace or "default"
    name = server_name(md.metadata.name)
    if scaling.metric == "queue-latency":
        # An average, not a sum: compared as a Value, not divided by the pods.
        query = triton_metrics.queue_latency_query(namespace, name)
        metric_type = "Value"
    else:
        query = triton_metrics.inference_rate_query(namespace, name)
        metric_type = "AverageValue"
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata(md, name, COMPONENT),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior(md)}},
            "triggers": [
                {
                    "type": "prometheus",
                    "metricType": metric_type,
                    "metadata": {
                        "serverAddress": prometheus,
                        "query": query,
                        "threshold": str(target.value),
                    },
                }
            ],
        },
    }
