"""The candidates a strategy tries: which ones, how each is built, and the INT8 retry.

A candidate is one compressed model. It is built from the FP32 export (or its pruned
version), then judged by the accuracy gate against the FP32 export's outputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from modeldeploy_optimizer import gate, quantize, sensitivity
from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.gate import Verdict
from modeldeploy_optimizer.onnxutil import model_bytes, weight_fractions
from modeldeploy_optimizer.quantize import Int8Settings
from modeldeploy_optimizer.report import CandidateStatus
from modeldeploy_optimizer.runtimes import RuntimeTarget
from modeldeploy_optimizer.samples import Feed
from modeldeploy_optimizer.spec import OptimizationSpec

ALL_KINDS = ("fp32-optimized", "dynamic-int8", "static-int8", "fp16")
# ONNX Runtime's defaults (per-tensor, full 8-bit range): not tried by default; the
# benchmark asks for them to show what the recommended settings gain.
NAIVE_KINDS = ("dynamic-int8-naive", "static-int8-naive")
QUANTIZATION_OF = {
    "fp32": "none",
    "fp32-optimized": "none",
    "dynamic-int8": "dynamic-int8",
    "static-int8": "static-int8",
    "fp16": "fp16",
    "dynamic-int8-naive": "dynamic-int8",
    "static-int8-naive": "static-int8",
}
# Numbers of most-sensitive layers left in float on successive retries.
EXCLUSION_STEPS = (1, 2, 4, 8, 16, 32)
SENSITIVITY_SAMPLES = 16


@dataclass
class Candidate:
    """A built (or failed) candidate and the gate's verdict on it."""

    name: str
    kind: str
    description: str
    path: Path | None = None
    settings: Int8Settings | None = None
    verdict: Verdict | None = None
    status: CandidateStatus = "rejected"
    note: str = ""
    excluded: list[str] = field(default_factory=list)
    build_seconds: float | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed

    @property
    def bytes(self) -> int | None:
        return model_bytes(self.path) if self.path is not None and self.path.exists() else None


@dataclass
class Context:
    """What building and judging candidates needs."""

    base: Path
    target: RuntimeTarget
    spec: OptimizationSpec
    gpu: bool
    workdir: Path
    held_out: Feed
    reference: np.ndarray
    calibration: Callable[[], Sequence[Feed]]
    log: Callable[[str], None]
    int8: Int8Settings = field(default_factory=Int8Settings)


def plan(ctx: Context, only: Sequence[str] | None = None) -> tuple[list[str], list[Candidate]]:
    """The candidate kinds to build, and the ones skipped with the reason."""
    spec = ctx.spec
    if spec.strategy == "none":
        return [], []
    if spec.strategy == "explicit":
        explicit: str = "fp32-optimized" if spec.quantization == "none" else spec.quantization
        return [explicit], []
    fractions = weight_fractions(ctx.base)
    matmul = fractions.get("MatMul", 0.0) + fractions.get("Gemm", 0.0)
    conv = fractions.get("Conv", 0.0)
    kinds: list[str] = []
    skipped: list[Candidate] = []
    for kind in only or ALL_KINDS:
        why = ""
        if kind.startswith("dynamic-int8") and matmul < 0.5:
            why = (
                f"MatMul/Gemm hold {matmul:.0%} of the weights; "
                "dynamic INT8 pays off for MatMul-heavy models (transformers)"
            )
        if kind.startswith("static-int8") and conv < 0.3 and spec.calibration is None:
            why = "no Conv-heavy graph and no calibration given; dynamic INT8 covers MatMul models"
        if why:
            skipped.append(Candidate(kind, kind, "", status="skipped", note=why))
        else:
            kinds.append(kind)
    return kinds, skipped


def build(
    ctx: Context, kind: str, settings: Int8Settings | None = None, name: str = ""
) -> Candidate:
    """Build one candidate and run the gate on it; a build error becomes a failed candidate."""
    name = name or kind
    out = ctx.workdir / name / "model.onnx"
    settings = settings or _int8_settings(ctx)
    if kind.endswith("-naive"):
        settings = replace(settings, per_channel=False, reduce_range=False)
        kind = kind.removesuffix("-naive")
    started = time.monotonic()
    candidate = Candidate(name, kind, kind, path=out)
    naive = " (ONNX Runtime defaults)" if name.endswith("-naive") else ""
    try:
        if kind == "fp32-optimized":
            quantize.graph_optimize(ctx.base, out, ctx.target, gpu=ctx.gpu)
            candidate.description = "ONNX Runtime offline graph optimization, FP32"
        elif kind == "dynamic-int8":
            quantize.dynamic_int8(ctx.base, out, ctx.target, settings)
            candidate.settings = settings
            candidate.description = settings.describe("dynamic") + naive
        elif kind == "static-int8":
            source = quantize.preprocess(ctx.base, ctx.workdir / "preprocessed" / "model.onnx")
            quantize.static_int8(
                source,
                out,
                ctx.target,
                settings,
                ctx.calibration(),
                cache=ctx.workdir / "calibration.cache",
            )
            candidate.settings = settings
            candidate.description = settings.describe("static") + naive
        elif kind == "fp16":
            quantize.fp16(ctx.base, out, ctx.target)
            candidate.description = "FP16 weights and compute, float32 inputs and outputs"
        else:
            raise OptimizerError("InvalidInput", f"unknown candidate {kind}")
    except OptimizerError as error:
        candidate.status, candidate.note, candidate.path = "failed", error.one_line(), None
        return candidate
    candidate.build_seconds = round(time.monotonic() - started, 2)
    candidate.excluded = list(settings.exclude) if kind.endswith("int8") else []
    judge(ctx, candidate)
    return candidate


def _int8_settings(ctx: Context) -> Int8Settings:
    method = ctx.spec.calibration.method if ctx.spec.calibration else ctx.int8.method
    return replace(ctx.int8, method=method)


def judge(ctx: Context, candidate: Candidate) -> None:
    """Run the gate on a built candidate and set its status."""
    assert candidate.path is not None
    try:
        outputs = gate.run(candidate.path, ctx.held_out)
    except Exception as error:  # a model that does not run is a failed candidate
        candidate.status, candidate.note = (
            "failed",
            f"does not run: {' '.join(str(error).split())[:200]}",
        )
        return
    values = gate.metrics(ctx.reference, outputs)
    candidate.verdict = gate.decide(values, ctx.spec.accuracy_gate, len(ctx.reference))
    verdict = candidate.verdict
    relation = "meets" if verdict.passed else "misses"
    candidate.status = "passed" if verdict.passed else "rejected"
    candidate.note = (
        f"{verdict.metric} {verdict.value:.4f} {relation} threshold {verdict.threshold}"
    )
    ctx.log(f"{candidate.name}: {candidate.note}")


def retry_int8(ctx: Context, failed: Candidate) -> list[Candidate]:
    """Re-quantize with the most sensitive layers (measured) left in float, until one passes."""
    assert failed.path is not None
    assert failed.settings is not None
    # Static QDQ: every node whose inputs are quantized is ranked (Add, pooling too);
    # dynamic: the MatMul/Gemm/Gather nodes it quantizes.
    op_types: tuple[str, ...] | None = failed.settings.op_types
    if failed.kind == "dynamic-int8":
        op_types = op_types or quantize.DYNAMIC_OP_TYPES
    float_model = ctx.base
    if failed.kind == "static-int8":
        float_model = ctx.workdir / "preprocessed" / "model.onnx"
        if not float_model.exists():
            float_model = ctx.base
    probe = {k: v[:SENSITIVITY_SAMPLES] for k, v in ctx.held_out.items()}
    ranking = sensitivity.rank_layers(
        float_model, failed.path, op_types, probe, ctx.workdir / "sensitivity"
    )
    if not ranking:
        failed.note += "; no layer ranking could be measured, so no retry"
        return []
    top = ", ".join(f"{name} (+{added:.3f})" for name, added in ranking[:3])
    failed.note += f"; most sensitive layers: {top}"
    ctx.log(f"{failed.name}: most sensitive layers {top}")
    tried: list[Candidate] = []
    for count in EXCLUSION_STEPS:
        if count > max(1, len(ranking) * 2 // 3):
            break
        excluded = tuple(name for name, _ in ranking[:count])
        settings = replace(failed.settings, exclude=excluded)
        candidate = build(ctx, failed.kind, settings, name=f"{failed.kind}-excl{count}")
        tried.append(candidate)
        if candidate.passed or candidate.status == "failed":
            break
    return tried
