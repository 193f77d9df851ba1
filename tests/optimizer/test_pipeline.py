"""The Job end to end on a tiny CNN and a tiny ONNX MLP: files, gate, reasons, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort  # type: ignore[import-untyped]
from modeldeploy_optimizer.report import TERMINATION_MESSAGE_LIMIT
from modeldeploy_optimizer.repository import parse_config

from .conftest import Runner, tiny_input


def read_log(path: Path) -> dict[str, object]:
    text = path.read_text()
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT
    result: dict[str, object] = json.loads(text)
    return result


def test_auto_writes_a_gated_repository(
    tiny_torchscript: Path, tmp_path: Path, run_job: Runner
) -> None:
    spec = tiny_input(tiny_torchscript.as_uri(), calibration={"samples": 16})
    out, log = tmp_path / "repo", tmp_path / "termination-log"
    result = run_job(spec, out, log)
    assert result.returncode == 0, result.stderr
    summary = read_log(log)
    assert summary["ok"] is True
    assert summary["reason"] in ("GatePassed", "BaselineFastest")
    assert summary["artifact"] == f"{out}/tiny"
    config = parse_config((out / "tiny" / "config.pbtxt").read_text())
    assert config.max_batch_size == 8
    assert [i.name for i in config.input] == ["x"]
    assert list(config.input[0].dims) == [3, 32, 32]
    model = onnx.load(str(out / "tiny" / "1" / "model.onnx"))
    assert model.ir_version <= 10
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) <= 17
    session = ort.InferenceSession(str(out / "tiny" / "1" / "model.onnx"))
    scores = session.run(None, {"x": np.zeros((3, 3, 32, 32), dtype=np.float32)})[0]
    assert scores.shape == (3, 10)
    report = json.loads((out / "report.json").read_text())
    names = {c["name"]: c for c in report["candidates"]}
    assert {"fp32-optimized", "static-int8", "fp16"} <= set(names)
    assert names["dynamic-int8"]["status"] == "skipped"
    chosen = [c for c in report["candidates"] if c["status"] == "chosen"]
    assert len(chosen) == (0 if summary["chosen"] == "fp32" else 1)
    assert report["summary"] == summary
    assert report["environment"]["threads"] >= 1
    assert report["samples"]["heldOut"] == 64
    # JSON log lines on a non-terminal stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert {"fetch", "export", "benchmark", "write"} <= {e.get("stage") for e in events}


def test_explicit_static_int8_reports_the_quantized_model(
    tiny_torchscript: Path, tmp_path: Path, run_job: Runner
) -> None:
    spec = tiny_input(
        tiny_torchscript.as_uri(),
        strategy="explicit",
        quantization="static-int8",
        calibration={"samples": 16, "method": "percentile"},
        accuracyGate={"metric": "cosine", "threshold": 0.9},
    )
    out, log = tmp_path / "repo", tmp_path / "log"
    result = run_job(spec, out, log)
    assert result.returncode == 0, result.stderr
    summary = read_log(log)
    assert summary["chosen"] == "static-int8"
    model = onnx.load(str(out / "tiny" / "1" / "model.onnx"))
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    assert summary["optimizedBytes"] < summary["originalBytes"]  # type: ignore[operator]


def test_explicit_candidate_failing_the_gate_writes_no_model(
    tiny_torchscript: Path, tmp_path: Path, run_job: Runner
) -> None:
    spec = tiny_input(
        tiny_torchscript.as_uri(),
        strategy="explicit",
        quantization="fp16",
        accuracyGate={"metric": "max-abs", "threshold": 1e-9},
    )
    out, log = tmp_path / "repo", tmp_path / "log"
    result = run_job(spec, out, log)
    assert result.returncode == 1
    summary = read_log(log)
    assert summary == {
        "ok": False,
        "reason": "AccuracyGateFailed",
        "message": summary["message"],
        "revision": summary["revision"],
    }
    assert "fp16" in str(summary["message"])
    assert "max-abs" in str(summary["message"])
    assert not (out / "tiny").exists()
    assert "AccuracyGateFailed" in result.stderr


def test_onnx_input_with_strategy_none(tiny_onnx: Path, tmp_path: Path, run_job: Runner) -> None:
    spec = {
        "name": "mlp",
        "model": {"uri": tiny_onnx.as_uri()},
        "optimization": {"strategy": "none"},
    }
    out, log = tmp_path / "repo", tmp_path / "log"
    result = run_job(spec, out, log)
    assert result.returncode == 0, result.stderr
    summary = read_log(log)
    assert (summary["reason"], summary["chosen"]) == ("NotOptimized", "fp32")
    config = parse_config((out / "mlp" / "config.pbtxt").read_text())
    assert [o.name for o in config.output] == ["logits"]
    assert list(config.output[0].dims) == [8]


def test_failures_exit_non_zero_with_a_reason(
    tiny_torchscript: Path, tmp_path: Path, run_job: Runner
) -> None:
    cases = [
        (tiny_input((tmp_path / "missing.pt").as_uri()), "SourceUnreachable", "no such file"),
        ('{"name": "x"', "InvalidInput", "not JSON"),
        (
            {"name": "Bad_Name", "model": {"uri": "file:///m"}},
            "InvalidInput",
            "invalid optimizer input",
        ),
        (
            {"name": "tiny", "model": {"uri": tiny_torchscript.as_uri()}},
            "InvalidInput",
            "set model.inputs",
        ),
    ]
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x01\x02")
    cases.append(
        ({"name": "junk", "model": {"uri": junk.as_uri()}}, "UnknownFormat", "cannot tell")
    )
    for index, (spec, reason, words) in enumerate(cases):
        log = tmp_path / f"log{index}"
        result = run_job(spec, tmp_path / f"out{index}", log)
        assert result.returncode == 1, (reason, result.stderr)
        summary = read_log(log)
        assert summary["ok"] is False
        assert summary["reason"] == reason
        assert words in str(summary["message"]), summary
        assert reason in result.stderr


def test_cli_optimize_accepts_a_plain_model_path(tiny_onnx: Path, tmp_path: Path) -> None:
    from modeldeploy_local.cli import main

    code = main(
        ["optimize", str(tiny_onnx), "--output", str(tmp_path / "repo"), "--strategy", "none",
         "--bench-seconds", "0.1", "--termination-log", str(tmp_path / "log")]
    )  # fmt: skip
    assert code == 0
    assert (tmp_path / "repo" / "mlp" / "config.pbtxt").exists()
    assert read_log(tmp_path / "log")["chosen"] == "fp32"


def test_unstructured_pruning_is_reported_honestly(
    tiny_torchscript: Path, tmp_path: Path, run_job: Runner
) -> None:
    spec = tiny_input(
        tiny_torchscript.as_uri(),
        strategy="explicit",
        pruning={"sparsity": 0.5},
        accuracyGate={"metric": "cosine", "threshold": 0.5},
    )
    out, log = tmp_path / "repo", tmp_path / "log"
    result = run_job(spec, out, log)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert 0.45 <= report["samples"]["pruning"]["sparsity"] <= 0.55
    assert any("no smaller" in note for note in report["notes"])
    names = {c["name"] for c in report["candidates"]}
    assert "pruned-fp32" in names


def test_structured_pruning_is_refused(
    tiny_torchscript: Path, tmp_path: Path, run_job: Runner
) -> None:
    spec = tiny_input(
        tiny_torchscript.as_uri(),
        strategy="explicit",
        pruning={"sparsity": 0.5, "structured": True},
    )
    result = run_job(spec, tmp_path / "repo", tmp_path / "log")
    assert result.returncode == 1
    summary = read_log(tmp_path / "log")
    assert summary["reason"] == "InvalidInput"
    assert "structured pruning" in str(summary["message"])


def test_pickled_module_needs_the_opt_in_and_then_loads(tmp_path: Path, run_job: Runner) -> None:
    import torch
    from torch import nn

    path = tmp_path / "module.pt"
    torch.save(nn.Sequential(nn.Linear(16, 4)).eval(), path)
    inputs = [{"name": "features", "shape": [-1, 16]}]
    spec = {
        "name": "pickled",
        "model": {"uri": path.as_uri(), "format": "pytorch", "inputs": inputs},
        "optimization": {"strategy": "none"},
    }
    refused = run_job(spec, tmp_path / "no", tmp_path / "log-no")
    assert refused.returncode == 1
    assert "allowPickle" in str(read_log(tmp_path / "log-no")["message"])
    spec["model"]["allowPickle"] = True  # type: ignore[index]
    result = run_job(spec, tmp_path / "repo", tmp_path / "log")
    assert result.returncode == 0, result.stderr
    config = parse_config((tmp_path / "repo" / "pickled" / "config.pbtxt").read_text())
    assert list(config.input[0].dims) == [16]


def test_onnx_is_converted_down_for_an_older_triton(tmp_path: Path, run_job: Runner) -> None:
    import torch
    from torch import nn

    path = tmp_path / "new.onnx"
    torch.onnx.export(
        nn.Sequential(nn.Linear(8, 8), nn.ReLU()).eval(),
        (torch.randn(2, 8),),
        str(path),
        dynamo=False,
        opset_version=20,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
    )
    spec = {
        "name": "old-triton",
        "model": {"uri": path.as_uri()},
        "optimization": {"strategy": "none"},
        "runtime": {"image": "nvcr.io/nvidia/tritonserver:23.04-py3"},
    }
    result = run_job(spec, tmp_path / "repo", tmp_path / "log")
    assert result.returncode == 0, result.stderr
    model = onnx.load(str(tmp_path / "repo" / "old-triton" / "1" / "model.onnx"))
    assert model.ir_version <= 8
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) <= 18
    report = json.loads((tmp_path / "repo" / "report.json").read_text())
    assert report["target"]["onnxruntime"] == "1.14.1"
    assert any("converted opset 20" in note for note in report["notes"])


def test_onnx_with_external_data_is_read_whole(
    tiny_onnx: Path, tmp_path: Path, run_job: Runner
) -> None:
    folder = tmp_path / "external"
    folder.mkdir()
    model = onnx.load(str(tiny_onnx))
    onnx.save_model(
        model,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    assert (folder / "weights.bin").stat().st_size > 1000
    spec = {"name": "ext", "model": {"uri": folder.as_uri()}, "optimization": {"strategy": "none"}}
    result = run_job(spec, tmp_path / "repo", tmp_path / "log")
    assert result.returncode == 0, result.stderr
    served = tmp_path / "repo" / "ext" / "1"
    session = ort.InferenceSession(str(served / "model.onnx"))
    logits = session.run(None, {"features": np.ones((2, 64), dtype=np.float32)})[0]
    reference = ort.InferenceSession(str(tiny_onnx)).run(
        None, {"features": np.ones((2, 64), dtype=np.float32)}
    )[0]
    np.testing.assert_allclose(logits, reference, rtol=1e-5)


def test_int8_settings_from_the_command_line(
    tiny_torchscript: Path, tmp_path: Path, run_job: Runner
) -> None:
    spec = tiny_input(
        tiny_torchscript.as_uri(),
        strategy="explicit",
        quantization="static-int8",
        calibration={"samples": 16},
        accuracyGate={"metric": "cosine", "threshold": 0.5},
    )
    out = tmp_path / "repo"
    extra = ("--int8-per-tensor", "--int8-op-types", "Conv", "--workdir", str(tmp_path / "work"))
    result = run_job(spec, out, tmp_path / "log", *extra)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    chosen = next(c for c in report["candidates"] if c["status"] == "chosen")
    assert "per-tensor" in chosen["description"]
    model = onnx.load(str(out / "tiny" / "1" / "model.onnx"))
    quantized = {n.op_type for n in model.graph.node if n.op_type != "DequantizeLinear"}
    gemm_inputs = [n.input[1] for n in model.graph.node if n.op_type == "Gemm"]
    assert "Conv" in quantized
    assert all("DequantizeLinear" not in name for name in gemm_inputs)  # Gemm left in float
