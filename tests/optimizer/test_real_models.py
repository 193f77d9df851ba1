"""End to end on real models from wheels: MiniLM, ResNet-18, EfficientNet-Lite0 on photos.

These assert the gate's decisions and what is written, not timings. Each model is
prepared once per session; the optimizations share its files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modeldeploy_optimizer import gate, quantize, workloads
from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.pipeline import Options, optimize
from modeldeploy_optimizer.progress import Progress
from modeldeploy_optimizer.quantize import Int8Settings
from modeldeploy_optimizer.report import Report
from modeldeploy_optimizer.repository import parse_config
from modeldeploy_optimizer.runtimes import target_for
from modeldeploy_optimizer.samples import TextSamples
from modeldeploy_optimizer.spec import DEFAULT_TRITON_IMAGE, OptimizerInput

pytestmark = pytest.mark.slow


def prepared(factory: Any, folder: Path) -> dict[str, Any]:
    try:
        spec: dict[str, Any] = factory(folder)
    except OptimizerError as error:
        pytest.fail(error.message)
    return spec


def run(spec: dict[str, Any], out: Path, **options: Any) -> Report:
    quiet = Progress(interactive=False, stream=open("/dev/null", "w"))  # noqa: SIM115
    settings = Options(
        output=str(out), bench_seconds=0.3, batch_sizes=(1, 4), progress=quiet, **options
    )
    return optimize(OptimizerInput.model_validate(spec), settings)


@pytest.fixture(scope="session")
def minilm_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path, Path]:
    """MiniLM through the pipeline (dynamic INT8 only), workdir kept for the next tests."""
    root = tmp_path_factory.mktemp("minilm")
    spec = prepared(workloads.minilm, root)
    spec["optimization"]["accuracyGate"]["samples"] = 200
    report = run(spec, root / "out", workdir=root / "work", only=["dynamic-int8"])
    return report, root / "out", root / "work"


def test_minilm_dynamic_int8_per_channel_passes_the_gate(
    minilm_run: tuple[Report, Path, Path],
) -> None:
    report, out, _ = minilm_run
    summary = report.summary
    assert (summary.reason, summary.chosen) == ("GatePassed", "dynamic-int8")
    assert summary.accuracy is not None
    assert summary.accuracy.metric == "cosine"
    assert summary.accuracy.value >= 0.99
    assert report.samples["heldOut"] == 200
    assert summary.original_bytes is not None
    assert summary.optimized_bytes is not None
    assert summary.original_bytes / summary.optimized_bytes >= 3.8
    config = parse_config((out / "minilm" / "config.pbtxt").read_text())
    assert [i.name for i in config.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in config.output] == ["embedding"]
    assert list(config.output[0].dims) == [384]
    written = json.loads((out / "report.json").read_text())
    assert written["format"] == "sentence-transformers"
    assert written["export"]["relative_l2"] < 1e-3


def test_minilm_per_tensor_dynamic_int8_fails_the_gate(
    minilm_run: tuple[Report, Path, Path], tmp_path: Path
) -> None:
    """ONNX Runtime's default (per-tensor) dynamic INT8 loses too much for a 0.99 gate."""
    report, _, work = minilm_run
    from transformers import AutoTokenizer

    model_dir = workloads.minilm(tmp_path)["model"]["uri"].removeprefix("file://")
    fp32 = work / "fp32" / "model.onnx"
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    from modeldeploy_optimizer.repository import io_signature

    held_out = TextSamples(tokenizer, io_signature(fp32), 128).held_out(200)
    target = target_for(DEFAULT_TRITON_IMAGE)
    per_tensor = tmp_path / "per-tensor.onnx"
    quantize.dynamic_int8(fp32, per_tensor, target, Int8Settings(per_channel=False))
    reference = gate.run(fp32, held_out)
    verdict = gate.decide(
        gate.metrics(reference, gate.run(per_tensor, held_out)),
        OptimizerInput.model_validate(workloads.minilm(tmp_path)).optimization.accuracy_gate,
        200,
    )
    assert not verdict.passed
    assert verdict.metrics["cosine_mean"] < 0.99
    assert report.summary.accuracy is not None
    assert report.summary.accuracy.value > verdict.value  # per-channel beats it


def test_resnet18_static_int8(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("resnet18")
    spec = prepared(workloads.resnet18, root)
    spec["optimization"].update(strategy="explicit", quantization="static-int8")
    report = run(spec, root / "out")
    summary = report.summary
    assert (summary.reason, summary.chosen) == ("GatePassed", "static-int8")
    assert summary.accuracy is not None
    assert summary.accuracy.value >= 0.999
    assert summary.original_bytes is not None
    assert summary.optimized_bytes is not None
    assert summary.original_bytes / summary.optimized_bytes >= 3.9
    chosen = report.candidates[-1]
    assert "per-channel" in chosen.description
    assert "U8S8" in chosen.description
    import onnx

    model = onnx.load(str(root / "out" / "resnet18" / "1" / "model.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops


@pytest.fixture(scope="session")
def efficientnet_spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return prepared(workloads.efficientnet_lite0, tmp_path_factory.mktemp("efficientnet"))


def test_efficientnet_naive_int8_is_rejected_and_auto_ends_on_a_passing_model(
    efficientnet_spec: dict[str, Any], tmp_path: Path
) -> None:
    report = run(
        efficientnet_spec,
        tmp_path / "out",
        only=["static-int8-naive", "static-int8", "fp16"],
    )
    by_name = {c.name: c for c in report.candidates}
    naive = by_name["static-int8-naive"]
    assert naive.status == "rejected"
    assert naive.accuracy is not None
    assert naive.accuracy.metric == "top1-agreement"
    assert naive.accuracy.value < 0.9
    assert "misses threshold" in naive.note
    # the recommended INT8 settings are measured, and retried without sensitive layers
    assert "static-int8" in by_name
    if by_name["static-int8"].status == "rejected":
        assert "most sensitive layers" in by_name["static-int8"].note
        retries = [c for c in report.candidates if c.name.startswith("static-int8-excl")]
        assert retries
        assert all(len(c.excluded_nodes) >= 1 for c in retries)
    # whatever is served passed the gate, and the report says why it was chosen
    summary = report.summary
    assert summary.ok
    assert summary.accuracy is not None
    assert summary.accuracy.passed
    assert summary.accuracy.value >= 0.9
    assert summary.reason in ("GatePassed", "BaselineFastest")
    served = tmp_path / "out" / "efficientnet-lite0" / "1" / "model.onnx"
    assert served.exists()
    rejected = {c.name for c in report.candidates if c.status == "rejected"}
    assert summary.chosen not in rejected
    assert by_name["fp16"].status in ("passed", "chosen")


def test_efficientnet_explicit_naive_gate_failure_writes_nothing(
    efficientnet_spec: dict[str, Any], tmp_path: Path
) -> None:
    spec = json.loads(json.dumps(efficientnet_spec))
    spec["optimization"].update(strategy="explicit", quantization="static-int8")
    naive = Int8Settings(per_channel=False, reduce_range=False)
    with pytest.raises(OptimizerError) as caught:
        run(spec, tmp_path / "out", int8=naive)
    assert caught.value.reason == "AccuracyGateFailed"
    assert "top1-agreement" in caught.value.message
    assert not (tmp_path / "out" / "efficientnet-lite0").exists()
