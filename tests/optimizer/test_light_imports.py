"""The operator imports spec and report: they must not pull in an ML framework."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "onnx", "onnxruntime", "transformers", "numpy", "tritonclient")


def test_spec_report_and_commands_import_no_ml_framework() -> None:
    code = (
        "import sys, json\n"
        "import modeldeploy_optimizer.spec, modeldeploy_optimizer.report\n"
        "import modeldeploy_optimizer.commands, modeldeploy_optimizer.errors\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_modeldeploy_cli_has_optimize() -> None:
    from modeldeploy_local.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["optimize", "model.onnx", "--output", "/tmp/out"])
    assert callable(args.handler)
    assert args.output == "/tmp/out"
