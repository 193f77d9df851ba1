"""Tell a model's format from its files (format ``auto``) and check a declared one.

Detection reads file names and zip entry names only: it never unpickles anything.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from modeldeploy_optimizer.errors import OptimizerError

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ts", ".pkl", ".ckpt", ".torchscript")
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def model_file(path: Path) -> Path:
    """The one model file in a folder (ONNX or torch), or the path itself if it is a file."""
    if path.is_file():
        return path
    onnx_files = sorted(path.glob("*.onnx"))
    if len(onnx_files) == 1:
        return onnx_files[0]
    if len(onnx_files) > 1:
        named = path / "model.onnx"
        if named.exists():
            return named
        names = ", ".join(p.name for p in onnx_files)
        raise OptimizerError(
            "UnknownFormat", f"{path} holds several ONNX files ({names}): point the URI at one"
        )
    torch_files = sorted(p for p in path.iterdir() if p.suffix in TORCH_SUFFIXES)
    if len(torch_files) == 1:
        return torch_files[0]
    raise OptimizerError(
        "UnknownFormat",
        f"{path}: found no model file (*.onnx, a TorchScript/torch file, or a Hugging Face "
        "folder with config.json and model.safetensors)",
    )


def is_hugging_face_dir(path: Path) -> bool:
    return (
        path.is_dir()
        and (path / "config.json").exists()
        and any((path / w).exists() for w in HF_WEIGHTS)
    )


def detect(path: Path, declared: str, architecture: str | None) -> str:
    """The model's format: ``declared`` checked against the files, or detected for ``auto``."""
    if declared in ("sentence-transformers", "huggingface"):
        if not is_hugging_face_dir(path):
            raise OptimizerError(
                "UnknownFormat",
                f"format {declared} needs a folder with config.json and model.safetensors "
                f"(or pytorch_model.bin); {path.name} is not one",
            )
        return declared
    if declared != "auto":
        return declared
    if is_hugging_face_dir(path):
        sentence = (path / "modules.json").exists() or (path / "sentence_bert_config.json").exists()
        return "sentence-transformers" if sentence else "huggingface"
    file = model_file(path)
    if file.suffix == ".onnx" or _looks_like_onnx(file):
        return "onnx"
    if zipfile.is_zipfile(file):
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            if architecture:
                return "state-dict"
            raise OptimizerError(
                "UnknownFormat",
                f"{file.name} is a torch.save file: set format state-dict with architecture "
                "(e.g. torchvision:resnet18), or format pytorch with allowPickle: true, "
                "or export TorchScript/ONNX",
            )
    raise OptimizerError(
        "UnknownFormat",
        f"cannot tell the format of {file.name}: expected ONNX, TorchScript, a torch "
        "state_dict with architecture, or a Hugging Face / sentence-transformers folder",
    )


def _looks_like_onnx(file: Path) -> bool:
    """An ONNX file without the .onnx suffix: a ModelProto with a graph parses."""
    if file.stat().st_size > 4 << 30 or zipfile.is_zipfile(file):
        return False
    try:
        import onnx

        model = onnx.load(str(file), load_external_data=False)
    except Exception:
        return False
    return len(model.graph.node) > 0
