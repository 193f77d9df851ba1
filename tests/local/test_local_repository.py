"""The local (Python-backend) repository is derived from the optimizer's onnxruntime one."""

from __future__ import annotations

from pathlib import Path

import pytest
from modeldeploy_local import repository
from modeldeploy_local.errors import RepositoryError
from tritonclient.grpc import model_config_pb2 as mc

from tests.local.models import onnx_config, write_onnx_repository


def test_python_twin_keeps_serving_settings(tmp_path: Path) -> None:
    source = write_onnx_repository(tmp_path / "onnx", names=("linear",))
    models = repository.build_local_repository(source, tmp_path / "local")

    original = repository.read_config(source / "linear" / "config.pbtxt")
    local = repository.read_config(tmp_path / "local" / "linear" / "config.pbtxt")
    assert original.platform == "onnxruntime_onnx"  # the cluster's variant is untouched
    assert (local.platform, local.backend) == ("", "python")
    assert local.max_batch_size == original.max_batch_size
    assert local.dynamic_batching == original.dynamic_batching
    assert list(local.input) == list(original.input)
    assert list(local.output) == list(original.output)
    assert [(g.kind, list(g.gpus)) for g in local.instance_group] == [
        (mc.ModelInstanceGroup.Kind.KIND_CPU, [])
    ]
    assert local.parameters["onnx_model_filename"].string_value == "model.onnx"
    assert [m.versions for m in models] == [["1"]]


def test_same_model_file_and_the_runner(tmp_path: Path) -> None:
    source = write_onnx_repository(tmp_path / "onnx", names=("tokens",))
    repository.build_local_repository(source, tmp_path / "local")
    version = tmp_path / "local" / "tokens" / "1"
    served = version / "model.onnx"
    assert served.is_symlink()
    assert served.resolve() == (source / "tokens" / "1" / "model.onnx").resolve()
    assert (version / "model.py").read_text() == repository.MODEL_PY.read_text()


def test_inputs_and_outputs_come_from_the_onnx_file_when_undeclared(tmp_path: Path) -> None:
    source = write_onnx_repository(tmp_path / "onnx", names=("tokens",))
    bare = onnx_config("tokens", declare_io=False)
    repository.write_config(bare, source / "tokens" / "config.pbtxt")
    repository.build_local_repository(source, tmp_path / "local")
    local = repository.read_config(tmp_path / "local" / "tokens" / "config.pbtxt")
    assert [(i.name, mc.DataType.Name(i.data_type), list(i.dims)) for i in local.input] == [
        ("input_ids", "TYPE_INT64", [-1]),
        ("attention_mask", "TYPE_INT64", [-1]),
    ]
    assert [(o.name, list(o.dims)) for o in local.output] == [("embedding", [8])]


def test_default_model_filename_moves_to_a_parameter() -> None:
    config = onnx_config("linear")
    config.default_model_filename = "weights.onnx"
    config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
    local = repository.to_python_backend(config)
    assert local.default_model_filename == ""
    assert local.parameters["onnx_model_filename"].string_value == "weights.onnx"
    assert not local.HasField("optimization")


def test_other_platforms_are_refused() -> None:
    config = mc.ModelConfig(name="resnet", platform="tensorrt_plan")
    with pytest.raises(RepositoryError, match="local mode serves ONNX models"):
        repository.to_python_backend(config)


def test_unparsable_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.pbtxt").write_text("max_batch_size: lots\n")
    with pytest.raises(RepositoryError, match=r"broken/config.pbtxt is not a valid Triton"):
        repository.build_local_repository(tmp_path, tmp_path / "local")


def test_empty_repository(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="holds no model"):
        repository.build_local_repository(tmp_path, tmp_path / "local")


def test_python_backend_repository_is_served_as_it_is(tmp_path: Path) -> None:
    """`serve` on a local repository (already converted) takes its models unchanged."""
    source = write_onnx_repository(tmp_path / "onnx", names=("linear",))
    repository.build_local_repository(source, tmp_path / "local")
    models = repository.build_local_repository(tmp_path / "local", tmp_path / "again")
    assert [(m.name, m.versions, m.onnx_file) for m in models] == [("linear", ["1"], "model.onnx")]
    again = tmp_path / "again" / "linear"
    assert (again / "1" / "model.py").is_file()
    assert (again / "config.pbtxt").read_text() == (
        tmp_path / "local" / "linear" / "config.pbtxt"
    ).read_text()
