"""config.pbtxt rendering: it must parse as Triton's ModelConfig protobuf."""

from __future__ import annotations

import pytest
from modeldeploy_optimizer.repository import IoSignature, TensorInfo, parse_config, render_config
from modeldeploy_optimizer.spec import DynamicBatching, TritonModelConfig


def type_name(value: int) -> str:
    from tritonclient.grpc import model_config_pb2  # type: ignore[import-untyped,unused-ignore]

    return str(model_config_pb2.DataType.Name(value))


def kind_name(value: int) -> str:
    from tritonclient.grpc import model_config_pb2  # type: ignore[import-untyped,unused-ignore]

    return str(model_config_pb2.ModelInstanceGroup.Kind.Name(value))


TEXT_IO = IoSignature(
    inputs=(
        TensorInfo("input_ids", "int64", (-1, -1)),
        TensorInfo("attention_mask", "int64", (-1, -1)),
    ),
    outputs=(TensorInfo("embedding", "float32", (-1, 384)),),
)


def test_batched_config_parses_and_drops_the_batch_axis() -> None:
    text = render_config("minilm", TEXT_IO, TritonModelConfig(), False, preferred_batch_sizes=[16])
    config = parse_config(text)
    assert config.name == "minilm"
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 32
    assert [i.name for i in config.input] == ["input_ids", "attention_mask"]
    assert list(config.input[0].dims) == [-1]
    assert type_name(config.input[0].data_type) == "TYPE_INT64"
    assert list(config.output[0].dims) == [384]
    assert type_name(config.output[0].data_type) == "TYPE_FP32"
    assert list(config.dynamic_batching.preferred_batch_size) == [16]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert kind_name(config.instance_group[0].kind) == "KIND_CPU"
    assert config.instance_group[0].count == 1


def test_gpu_instances_and_explicit_batching_settings() -> None:
    triton = TritonModelConfig(
        max_batch_size=8,
        instances=2,
        dynamic_batching=DynamicBatching(
            max_queue_delay_microseconds=100, preferred_batch_sizes=[4, 8, 64]
        ),
    )
    config = parse_config(render_config("m", TEXT_IO, triton, True, preferred_batch_sizes=[2]))
    assert kind_name(config.instance_group[0].kind) == "KIND_GPU"
    assert config.instance_group[0].count == 2
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]  # 64 > max batch


def test_model_without_dynamic_batch_axis_is_served_unbatched() -> None:
    io = IoSignature(
        inputs=(TensorInfo("x", "float32", (1, 3, 224, 224)),),
        outputs=(TensorInfo("y", "float32", (1, 1000)),),
    )
    config = parse_config(render_config("fixed", io, TritonModelConfig(), False))
    assert config.max_batch_size == 0
    assert list(config.input[0].dims) == [1, 3, 224, 224]
    assert not config.HasField("dynamic_batching")


def test_python_backend_variant_for_local_mode() -> None:
    text = render_config("m", TEXT_IO, TritonModelConfig(), False, backend="python")
    config = parse_config(text)
    assert config.backend == "python"
    assert config.platform == ""


def test_disabled_dynamic_batching_is_left_out() -> None:
    triton = TritonModelConfig(dynamic_batching=DynamicBatching(enabled=False))
    config = parse_config(render_config("m", TEXT_IO, triton, False))
    assert not config.HasField("dynamic_batching")


def test_unknown_dtype_is_refused() -> None:
    io = IoSignature((TensorInfo("x", "complex64", (-1, 2)),), (TensorInfo("y", "float32", (-1,)),))
    with pytest.raises(ValueError, match="complex64"):
        render_config("m", io, TritonModelConfig(), False)
