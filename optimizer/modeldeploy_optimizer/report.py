"""The optimizer's report (``report.json``) and its compact summary.

The summary goes to the container's termination message (under 4 KiB), which the
operator copies into ``status.optimization``. This module imports no ML framework.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from modeldeploy_optimizer.apimodel import ApiModel, api_field

# Kubernetes reads at most 4096 bytes of a termination message; stay clear of it.
TERMINATION_MESSAGE_LIMIT = 4000

CandidateStatus = Literal["chosen", "passed", "rejected", "failed", "skipped"]


class AccuracySummary(ApiModel):
    """The accuracy gate's verdict on the served model."""

    metric: str = api_field("Gate metric (cosine, max-abs, relative-l2, top1-agreement).")
    value: float = api_field("Measured value on the held-out inputs.")
    threshold: float = api_field("Pass mark.")
    passed: bool = api_field("Whether the value met the pass mark.")


class Summary(ApiModel):
    """What the operator needs from a finished optimization: the termination message."""

    ok: bool = api_field("Whether a model was written.")
    reason: str = api_field(
        "Machine reason: GatePassed, NothingPassedGate, NotOptimized on success; "
        "SourceUnreachable, UnknownFormat, ExportFailed, AccuracyGateFailed, OutOfMemory, "
        "InvalidInput ... on failure."
    )
    message: str = api_field("One line for people.")
    revision: str | None = api_field("Revision of the model and optimization.", default=None)
    chosen: str | None = api_field("The candidate written as the result.", default=None)
    original_bytes: int | None = api_field("Size of the FP32 ONNX export.", default=None)
    optimized_bytes: int | None = api_field("Size of the written model.", default=None)
    speedup: float | None = api_field(
        "p50 latency of the FP32 export over the chosen model's, batch 1.", default=None
    )
    accuracy: AccuracySummary | None = api_field("Accuracy gate verdict.", default=None)
    latency_p50_ms: float | None = api_field("Chosen model's p50 latency, batch 1.", default=None)
    latency_p99_ms: float | None = api_field("Chosen model's p99 latency, batch 1.", default=None)
    throughput: float | None = api_field(
        "Chosen model's inferences per second at the largest benchmarked batch.", default=None
    )
    artifact: str | None = api_field("Where the model repository was written.", default=None)


class Latency(ApiModel):
    """Latency of one model at one batch size, measured interleaved with the others."""

    batch_size: int = api_field("Batch size.")
    p50_ms: float = api_field("Median latency of one call.")
    p99_ms: float = api_field("99th percentile latency of one call.")
    throughput: float = api_field("Inferences (samples) per second at the median.")
    runs: int = api_field("Timed calls.")


class Accuracy(ApiModel):
    """All accuracy metrics of a candidate against the FP32 export on held-out inputs."""

    metric: str = api_field("The gate's metric.")
    value: float = api_field("The gate metric's value.")
    threshold: float = api_field("The gate's pass mark.")
    passed: bool = api_field("Whether it passed.")
    samples: int = api_field("Held-out inputs compared.")
    metrics: dict[str, float] = api_field(
        "Every metric: cosine_mean, cosine_min, max_abs, relative_l2, top1_agreement."
    )


class CandidateReport(ApiModel):
    """One model the optimizer built and measured."""

    name: str = api_field("Candidate name, e.g. dynamic-int8, static-int8-excl4.")
    quantization: str = api_field("none, dynamic-int8, static-int8 or fp16.")
    description: str = api_field("What was done, with the settings.")
    status: CandidateStatus = api_field("Outcome.")
    note: str = api_field("Why it has that status.", default="")
    bytes: int | None = api_field("Size on disk.", default=None)
    accuracy: Accuracy | None = api_field("Gate measurement.", default=None)
    latency: list[Latency] = api_field("Benchmark per batch size.", default_factory=list)
    speedup_p50: dict[str, float] = api_field(
        "FP32 p50 over this candidate's p50, keyed by batch size.", default_factory=dict
    )
    excluded_nodes: list[str] = api_field(
        "Nodes left in float, most sensitive first.", default_factory=list
    )
    build_seconds: float | None = api_field("Time to build it.", default=None)


class Report(ApiModel):
    """The full report written next to the model repository as report.json."""

    summary: Summary = api_field("The summary (also the termination message).")
    name: str = api_field("Model name.")
    source: str = api_field("Model URI (credentials are never part of it).")
    format: str | None = api_field("Detected model format.", default=None)
    target: dict[str, Any] = api_field(
        "Target runtime: image, ONNX Runtime version, opset, IR version.", default_factory=dict
    )
    strategy: str = api_field("auto, explicit or none.")
    inputs: list[dict[str, Any]] = api_field(
        "Model inputs (name, dtype, shape).", default_factory=list
    )
    outputs: list[dict[str, Any]] = api_field("Model outputs.", default_factory=list)
    export: dict[str, Any] = api_field(
        "Export check: framework output against the ONNX export.", default_factory=dict
    )
    samples: dict[str, Any] = api_field(
        "Where the calibration and held-out inputs came from, and how many.",
        default_factory=dict,
    )
    baseline: CandidateReport | None = api_field("The FP32 ONNX export.", default=None)
    candidates: list[CandidateReport] = api_field("Every candidate tried.", default_factory=list)
    environment: dict[str, Any] = api_field(
        "Versions, CPU, threads and the optimizer's peak memory.", default_factory=dict
    )
    notes: list[str] = api_field("What a reader should know.", default_factory=list)
    duration_seconds: float | None = api_field("Wall time of the optimization.", default=None)


def termination_message(summary: Summary) -> str:
    """The summary as compact JSON under the termination-message limit.

    The message is shortened first; the numbers are what the operator needs.
    """
    text = _compact(summary)
    if len(text.encode()) <= TERMINATION_MESSAGE_LIMIT:
        return text
    overflow = len(text.encode()) - TERMINATION_MESSAGE_LIMIT
    message = summary.message.encode()[: max(0, len(summary.message.encode()) - overflow - 8)]
    shorter = summary.model_copy(
        update={"message": message.decode(errors="ignore").rstrip() + " ..."}
    )
    text = _compact(shorter)
    if len(text.encode()) > TERMINATION_MESSAGE_LIMIT:  # only if other fields were huge
        minimal = Summary(ok=summary.ok, reason=summary.reason, message="(see report.json)")
        text = _compact(minimal)
    return text


def _compact(summary: Summary) -> str:
    return json.dumps(summary.to_wire(), separators=(",", ":"), sort_keys=True)


def write_termination_message(summary: Summary, path: Path) -> None:
    """Write the summary where Kubernetes reads the termination message from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(termination_message(summary))


def read_summary(text: str) -> Summary:
    """Parse a termination message back into a Summary (the operator's side)."""
    return Summary.model_validate_json(text)
