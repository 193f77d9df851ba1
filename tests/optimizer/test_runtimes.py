"""Opset and IR version limits per Triton release."""

from __future__ import annotations

from modeldeploy_optimizer.runtimes import target_for
from modeldeploy_optimizer.spec import DEFAULT_TRITON_IMAGE


def test_default_release_is_known_and_conservative() -> None:
    target = target_for(DEFAULT_TRITON_IMAGE)
    assert target.known
    assert target.opset == 17
    assert target.max_ir_version <= 10


def test_old_release_caps_the_ir_version() -> None:
    target = target_for("nvcr.io/nvidia/tritonserver:23.04-py3")
    assert (target.onnxruntime, target.max_ir_version) == ("1.14.1", 8)


def test_unknown_tag_falls_back_to_the_default_limits() -> None:
    target = target_for("registry.local/triton:latest")
    assert not target.known
    assert target.max_opset == target_for(DEFAULT_TRITON_IMAGE).max_opset
