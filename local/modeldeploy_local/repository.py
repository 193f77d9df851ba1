"""Turn the optimizer's repository (``platform: onnxruntime_onnx``) into one local Triton serves.

The cluster's Triton image runs ``model.onnx`` with its ONNX Runtime backend. The
tritonserver of the nvidia-pytriton wheel has only the Python backend, so the
local repository gets, per model, the same config with ``backend: "python"``, the
same ONNX file (a symlink: one model, two servings) and :mod:`triton_model` as
``model.py``, which runs that file with ONNX Runtime on the CPU. Everything else in
the config (batching, dynamic batcher, instances, parameters) carries over.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import text_format  # type: ignore[import-untyped]
from tritonclient.grpc import model_config_pb2 as mc  # type: ignore[import-untyped]

from modeldeploy_local.errors import RepositoryError

ONNX_PLATFORM = "onnxruntime_onnx"
ONNX_BACKEND = "onnxruntime"
PYTHON_BACKEND = "python"
DEFAULT_ONNX_FILENAME = "model.onnx"
# Read by triton_model.py; keep the names in sync.
MODEL_FILE_PARAMETER = "onnx_model_filename"
SOURCE_PARAMETER = "modeldeploy_source_platform"
MODEL_PY = Path(__file__).with_name("triton_model.py")

_ONNX_TO_TRITON = {
    1: "TYPE_FP32",
    2: "TYPE_UINT8",
    3: "TYPE_INT8",
    5: "TYPE_INT16",
    6: "TYPE_INT32",
    7: "TYPE_INT64",
    9: "TYPE_BOOL",
    10: "TYPE_FP16",
    11: "TYPE_FP64",
}


@dataclass(frozen=True)
class LocalModel:
    name: str
    config: mc.ModelConfig
    versions: list[str]
    onnx_file: str


def read_config(path: Path) -> mc.ModelConfig:
    config = mc.ModelConfig()
    try:
        text_format.Parse(path.read_text(), config)
    except text_format.ParseError as error:
        raise RepositoryError(f"{path} is not a valid Triton model config: {error}") from error
    return config


def write_config(config: mc.ModelConfig, path: Path) -> None:
    path.write_text(text_format.MessageToString(config))


def is_onnx(config: mc.ModelConfig) -> bool:
    return bool(config.platform == ONNX_PLATFORM or config.backend == ONNX_BACKEND)


def _tensor_io(value_infos: Any, batching: bool) -> list[tuple[str, str, list[int]]]:
    tensors = []
    for info in value_infos:
        tensor_type = info.type.tensor_type
        dtype = _ONNX_TO_TRITON.get(tensor_type.elem_type)
        if dtype is None:
            raise RepositoryError(f"tensor {info.name} has an element type local mode cannot serve")
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim]
        tensors.append((str(info.name), dtype, dims[1:] if batching else dims))
    return tensors


def fill_io_from_onnx(config: mc.ModelConfig, onnx_path: Path) -> None:
    """Declare inputs/outputs the config leaves to auto-complete (the Python backend needs them)."""
    if config.input and config.output:
        return
    import onnx  # lazy: the ML stack is only needed when a config is incomplete

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    batching = config.max_batch_size > 0
    if not config.input:
        for name, dtype, dims in _tensor_io(inputs, batching):
            config.input.add(name=name, data_type=mc.DataType.Value(dtype), dims=dims)
    if not config.output:
        for name, dtype, dims in _tensor_io(graph.output, batching):
            config.output.add(name=name, data_type=mc.DataType.Value(dtype), dims=dims)


def to_python_backend(config: mc.ModelConfig) -> mc.ModelConfig:
    """The local twin of an onnxruntime_onnx config: same model, Python backend, CPU."""
    if not is_onnx(config):
        raise RepositoryError(
            f"model {config.name!r} is {config.platform or config.backend!r}: local mode serves "
            f"ONNX models ({ONNX_PLATFORM})"
        )
    local = mc.ModelConfig()
    local.CopyFrom(config)
    local.platform = ""
    local.backend = PYTHON_BACKEND
    # For the Python backend default_model_filename names model.py, so the ONNX
    # file's name moves to a parameter that triton_model.py reads.
    onnx_file = config.default_model_filename or DEFAULT_ONNX_FILENAME
    local.default_model_filename = ""
    local.parameters[MODEL_FILE_PARAMETER].string_value = onnx_file
    local.parameters[SOURCE_PARAMETER].string_value = config.platform or config.backend
    for group in local.instance_group:
        group.kind = mc.ModelInstanceGroup.Kind.KIND_CPU
        del group.gpus[:]
    # GPU/TensorRT accelerators mean nothing to the Python backend.
    local.optimization.ClearField("execution_accelerators")
    if local.optimization == mc.ModelOptimizationPolicy():
        local.ClearField("optimization")
    return local


def _versions(model_dir: Path) -> list[str]:
    return sorted((p.name for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=int)


def model_dirs(repository: Path) -> list[Path]:
    if not repository.is_dir():
        raise RepositoryError(f"model repository {repository} does not exist")
    found = sorted(p for p in repository.iterdir() if (p / "config.pbtxt").is_file())
    if not found:
        raise RepositoryError(f"{repository} holds no model (no <model>/config.pbtxt)")
    return found


def convert_model(source: Path, target: Path) -> LocalModel:
    """Write ``target`` (one model folder) as the Python-backend twin of ``source``."""
    config = read_config(source / "config.pbtxt")
    if not config.name:
        config.name = source.name
    local = to_python_backend(config)
    onnx_file = local.parameters[MODEL_FILE_PARAMETER].string_value
    versions = [v for v in _versions(source) if (source / v / onnx_file).is_file()]
    if not versions:
        raise RepositoryError(
            f"{source} has no version folder with {onnx_file} (e.g. 1/{onnx_file})"
        )
    fill_io_from_onnx(local, source / versions[-1] / onnx_file)
    if target.exists():
        shutil.rmtree(target)
    for version in versions:
        folder = target / version
        folder.mkdir(parents=True)
        # Every file of the version (model.onnx, external weights) by symlink.
        for item in (source / version).iterdir():
            (folder / item.name).symlink_to(item.resolve())
        shutil.copyfile(MODEL_PY, folder / "model.py")
    write_config(local, target / "config.pbtxt")
    return LocalModel(name=local.name, config=local, versions=versions, onnx_file=onnx_file)


def build_local_repository(source: Path, target: Path) -> list[LocalModel]:
    """Convert every ONNX model of ``source``; Python-backend models are used as they are."""
    target.mkdir(parents=True, exist_ok=True)
    models = []
    for model_dir in model_dirs(source):
        config = read_config(model_dir / "config.pbtxt")
        destination = target / model_dir.name
        if config.backend == PYTHON_BACKEND and source.resolve() != target.resolve():
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(model_dir, destination, symlinks=True)
            onnx_file = config.parameters[MODEL_FILE_PARAMETER].string_value
            versions = _versions(model_dir)
            models.append(LocalModel(config.name or model_dir.name, config, versions, onnx_file))
        else:
            models.append(convert_model(model_dir, destination))
    return models
