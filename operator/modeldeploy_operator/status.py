"""From what a reconcile observed to the ModelDeployment's status and Events.

Pure: the same observation gives the same status, and conditions keep their
``lastTransitionTime`` unless their status flips, so a quiet resync writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modeldeploy_optimizer.report import Summary

from modeldeploy_operator.api import Condition, ModelDeployment
from modeldeploy_operator.conditions import Status, get_condition, set_condition
from modeldeploy_operator.jobresult import JobResult

Manifest = dict[str, Any]
Event = tuple[str, str, str]  # type (Normal/Warning), reason, message

GATE_REASONS = ("AccuracyGateFailed", "NothingPassedGate")


@dataclass(frozen=True)
class Observed:
    desired: str
    served: str | None
    result: JobResult | None  # None: the desired revision is already served
    promoted: Summary | None  # set when this reconcile promoted the desired revision
    job: str
    deployment: Manifest | None
    endpoints: dict[str, str] | None
    autoscaling: Manifest | None = None


def _size(original: int | None, optimized: int | None) -> str | None:
    def mib(n: int) -> str:
        return f"{n / 2**20:.1f}MiB"

    if optimized is None:
        return None
    return f"{mib(optimized)} (was {mib(original)})" if original else mib(optimized)


def _optimization_status(summary: Summary, job: str) -> Manifest:
    accuracy = summary.accuracy
    values = {
        "job": job,
        "artifact": summary.artifact,
        "chosen": summary.chosen,
        "originalBytes": summary.original_bytes,
        "optimizedBytes": summary.optimized_bytes,
        "size": _size(summary.original_bytes, summary.optimized_bytes),
        "speedup": summary.speedup,
        "accuracy": accuracy.value if accuracy else None,
        "accuracyMetric": accuracy.metric if accuracy else None,
        "latencyP50Ms": summary.latency_p50_ms,
        "latencyP99Ms": summary.latency_p99_ms,
        "throughput": summary.throughput,
    }
    return {key: value for key, value in values.items() if value is not None}


def _rollout(deployment: Manifest | None, served: str | None) -> tuple[bool, int, int]:
    """(rolled out, replicas, ready replicas) of the Triton Deployment."""
    if deployment is None or served is None:
        return False, 0, 0
    status = deployment.get("status") or {}
    replicas = int(status.get("replicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    current = (status.get("observedGeneration") or 0) >= deployment["metadata"].get("generation", 0)
    return current and replicas > 0 and updated == replicas == ready, replicas, ready


def build_status(md: ModelDeployment, seen: Observed) -> tuple[Manifest, list[Event]]:
    old = md.status
    generation = (md.metadata.model_extra or {}).get("generation")
    conditions: list[Condition] = list(old.conditions or []) if old else []
    events: list[Event] = []

    def condition(type_: str, status: Status, reason: str, message: str) -> None:
        nonlocal conditions
        before = get_condition(conditions, type_)
        conditions = set_condition(conditions, type_, status, reason, message, generation)
        if before is None or (before.status, before.reason) != (status, reason):
            warning = reason in _WARNINGS or (status == "False" and reason not in _PROGRESS)
            kind = "Warning" if warning else "Normal"
            events.append((kind, reason, f"{type_}: {message}"))

    result = seen.result
    failed = result is not None and result.state == "Failed"
    prefix = f"revision {seen.desired}: "
    if result is None:
        condition("Optimized", "True", "Succeeded", f"{prefix}served")
    elif result.state == "Succeeded":
        condition("Optimized", "True", "Succeeded", prefix + result.message)
    elif failed:
        condition("Optimized", "False", result.reason, prefix + result.message)
    else:
        condition("Optimized", "Unknown", result.reason, prefix + result.message)

    summary = seen.promoted or (result.summary if result else None)
    if summary is not None and summary.accuracy is not None:
        gate = summary.accuracy
        verdict = f"{gate.metric} {gate.value:.4g} against threshold {gate.threshold:g}"
        passed: Status = "True" if gate.passed and summary.ok else "False"
        condition(
            "AccuracyGatePassed",
            passed,
            "Passed" if passed == "True" else "BelowThreshold",
            f"{prefix}{verdict}",
        )
    elif failed and result is not None and result.reason in GATE_REASONS:
        condition("AccuracyGatePassed", "False", "BelowThreshold", prefix + result.message)
    elif get_condition(conditions, "AccuracyGatePassed") is None:
        condition("AccuracyGatePassed", "Unknown", "NotMeasured", "no result yet")

    rolled_out, replicas, ready = _rollout(seen.deployment, seen.served)
    if seen.served is None:
        condition("Deployed", "False", "NothingToServe", "no revision has passed yet")
    elif rolled_out:
        condition("Deployed", "True", "RolledOut", f"revision {seen.served} is rolled out")
    else:
        condition("Deployed", "False", "RollingOut", f"rolling out revision {seen.served}")

    serving = seen.served is not None and ready > 0
    pending_new = seen.served is not None and seen.desired != seen.served
    if not serving:
        phase = (
            "Failed"
            if failed
            else ("Deploying" if seen.served else ("Pending" if result is None else "Optimizing"))
        )
        reason = result.reason if failed and result else phase
        condition(
            "Ready",
            "False",
            reason,
            "nothing is serving yet" if not failed else prefix + (result.message if result else ""),
        )
    elif pending_new and failed:
        phase = "Degraded"
        condition(
            "Ready",
            "True",
            "PreviousRevisionServing",
            f"revision {seen.served} serves; {prefix}{result.message if result else ''}",
        )
    else:
        phase = "Deploying" if not rolled_out else ("Optimizing" if pending_new else "Ready")
        condition("Ready", "True", "Serving", f"revision {seen.served} serves {ready} ready pods")

    status: Manifest = {
        "observedGeneration": generation,
        "phase": phase,
        "conditions": [c.to_wire() for c in conditions],
        "desiredRevision": seen.desired,
    }
    if seen.served:
        status["revision"] = seen.served
    if seen.promoted is not None:
        status["optimization"] = _optimization_status(seen.promoted, seen.job)
    elif old and old.optimization and seen.served:
        status["optimization"] = old.optimization.to_wire()
    if seen.endpoints:
        status["endpoint"] = seen.endpoints
    if seen.autoscaling is not None:
        status["autoscaling"] = seen.autoscaling
        said = old.autoscaling.message if old and old.autoscaling else None
        if seen.autoscaling.get("message") and seen.autoscaling["message"] != said:
            events.append(("Warning", "AutoscalingLimited", seen.autoscaling["message"]))
    elif old and old.autoscaling:
        status["autoscaling"] = old.autoscaling.to_wire()
    status["replicas"] = replicas
    status["readyReplicas"] = ready
    return {k: v for k, v in status.items() if v is not None}, events


# Reasons that are steps on the way, not problems, even while a condition is False.
_PROGRESS = frozenset(
    {
        "JobCreated",
        "Optimizing",
        "ReadingResult",
        "RollingOut",
        "NothingToServe",
        "Pending",
        "Deploying",
    }
)
_WARNINGS = frozenset({"Unschedulable"})
