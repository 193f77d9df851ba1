"""The light parts stay light, and the command line speaks the API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from modeldeploy_optimizer.spec import ModelSpec, OptimizationSpec, RuntimeSpec, revision_of

from tests.support.manifests import EXAMPLES

HEAVY = ("torch", "onnx", "onnxruntime", "transformers", "kopf", "kubernetes")


def test_api_modules_import_no_ml_framework() -> None:
    code = (
        "import sys, importlib\n"
        "for m in ('modeldeploy_optimizer.spec', 'modeldeploy_optimizer.apimodel',"
        " 'modeldeploy_operator.api', 'modeldeploy_local.cli'):\n"
        "    importlib.import_module(m)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_revision_changes_with_the_artifact_only() -> None:
    model = ModelSpec(uri="pvc://models/m")
    base = revision_of(model, OptimizationSpec(), RuntimeSpec())
    assert len(base) == 10
    assert base == revision_of(ModelSpec(uri="pvc://models/m"), OptimizationSpec(), RuntimeSpec())
    # What changes the artifact changes the revision ...
    assert base != revision_of(
        model, OptimizationSpec(strategy="explicit", quantization="fp16"), RuntimeSpec()
    )
    assert base != revision_of(ModelSpec(uri="pvc://models/n"), OptimizationSpec(), RuntimeSpec())
    assert base != revision_of(
        model, OptimizationSpec(), RuntimeSpec(image="nvcr.io/nvidia/tritonserver:24.01-py3")
    )
    # ... what does not, does not: a rotated Secret or a bigger Job re-optimizes nothing.
    assert base == revision_of(
        ModelSpec(uri="pvc://models/m", credentials_secret="other"),
        OptimizationSpec(timeout_seconds=120, resources={"requests": {"cpu": 4}}),
        RuntimeSpec(),
    )


def test_validate_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: modeldeploy.dev/v1alpha1\nkind: ModelDeployment\nmetadata: {name: x}\n"
        "spec: {model: {uri: 'ftp://m/x'}}\n"
    )
    command = [sys.executable, "-m", "modeldeploy_local", "validate", str(bad), str(EXAMPLES[0])]
    out = subprocess.run(command, capture_output=True, text=True)
    assert out.returncode == 1
    assert f"{bad}: spec.model.uri: String should match pattern" in out.stderr
    assert f"{EXAMPLES[0]}: minilm is valid (revision " in out.stdout
