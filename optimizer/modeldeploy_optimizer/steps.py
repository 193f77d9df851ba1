"""One optimization run, stage by stage (used by :func:`pipeline.optimize`)."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Any

from modeldeploy_optimizer import benchmark, gate, prune, repository
from modeldeploy_optimizer import candidates as cands
from modeldeploy_optimizer.candidates import Candidate
from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.export import Exported, export
from modeldeploy_optimizer.formats import detect
from modeldeploy_optimizer.onnxutil import has_vnni, model_bytes
from modeldeploy_optimizer.pipeline import Options, elapsed, publish
from modeldeploy_optimizer.progress import Progress
from modeldeploy_optimizer.report import (
    Accuracy,
    AccuracySummary,
    CandidateReport,
    Latency,
    Report,
    Summary,
)
from modeldeploy_optimizer.runtimes import target_for
from modeldeploy_optimizer.samples import (
    NpzSamples,
    RandomSamples,
    Samples,
    TextSamples,
    sample_dims,
)
from modeldeploy_optimizer.sources import fetch, safe_uri
from modeldeploy_optimizer.spec import OptimizerInput, revision_of

# Candidates within this fraction of the fastest p50 count as equally fast; the smaller wins.
SPEED_TIE = 0.03
DEFAULT_BENCH_BATCH = 16


class Run:
    """The state of one optimization."""

    def __init__(self, inp: OptimizerInput, options: Options, progress: Progress, workdir: Path):
        self.inp = inp
        self.options = options
        self.progress = progress
        self.workdir = workdir
        self.started = time.monotonic()
        self.target = target_for(inp.runtime.image)
        self.notes: list[str] = []
        self.samples_info: dict[str, Any] = {}
        if not self.target.known:
            self.notes.append(
                f"unknown Triton release in {inp.runtime.image}: exported for ONNX Runtime "
                f"{self.target.onnxruntime} limits (opset {self.target.max_opset})"
            )

    def execute(self) -> Report:
        inp, spec = self.inp, self.inp.optimization
        with self.progress.stage("fetch", inp.model.uri):
            source = fetch(inp.model.uri, self.workdir, sha256=inp.model.sha256)
        with self.progress.stage("load", "detecting the format"):
            fmt = detect(source, inp.model.format, inp.model.architecture)
            self.progress.log(f"format: {fmt}", format=fmt)
        with self.progress.stage("export", f"{fmt} to ONNX opset {self.target.opset}"):
            exported = export(source, fmt, inp.model, self.target, self.workdir)
        self.notes += exported.notes
        with self.progress.stage("prepare", "samples and reference outputs"):
            samples = self._samples(exported)
            held_out = samples.held_out(spec.accuracy_gate.samples)
            reference = gate.run(exported.path, held_out)
            base = exported.path
            pruning_stats: dict[str, float] = {}
            if spec.pruning is not None:
                base = self.workdir / "pruned" / "model.onnx"
                pruning_stats = prune.prune(exported.path, base, self.target, spec.pruning)
                self.notes.append(
                    f"pruned {pruning_stats['sparsity']:.0%} of the Conv/MatMul/Gemm weights "
                    "(unstructured: the file is no smaller and dense kernels are no faster)"
                )
        calibration_count = spec.calibration.samples if spec.calibration else 128
        ctx = cands.Context(
            base=base,
            target=self.target,
            spec=spec,
            gpu=inp.gpu,
            workdir=self.workdir / "candidates",
            held_out=held_out,
            reference=reference,
            calibration=lambda: samples.calibration(calibration_count),
            log=lambda message: self.progress.log(message),
            int8=self.options.int8,
        )
        with self.progress.stage("candidates", f"strategy {spec.strategy}"):
            tried = self._candidates(ctx)
        baseline = Candidate("fp32", "fp32", "FP32 ONNX export", path=exported.path)
        baseline.verdict = gate.decide(
            gate.metrics(reference, reference), spec.accuracy_gate, len(reference)
        )
        baseline.status = "passed"
        if spec.pruning is not None:
            baseline.note = "unpruned export: the reference"
        with self.progress.stage("benchmark", "interleaved, same process"):
            stats = self._benchmark(exported, samples, baseline, tried)
        chosen, reason, message = self._choose(baseline, tried, stats)
        self.samples_info = {
            "source": samples.description,
            "heldOut": len(reference),
            "calibration": calibration_count if any(c.kind == "static-int8" for c in tried) else 0,
            **({"pruning": pruning_stats} if pruning_stats else {}),
        }
        with self.progress.stage("write", self.options.output):
            return self._write(exported, fmt, baseline, tried, stats, chosen, reason, message)

    def _samples(self, exported: Exported) -> Samples:
        spec = self.inp.optimization
        calibration = spec.calibration
        if calibration is not None and calibration.source == "uri" and calibration.uri:
            path = fetch(calibration.uri, self.workdir / "calibration")
            return NpzSamples(path, exported.io, calibration.samples, spec.accuracy_gate.samples)
        if exported.tokenizer is not None and exported.seq_len:
            return TextSamples(exported.tokenizer, exported.io, exported.seq_len)
        return RandomSamples(exported.io.inputs, sample_dims(exported.io, exported.declared_dims))

    def _candidates(self, ctx: cands.Context) -> list[Candidate]:
        spec = self.inp.optimization
        kinds, skipped = cands.plan(ctx, self.options.only)
        tried: list[Candidate] = list(skipped)
        if spec.pruning is not None and spec.strategy != "none":
            pruned = Candidate("pruned-fp32", "fp32", "magnitude-pruned FP32", path=ctx.base)
            cands.judge(ctx, pruned)
            tried.append(pruned)
        for kind in kinds:
            self.progress.log(f"building {kind}", candidate=kind)
            candidate = cands.build(ctx, kind)
            tried.append(candidate)
            retry = kind in ("dynamic-int8", "static-int8") and candidate.status == "rejected"
            if spec.strategy == "auto" and retry:
                tried += cands.retry_int8(ctx, candidate)
        return tried

    def _bench_batches(self, exported: Exported) -> tuple[int, ...]:
        if self.options.batch_sizes:
            return self.options.batch_sizes
        limit = self.inp.triton.max_batch_size if exported.io.batchable else 1
        return (1,) if limit <= 1 else (1, min(DEFAULT_BENCH_BATCH, limit))

    def _benchmark(
        self, exported: Exported, samples: Samples, baseline: Candidate, tried: list[Candidate]
    ) -> dict[str, list[benchmark.Stats]]:
        models = {baseline.name: baseline.path}
        models |= {c.name: c.path for c in tried if c.passed and c.path is not None}
        batches = {size: samples.batch(size) for size in self._bench_batches(exported)}
        return benchmark.measure(
            {k: v for k, v in models.items() if v is not None},
            batches,
            seconds_per_batch=self.options.bench_seconds,
        )

    def _choose(
        self, baseline: Candidate, tried: list[Candidate], stats: dict[str, list[benchmark.Stats]]
    ) -> tuple[Candidate, str, str]:
        spec = self.inp.optimization
        # Naive (ONNX Runtime default) candidates are comparison points, never results.
        passing = [
            c for c in tried if c.passed and c.name in stats and not c.name.endswith("-naive")
        ]
        if spec.strategy == "none":
            return baseline, "NotOptimized", "strategy none: served the FP32 export as it is"
        if spec.strategy == "explicit" and not passing:
            failed = next((c for c in tried if c.status in ("rejected", "failed")), None)
            detail = f"{failed.name}: {failed.note}" if failed else "no candidate was built"
            raise OptimizerError(
                "AccuracyGateFailed", f"the requested optimization failed: {detail}"
            )
        if not passing:
            return (
                baseline,
                "NothingPassedGate",
                ("no candidate passed the accuracy gate; served the FP32 export"),
            )
        pool = [baseline, *passing] if spec.strategy == "auto" else passing
        if self.inp.gpu and any(c.kind == "fp16" for c in pool):
            # CPU timings cannot rank GPU kernels; on a GPU, FP16 halves memory traffic
            # and runs on tensor cores, so a passing FP16 beats FP32 there.
            pool = [c for c in pool if c.kind not in ("fp32", "fp32-optimized")]
        best = min(stats[c.name][0].p50_ms for c in pool)
        fast = [c for c in pool if stats[c.name][0].p50_ms <= best * (1 + SPEED_TIE)]
        chosen = min(fast, key=lambda c: (c.bytes or 0, stats[c.name][0].p50_ms))
        if chosen is baseline:
            return (
                baseline,
                "BaselineFastest",
                ("candidates passed the gate but none was faster than the FP32 export"),
            )
        speed = stats[baseline.name][0].p50_ms / stats[chosen.name][0].p50_ms
        assert chosen.verdict is not None
        return (
            chosen,
            "GatePassed",
            (
                f"{chosen.name}: {speed:.2f}x faster at batch 1, {chosen.verdict.metric} "
                f"{chosen.verdict.value:.4f} (threshold {chosen.verdict.threshold})"
            ),
        )

    def _write(
        self,
        exported: Exported,
        fmt: str,
        baseline: Candidate,
        tried: list[Candidate],
        stats: dict[str, list[benchmark.Stats]],
        chosen: Candidate,
        reason: str,
        message: str,
    ) -> Report:
        inp = self.inp
        assert chosen.path is not None
        local = Path(self.options.output)
        if self.options.output.startswith("s3://"):
            local = self.workdir / "publish"
        local.mkdir(parents=True, exist_ok=True)
        chosen_stats = stats[chosen.name]
        preferred = [
            s.batch_size
            for s in chosen_stats
            if s.batch_size > 1 and s.throughput >= 1.1 * chosen_stats[0].throughput
        ]
        io = repository.io_signature(chosen.path)
        config = repository.render_config(
            inp.name, io, inp.triton, inp.gpu, preferred_batch_sizes=preferred
        )
        repository.parse_config(config)  # never write a config Triton would reject
        repository.write_repository(local, inp.name, chosen.path, config)
        chosen.status = "chosen"
        base_p50 = {s.batch_size: s.p50_ms for s in stats[baseline.name]}
        reports = [_candidate_report(c, stats, base_p50) for c in tried]
        verdict = chosen.verdict
        summary = Summary(
            ok=True,
            reason=reason,
            message=message,
            revision=revision_of(inp.model, inp.optimization, inp.runtime),
            chosen=chosen.name,
            original_bytes=model_bytes(exported.path),
            optimized_bytes=model_bytes(chosen.path),
            speedup=round(base_p50[chosen_stats[0].batch_size] / chosen_stats[0].p50_ms, 3),
            accuracy=AccuracySummary(
                metric=verdict.metric,
                value=round(verdict.value, 6),
                threshold=verdict.threshold,
                passed=verdict.passed,
            )
            if verdict
            else None,
            latency_p50_ms=chosen_stats[0].p50_ms,
            latency_p99_ms=chosen_stats[0].p99_ms,
            throughput=chosen_stats[-1].throughput,
            artifact=str(self.options.output).rstrip("/") + f"/{inp.name}",
        )
        report = Report(
            summary=summary,
            name=inp.name,
            source=safe_uri(inp.model.uri),
            format=fmt,
            target={
                "image": self.target.image,
                "release": self.target.release,
                "onnxruntime": self.target.onnxruntime,
                "opset": self.target.opset,
                "maxIrVersion": self.target.max_ir_version,
            },
            strategy=inp.optimization.strategy,
            inputs=[t.to_dict() for t in exported.io.inputs],
            outputs=[t.to_dict() for t in exported.io.outputs],
            samples=self.samples_info,
            export={"format": fmt, **{k: float(f"{v:.3g}") for k, v in exported.check.items()}},
            baseline=_candidate_report(baseline, stats, base_p50),
            candidates=reports,
            environment=_environment(),
            notes=self.notes,
            duration_seconds=elapsed(self.started),
        )
        (local / "report.json").write_text(report.model_dump_json(by_alias=True, indent=2))
        publish(local, self.options.output)
        return report


def _candidate_report(
    c: Candidate, stats: dict[str, list[benchmark.Stats]], base_p50: dict[int, float]
) -> CandidateReport:
    latency = [
        Latency(
            batch_size=s.batch_size,
            p50_ms=s.p50_ms,
            p99_ms=s.p99_ms,
            throughput=s.throughput,
            runs=s.runs,
        )
        for s in stats.get(c.name, [])
    ]
    v = c.verdict
    return CandidateReport(
        name=c.name,
        quantization=cands.QUANTIZATION_OF.get(c.kind, c.kind),
        description=c.description,
        status=c.status,
        note=c.note,
        bytes=c.bytes,
        accuracy=Accuracy(
            metric=v.metric,
            value=v.value,
            threshold=v.threshold,
            passed=v.passed,
            samples=v.samples,
            metrics={k: round(x, 6) for k, x in v.metrics.items()},
        )
        if v
        else None,
        latency=latency,
        speedup_p50={
            str(s.batch_size): round(base_p50[s.batch_size] / s.p50_ms, 3)
            for s in stats.get(c.name, [])
            if s.batch_size in base_p50
        },
        excluded_nodes=c.excluded,
        build_seconds=c.build_seconds,
    )


def _environment() -> dict[str, Any]:
    versions: dict[str, str] = {"python": platform.python_version()}
    for module in ("numpy", "onnx", "onnxruntime", "torch", "torchvision", "transformers"):
        loaded = sys.modules.get(module)
        if loaded is not None:
            versions[module] = str(getattr(loaded, "__version__", "?"))
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "versions": versions,
        "cpu": cpu,
        "vnni": has_vnni(),
        "threads": benchmark.threads(),
        "peakMemoryBytes": benchmark.peak_memory_bytes(),
        "platform": platform.platform(),
    }
