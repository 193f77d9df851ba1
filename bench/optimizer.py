"""Benchmark the optimizer on its reference workloads and record the ratios.

    .venv/bin/python bench/optimizer.py [--workloads minilm,resnet18,efficientnet-lite0]
                                        [--bench-seconds 8] [--out bench/results/optimizer.json]

Each workload runs the real optimizer (strategy auto, plus ONNX Runtime's default
INT8 settings as extra "naive" candidates for comparison). Latencies are measured
interleaved in one process, so the speedups are ratios against the FP32 ONNX export
under the same load; absolute milliseconds depend on the machine and are not the point.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from modeldeploy_optimizer import workloads
from modeldeploy_optimizer.candidates import ALL_KINDS
from modeldeploy_optimizer.pipeline import Options, optimize
from modeldeploy_optimizer.progress import Progress
from modeldeploy_optimizer.report import CandidateReport, Report
from modeldeploy_optimizer.spec import OptimizerInput

WORKLOADS = {
    "minilm": (workloads.minilm, "dynamic-int8-naive"),
    "resnet18": (workloads.resnet18, "static-int8-naive"),
    "efficientnet-lite0": (workloads.efficientnet_lite0, "static-int8-naive"),
}


def _candidate(c: CandidateReport) -> dict[str, Any]:
    return {
        "name": c.name,
        "status": c.status,
        "description": c.description,
        "bytes": c.bytes,
        "optimized_bytes": c.bytes,
        "speedup_p50": c.speedup_p50,
        "accuracy": c.accuracy.metrics if c.accuracy else {},
        "gate_passed": c.accuracy.passed if c.accuracy else None,
        "excluded_nodes": len(c.excluded_nodes),
        "note": c.note,
    }


def run_workload(name: str, folder: Path, seconds: float) -> dict[str, Any]:
    prepare, naive = WORKLOADS[name]
    spec = OptimizerInput.model_validate(prepare(folder / "model"))
    options = Options(
        output=str(folder / "out"),
        bench_seconds=seconds,
        batch_sizes=(1, 16),
        only=[*ALL_KINDS, naive],
        progress=Progress(interactive=False, stream=open(os.devnull, "w")),  # noqa: SIM115
    )
    started = time.monotonic()
    report: Report = optimize(spec, options)
    summary = report.summary
    chosen = next((c for c in report.candidates if c.status == "chosen"), report.baseline)
    assert chosen is not None
    return {
        "workload": name,
        "chosen": summary.chosen,
        "reason": summary.reason,
        "original_bytes": summary.original_bytes,
        "optimized_bytes": summary.optimized_bytes,
        "size_ratio": round(
            (summary.original_bytes or 0) / max(summary.optimized_bytes or 1, 1), 2
        ),
        "speedup_p50": chosen.speedup_p50,
        "accuracy": chosen.accuracy.metrics if chosen.accuracy else {},
        "gate": {
            "metric": summary.accuracy.metric if summary.accuracy else None,
            "threshold": summary.accuracy.threshold if summary.accuracy else None,
            "samples": report.samples.get("heldOut"),
        },
        "gate_passed": bool(summary.accuracy and summary.accuracy.passed),
        "candidates": [_candidate(c) for c in report.candidates if c.status != "skipped"],
        "seconds": round(time.monotonic() - started, 1),
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        f"{'workload':<20}{'candidate':<26}{'status':<10}{'size x':>8}{'p50 x b1':>10}"
        f"{'p50 x b16':>11}  accuracy",
    ]
    for result in results:
        original = result["original_bytes"]
        for c in result["candidates"]:
            size = original / c["bytes"] if c["bytes"] else 0.0
            speed = c["speedup_p50"]
            accuracy = ", ".join(
                f"{k} {v:.4f}"
                for k, v in c["accuracy"].items()
                if k in ("cosine_mean", "top1_agreement")
            )
            b1, b16 = speed.get("1", float("nan")), speed.get("16", float("nan"))
            lines.append(
                f"{result['workload']:<20}{c['name']:<26}{c['status']:<10}{size:>8.2f}"
                f"{b1:>10.2f}{b16:>11.2f}  {accuracy}"
            )
        lines.append(
            f"{'':<20}=> {result['chosen']} ({result['reason']}): {result['size_ratio']}x smaller, "
            f"p50 speedup {result['speedup_p50']}, gate passed {result['gate_passed']}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--bench-seconds", type=float, default=8.0)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "optimizer.json"
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-optimizer-") as tmp:
        for name in args.workloads.split(","):
            print(f"running {name} ...", file=sys.stderr, flush=True)
            results.append(run_workload(name, Path(tmp) / name, args.bench_seconds))
    from modeldeploy_optimizer.benchmark import threads

    document = {
        "machine": {"cpu_threads": threads(), "platform": platform.platform()},
        "note": "speedups are p50 latency ratios against the FP32 ONNX export, measured "
        "interleaved in one process with ONNX Runtime on CPU",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
