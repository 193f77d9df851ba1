"""Real photos for calibration and evaluation, from files that ship inside wheels.

scikit-image ships a handful of photos (astronaut, coffee, cat, rocket ...) and
scikit-learn two (china, flower). Random crops, scales and flips of them give many
varied ImageNet-style inputs without downloading anything. The packages are located,
not imported (their dependencies need not be installed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from modeldeploy_optimizer.errors import OptimizerError

_SKIMAGE_PHOTOS = (
    "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
    "hubble_deep_field.jpg", "retina.jpg", "color.png", "ihc.png",
)  # fmt: skip
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def photo_files() -> list[Path]:
    """Colour photos found in the installed scikit-image and scikit-learn wheels."""
    files: list[Path] = []
    skimage = _package_dir("skimage")
    if skimage is not None:
        files += [skimage / "data" / n for n in _SKIMAGE_PHOTOS if (skimage / "data" / n).exists()]
    sklearn = _package_dir("sklearn")
    if sklearn is not None:
        images = sklearn / "datasets" / "images"
        files += [images / n for n in ("china.jpg", "flower.jpg") if (images / n).exists()]
    if len(files) < 3:
        raise OptimizerError(
            "InvalidInput",
            "real photos need scikit-image and scikit-learn installed "
            "(pip install --no-deps scikit-image scikit-learn)",
        )
    return files


def photo_batch(count: int, size: int = 224, seed: int = 0) -> np.ndarray:
    """``count`` ImageNet-normalized NCHW float32 crops of real photos."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = [Image.open(p).convert("RGB") for p in photo_files()]
    out = np.empty((count, 3, size, size), dtype=np.float32)
    for index in range(count):
        image = images[int(rng.integers(len(images)))]
        width, height = image.size
        side = int(min(width, height) * rng.uniform(0.35, 1.0))
        left = int(rng.integers(0, width - side + 1))
        top = int(rng.integers(0, height - side + 1))
        crop = image.crop((left, top, left + side, top + side)).resize((size, size))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        pixels = np.asarray(crop, dtype=np.float32) / 255.0
        out[index] = ((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
    return out


def write_npz(path: Path, input_name: str, count: int, size: int = 224, seed: int = 0) -> Path:
    """Photos as an .npz of calibration/held-out samples for ``calibration.uri``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {input_name: photo_batch(count, size, seed)}
    np.savez(path, **arrays)
    return path
