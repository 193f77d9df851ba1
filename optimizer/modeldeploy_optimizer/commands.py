"""``modeldeploy optimize`` and the Job's ``python -m modeldeploy_optimizer``.

Light at import: argparse only; the ML stack loads when a command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DEFAULT_TERMINATION_LOG = "/dev/termination-log"


def add_arguments(parser: argparse.ArgumentParser, *, job: bool) -> None:
    """The options shared by the CLI subcommand and the Job's entry point."""
    if job:
        parser.add_argument(
            "--input", required=True, help="OptimizerInput as a JSON file path or inline JSON"
        )
    else:
        parser.add_argument(
            "input",
            help="a model path/URI (optimized with defaults), or an OptimizerInput "
            "(JSON file or inline JSON)",
        )
        parser.add_argument("--name", help="model name when INPUT is a model path")
        parser.add_argument(
            "--strategy", choices=("auto", "explicit", "none"), help="when INPUT is a model path"
        )
        parser.add_argument(
            "--quantization",
            choices=("none", "dynamic-int8", "static-int8", "fp16"),
            help="with --strategy explicit, when INPUT is a model path",
        )
    parser.add_argument(
        "--output", required=True, help="model repository folder or s3://bucket/prefix"
    )
    parser.add_argument(
        "--termination-log",
        default=DEFAULT_TERMINATION_LOG if job else None,
        help=f"where the summary goes (Job default {DEFAULT_TERMINATION_LOG})",
    )
    parser.add_argument("--workdir", type=Path, help="keep intermediate files here")
    parser.add_argument(
        "--bench-seconds", type=float, default=4.0, help="benchmark time per batch size"
    )
    parser.add_argument(
        "--batch-sizes", help="comma-separated benchmark batch sizes (default 1 and 16)"
    )
    parser.add_argument(
        "--int8-per-tensor",
        action="store_true",
        help="INT8 with one scale per tensor (ONNX Runtime's default) instead of per channel",
    )
    parser.add_argument(
        "--int8-op-types", help="comma-separated op types to quantize (default: per method)"
    )
    parser.add_argument("--int8-exclude", help="comma-separated node names to keep in float")
    parser.add_argument(
        "--candidates",
        help="comma-separated candidates for strategy auto "
        "(fp32-optimized, dynamic-int8, static-int8, fp16)",
    )


def register(subparsers: Any) -> None:
    """Add ``optimize`` to the ``modeldeploy`` command."""
    parser = subparsers.add_parser(
        "optimize",
        help="compress, validate and benchmark a model; write a Triton model repository",
        description="Export a model to ONNX, try compressed candidates, keep the fastest that "
        "passes the accuracy gate, and write <output>/<name>/config.pbtxt, "
        "<output>/<name>/1/model.onnx and <output>/report.json.",
    )
    add_arguments(parser, job=False)
    parser.set_defaults(handler=handle)


def _input_text(args: argparse.Namespace) -> str:
    text: str = args.input
    stripped = text.strip()
    if stripped.startswith("{") or (stripped.endswith(".json") and Path(stripped).is_file()):
        return text
    from modeldeploy_optimizer.sources import as_uri

    name = args.name or Path(stripped.rstrip("/")).stem.lower().replace("_", "-").replace(".", "-")
    optimization: dict[str, Any] = {}
    if args.strategy:
        optimization["strategy"] = args.strategy
    if args.quantization:
        optimization["quantization"] = args.quantization
        if args.quantization == "static-int8":
            optimization["calibration"] = {"samples": 64}
    return json.dumps(
        {"name": name, "model": {"uri": as_uri(stripped)}, "optimization": optimization}
    )


def handle(args: argparse.Namespace) -> int:
    """Run the optimization; 0 when a model was written."""
    from modeldeploy_optimizer.pipeline import Options, run
    from modeldeploy_optimizer.quantize import Int8Settings

    text = _input_text(args) if hasattr(args, "strategy") else args.input
    options = Options(
        output=args.output,
        termination_log=Path(args.termination_log) if args.termination_log else None,
        workdir=args.workdir,
        bench_seconds=args.bench_seconds,
        batch_sizes=tuple(int(b) for b in args.batch_sizes.split(","))
        if args.batch_sizes
        else None,
        only=args.candidates.split(",") if args.candidates else None,
        int8=Int8Settings(
            per_channel=not args.int8_per_tensor,
            op_types=tuple(args.int8_op_types.split(",")) if args.int8_op_types else None,
            exclude=tuple(args.int8_exclude.split(",")) if args.int8_exclude else (),
        ),
    )
    return run(text, options)


def main(argv: list[str] | None = None) -> int:
    """The Job's entry point: ``python -m modeldeploy_optimizer --input ... --output ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m modeldeploy_optimizer", description="The optimization Job."
    )
    add_arguments(parser, job=True)
    return handle(parser.parse_args(argv))
