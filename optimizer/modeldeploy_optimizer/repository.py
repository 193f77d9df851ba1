"""The Triton model repository: ``<out>/<name>/config.pbtxt`` and ``<out>/<name>/1/model.onnx``.

:func:`render_config` is a pure function of the model's I/O signature and the
serving settings, so local mode can render its Python-backend variant with it.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeploy_optimizer.spec import TritonModelConfig

# numpy dtype name -> Triton data type.
TRITON_TYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "float64": "TYPE_FP64",
    "bfloat16": "TYPE_BF16",
    "int64": "TYPE_INT64",
    "int32": "TYPE_INT32",
    "int16": "TYPE_INT16",
    "int8": "TYPE_INT8",
    "uint8": "TYPE_UINT8",
    "uint16": "TYPE_UINT16",
    "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64",
    "bool": "TYPE_BOOL",
    "string": "TYPE_STRING",
}


@dataclass(frozen=True)
class TensorInfo:
    """One input or output: name, numpy dtype name, shape with -1 for dynamic axes."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class IoSignature:
    """A model's inputs and outputs."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    @property
    def batchable(self) -> bool:
        """Whether every tensor has a dynamic first axis that Triton can batch on."""
        return all(t.shape and t.shape[0] == -1 for t in (*self.inputs, *self.outputs))


def render_config(
    name: str,
    io: IoSignature,
    triton: TritonModelConfig,
    gpu: bool,
    *,
    backend: str = "onnxruntime",
    preferred_batch_sizes: Sequence[int] | None = None,
    default_model_filename: str | None = None,
) -> str:
    """config.pbtxt text for a model; it parses as Triton's ``ModelConfig`` protobuf.

    With ``max_batch_size > 0`` the batch axis is left out of ``dims`` (Triton adds it);
    a model without a dynamic first axis on every tensor is served without batching.
    """
    max_batch = triton.max_batch_size if io.batchable else 0
    lines = [f'name: "{name}"']
    if backend == "onnxruntime":
        lines.append('platform: "onnxruntime_onnx"')
    else:
        lines.append(f'backend: "{backend}"')
    lines.append(f"max_batch_size: {max_batch}")
    if default_model_filename:
        lines.append(f'default_model_filename: "{default_model_filename}"')
    lines += _tensors("input", io.inputs, batched=max_batch > 0)
    lines += _tensors("output", io.outputs, batched=max_batch > 0)
    batching = triton.dynamic_batching
    if max_batch > 0 and batching.enabled:
        sizes = batching.preferred_batch_sizes or list(preferred_batch_sizes or [])
        sizes = sorted({s for s in sizes if 1 < s <= max_batch})
        lines.append("dynamic_batching {")
        if sizes:
            lines.append(f"  preferred_batch_size: [ {', '.join(str(s) for s in sizes)} ]")
        lines.append(f"  max_queue_delay_microseconds: {batching.max_queue_delay_microseconds}")
        lines.append("}")
    kind = "KIND_GPU" if gpu else "KIND_CPU"
    lines += ["instance_group [", "  {", f"    count: {triton.instances}", f"    kind: {kind}"]
    lines += ["  }", "]"]
    return "\n".join(lines) + "\n"


def _tensors(kind: str, tensors: Sequence[TensorInfo], *, batched: bool) -> list[str]:
    lines = [f"{kind} ["]
    for index, tensor in enumerate(tensors):
        if tensor.dtype not in TRITON_TYPES:
            raise ValueError(f"{kind} {tensor.name}: dtype {tensor.dtype} has no Triton type")
        dims = tensor.shape[1:] if batched else tensor.shape
        if not dims:  # a batched scalar per sample
            dims = (1,)
        comma = "," if index < len(tensors) - 1 else ""
        lines += [
            "  {",
            f'    name: "{tensor.name}"',
            f"    data_type: {TRITON_TYPES[tensor.dtype]}",
            f"    dims: [ {', '.join(str(d) for d in dims)} ]",
            "  }" + comma,
        ]
    lines.append("]")
    return lines


def parse_config(text: str) -> Any:
    """Parse config.pbtxt as Triton's ModelConfig protobuf (raises on invalid text)."""
    from google.protobuf import text_format  # type: ignore[import-untyped,unused-ignore]
    from tritonclient.grpc import model_config_pb2  # type: ignore[import-untyped,unused-ignore]

    return text_format.Parse(text, model_config_pb2.ModelConfig())


def io_signature(model_path: Path) -> IoSignature:
    """Inputs and outputs of an ONNX file (symbolic dims become -1)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}

    def info(value: Any) -> TensorInfo:
        tensor_type = value.type.tensor_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
        if tensor_type.elem_type == onnx.TensorProto.STRING:
            dtype = "string"
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim)
        return TensorInfo(value.name, dtype, dims)

    inputs = tuple(info(v) for v in model.graph.input if v.name not in initializers)
    return IoSignature(inputs, tuple(info(v) for v in model.graph.output))


def write_repository(
    out: Path,
    name: str,
    model_path: Path,
    config_text: str,
) -> Path:
    """Write ``<out>/<name>/config.pbtxt`` and ``<out>/<name>/1/model.onnx`` (+ external data).

    The version folder is written next to the final one and renamed into place, so a
    reader never sees half a model.
    """
    model_dir = out / name
    version_dir = model_dir / "1"
    staging = model_dir / ".1.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    shutil.copy2(model_path, staging / "model.onnx")
    for data in _external_data_files(model_path):
        shutil.copy2(model_path.parent / data, staging / data)
    if version_dir.exists():
        shutil.rmtree(version_dir)
    staging.rename(version_dir)
    (model_dir / "config.pbtxt").write_text(config_text)
    return model_dir


def _external_data_files(model_path: Path) -> list[str]:
    import onnx
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    model = onnx.load(str(model_path), load_external_data=False)
    locations: set[str] = set()
    for tensor in _get_all_tensors(model):
        if uses_external_data(tensor):
            for entry in tensor.external_data:
                if entry.key == "location":
                    locations.add(entry.value)
    return sorted(locations)
