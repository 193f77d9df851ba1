"""The compression transforms, each producing a candidate ONNX file from the FP32 export.

- graph optimization: ONNX Runtime's offline fusions (constant folding, Conv+BN, GELU ...);
- dynamic INT8: weights INT8 (per output channel by default), activations quantized on
  the fly; for MatMul-heavy models (transformers);
- static INT8 in QDQ form: activation ranges from calibration; U8 activations and S8
  weights, with 7-bit weights (reduce_range) on CPUs without VNNI, whose AVX2 kernels
  would otherwise saturate their 16-bit accumulations;
- FP16: weights and compute in half precision, float32 inputs and outputs kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.onnxutil import finalize, has_vnni, save_model, topological_sort
from modeldeploy_optimizer.runtimes import RuntimeTarget
from modeldeploy_optimizer.samples import Feed

# Gather: the embedding tables, INT8 weights only; they are half of a small encoder.
DYNAMIC_OP_TYPES = ("MatMul", "Gemm", "Gather")
STATIC_OP_TYPES = ("Conv", "MatMul", "Gemm")


@dataclass(frozen=True)
class Int8Settings:
    """How INT8 quantization is done; the defaults are what this optimizer recommends."""

    per_channel: bool = True
    reduce_range: bool | None = None  # None: on when the CPU has no VNNI
    op_types: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    method: str = "minmax"
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved_reduce_range(self) -> bool:
        return (not has_vnni()) if self.reduce_range is None else self.reduce_range

    def describe(self, kind: str) -> str:
        parts = [kind, "per-channel" if self.per_channel else "per-tensor"]
        if kind == "static":
            parts.append(f"U8S8 QDQ, {self.method} calibration")
        if self.resolved_reduce_range():
            parts.append("reduce_range (7-bit weights)")
        if self.exclude:
            parts.append(f"{len(self.exclude)} sensitive nodes kept in float")
        return ", ".join(parts)


def _quiet() -> None:
    # ONNX Runtime's quantizer logs advice through the root logger; the report says more.
    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)


def graph_optimize(source: Path, out: Path, target: RuntimeTarget, *, gpu: bool) -> None:
    """ONNX Runtime's offline graph optimization (extended on CPU, basic for GPU serving).

    The extended level adds CPU-specific fused contrib ops, which a GPU would not run as
    well, so GPU targets get the portable basic level.
    """
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        if gpu
        else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    )
    options.optimized_model_filepath = str(out)
    options.log_severity_level = 3
    out.parent.mkdir(parents=True, exist_ok=True)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    finalize(out, target)


def preprocess(source: Path, out: Path) -> Path:
    """ONNX Runtime's pre-quantization pass (shape inference, BN folding); source if it fails."""
    from onnxruntime.quantization.shape_inference import (  # type: ignore[import-untyped,unused-ignore]
        quant_pre_process,
    )

    _quiet()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        quant_pre_process(str(source), str(out), skip_symbolic_shape=False)
    except Exception:
        try:
            quant_pre_process(str(source), str(out), skip_symbolic_shape=True)
        except Exception:
            return source
    return out


def dynamic_int8(source: Path, out: Path, target: RuntimeTarget, settings: Int8Settings) -> None:
    """Dynamic INT8: S8 weights, U8 activations quantized per call."""
    from onnxruntime.quantization import (  # type: ignore[import-untyped,unused-ignore]
        QuantType,
        quantize_dynamic,
    )

    _quiet()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        quantize_dynamic(
            str(source),
            str(out),
            op_types_to_quantize=list(settings.op_types or DYNAMIC_OP_TYPES),
            per_channel=settings.per_channel,
            reduce_range=settings.resolved_reduce_range(),
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(settings.exclude),
            extra_options={"MatMulConstBOnly": True, **settings.extra},
        )
    except Exception as error:
        raise OptimizerError("QuantizationFailed", f"dynamic INT8 failed: {error}") from None
    finalize(out, target)


class _Reader:
    """ONNX Runtime's CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: Sequence[Feed]) -> None:
        self._feeds = list(feeds)
        self._iter: Iterator[Feed] = iter(self._feeds)

    def get_next(self) -> Feed | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self._feeds)


def static_int8(
    source: Path,
    out: Path,
    target: RuntimeTarget,
    settings: Int8Settings,
    calibration: Sequence[Feed],
    cache: Path | None = None,
) -> None:
    """Static INT8 in QDQ form with ranges calibrated on ``calibration``.

    ``cache`` keeps the calibrated ranges, so re-quantizing with other nodes excluded
    does not calibrate again.
    """
    from onnxruntime.quantization import (  # type: ignore[import-untyped,unused-ignore]
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    _quiet()
    method = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }[settings.method]
    reader = _Reader(calibration)
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = {"CalibMovingAverage": False, **settings.extra}
    if settings.method == "percentile":
        extra.setdefault("CalibPercentile", 99.99)
    try:
        quantize_static(
            str(source),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(settings.op_types) if settings.op_types else None,
            per_channel=settings.per_channel,
            reduce_range=settings.resolved_reduce_range(),
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(settings.exclude),
            calibrate_method=method,
            extra_options=extra,
            calibration_cache_path=str(cache) if cache else None,
        )
    except Exception as error:
        raise OptimizerError("QuantizationFailed", f"static INT8 failed: {error}") from None
    finalize(out, target)


def fp16(source: Path, out: Path, target: RuntimeTarget) -> None:
    """FP16 weights and compute; inputs and outputs stay float32 for clients."""
    import onnx
    from onnxruntime.transformers.float16 import (  # type: ignore[import-untyped,unused-ignore]
        convert_float_to_float16,
    )

    _quiet()
    model = onnx.load(str(source))
    try:
        converted = convert_float_to_float16(model, keep_io_types=True)
    except Exception as error:
        raise OptimizerError("QuantizationFailed", f"FP16 conversion failed: {error}") from None
    topological_sort(converted)
    save_model(converted, out)
    finalize(out, target)
