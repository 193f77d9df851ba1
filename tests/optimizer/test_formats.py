"""Format detection reads file names only, never unpickles."""

from __future__ import annotations

from pathlib import Path

import pytest
from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.formats import detect


def test_onnx_file_and_folder(tiny_onnx: Path) -> None:
    assert detect(tiny_onnx, "auto", None) == "onnx"
    assert detect(tiny_onnx.parent, "auto", None) == "onnx"


def test_torchscript(tiny_torchscript: Path) -> None:
    assert detect(tiny_torchscript, "auto", None) == "torchscript"


def test_state_dict_needs_an_architecture(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "weights.pth"
    torch.save({"w": torch.zeros(2)}, path)
    assert detect(path, "auto", "torchvision:resnet18") == "state-dict"
    with pytest.raises(OptimizerError) as caught:
        detect(path, "auto", None)
    assert caught.value.reason == "UnknownFormat"
    assert "architecture" in caught.value.message
    assert "allowPickle" in caught.value.message


def test_hugging_face_folders(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert detect(tmp_path, "auto", None) == "huggingface"
    (tmp_path / "modules.json").write_text("[]")
    assert detect(tmp_path, "auto", None) == "sentence-transformers"


def test_declared_hugging_face_format_is_checked(tmp_path: Path) -> None:
    with pytest.raises(OptimizerError, match=r"config\.json"):
        detect(tmp_path, "sentence-transformers", None)


def test_unknown_files(tmp_path: Path) -> None:
    junk = tmp_path / "model.bin"
    junk.write_bytes(b"\x00not a model")
    with pytest.raises(OptimizerError) as caught:
        detect(junk, "auto", None)
    assert caught.value.reason == "UnknownFormat"
    with pytest.raises(OptimizerError, match="found no model file"):
        detect(_empty(tmp_path), "auto", None)


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder
