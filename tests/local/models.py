"""Tiny ONNX models built with onnx.helper, and the configs the optimizer would write.

Small enough to build in milliseconds, yet shaped like the optimizer's output: a
dense layer with a dynamic batch axis, and a token model with dynamic batch and
sequence axes that mean-pools embeddings like MiniLM.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from modeldeploy_local import repository
from onnx import TensorProto, helper, numpy_helper
from tritonclient.grpc import model_config_pb2 as mc

# ONNX Runtime 1.19.2 (Triton 24.10) reads up to opset 21 / IR 10.
OPSET = 17
IR_VERSION = 8


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def linear_onnx(path: Path) -> None:
    """x[B,4] -> y = x @ W + b [B,3], and s = sum(x) [B,1]."""
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((4, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
            helper.make_node("ReduceSum", ["x", "axis1"], ["s"], keepdims=1),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("s", TensorProto.FLOAT, ["batch", 1]),
        ],
        [
            numpy_helper.from_array(weight, "W"),
            numpy_helper.from_array(bias, "b"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    _save(graph, path)


def tokens_onnx(path: Path) -> None:
    """input_ids, attention_mask [B,S] int64 -> masked mean of embeddings [B,8]."""
    table = np.random.default_rng(2).standard_normal((100, 8)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["emb"]),
            helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
            helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
            helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
            helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
            helper.make_node("Div", ["summed", "count"], ["embedding"]),
        ],
        "tokens",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 8])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        ],
    )
    _save(graph, path)


def onnx_config(name: str, max_batch_size: int = 8, declare_io: bool = True) -> mc.ModelConfig:
    """What the optimizer writes for the cluster: platform onnxruntime_onnx."""
    config = mc.ModelConfig(name=name, platform="onnxruntime_onnx", max_batch_size=max_batch_size)
    fp32, int64 = mc.DataType.TYPE_FP32, mc.DataType.TYPE_INT64
    if declare_io and name == "linear":
        config.input.add(name="x", data_type=fp32, dims=[4])
        config.output.add(name="y", data_type=fp32, dims=[3])
        config.output.add(name="s", data_type=fp32, dims=[1])
    elif declare_io:
        config.input.add(name="input_ids", data_type=int64, dims=[-1])
        config.input.add(name="attention_mask", data_type=int64, dims=[-1])
        config.output.add(name="embedding", data_type=fp32, dims=[8])
    if max_batch_size:
        config.dynamic_batching.max_queue_delay_microseconds = 2000
    config.instance_group.add(kind=mc.ModelInstanceGroup.Kind.KIND_GPU, count=1, gpus=[0])
    return config


def write_onnx_repository(root: Path, names: tuple[str, ...] = ("linear", "tokens")) -> Path:
    builders = {"linear": linear_onnx, "tokens": tokens_onnx}
    for name in names:
        builders[name](root / name / "1" / "model.onnx")
        repository.write_config(onnx_config(name), root / name / "config.pbtxt")
    return root


def cli_env() -> dict[str, str]:
    """The environment for `modeldeploy` subprocesses: defaults (workdir, volumes) in cwd."""
    drop = ("MODELDEPLOY_VOLUMES", "MODELDEPLOY_WORKDIR")
    return {k: v for k, v in os.environ.items() if k not in drop}
