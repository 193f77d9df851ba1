"""Ask the running server real questions over HTTP and gRPC, and check its answers.

The reference is ONNX Runtime itself, run in this process on the very file Triton
serves, with the same inputs. Triton's errors (a wrong shape, an unknown model)
come back as :class:`InferenceError` carrying Triton's own message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tritonclient.grpc import model_config_pb2 as mc  # type: ignore[import-untyped]
from tritonclient.utils import (  # type: ignore[import-untyped]
    InferenceServerException,
    np_to_triton_dtype,
    triton_to_np_dtype,
)

from modeldeploy_local.errors import CheckFailedError, InferenceError

Array = npt.NDArray[Any]
Tensors = dict[str, Array]

# The families the autoscaler reads (queue latency, inference rate) and that
# `modeldeploy up` reports; tests assert they are exposed.
REQUIRED_METRICS = (
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_infer_duration_us",
)
# Stub (ONNX Runtime 1.19.2) and reference (the venv's) differ in kernels.
ATOL = 1e-4
RTOL = 1e-3


def datatype(config_type: int) -> str:
    """Triton's wire datatype ("FP32") for a config's data_type (TYPE_FP32)."""
    return str(mc.DataType.Name(config_type)).removeprefix("TYPE_")


def sample_inputs(
    config: mc.ModelConfig, batch: int = 2, length: int = 8, seed: int = 0
) -> Tensors:
    """Valid inputs for the config: ``batch`` rows, dynamic dims set to ``length``.

    Integer inputs look like a transformer's: masks are ones, type ids zeros and
    other ids small (below any vocabulary size).
    """
    rng = np.random.default_rng(seed)
    tensors: Tensors = {}
    for spec in config.input:
        dims = [length if d < 0 else int(d) for d in spec.dims]
        shape = [batch, *dims] if config.max_batch_size > 0 else dims
        dtype = np.dtype(triton_to_np_dtype(datatype(spec.data_type)))
        name = spec.name.lower()
        if dtype.kind == "f":
            tensors[spec.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            tensors[spec.name] = rng.integers(0, 2, shape).astype(dtype)
        elif "mask" in name:
            tensors[spec.name] = np.ones(shape, dtype=dtype)
        elif "type" in name:
            tensors[spec.name] = np.zeros(shape, dtype=dtype)
        else:
            tensors[spec.name] = rng.integers(1, 100, shape).astype(dtype)
    return tensors


def _message(error: InferenceServerException) -> str:
    return str(error.message() or error)


def infer_http(url: str, model: str, inputs: Mapping[str, Array], outputs: list[str]) -> Tensors:
    import tritonclient.http as http  # type: ignore[import-untyped]

    with http.InferenceServerClient(url, network_timeout=120.0) as client:
        request = []
        for name, array in inputs.items():
            tensor = http.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array)
            request.append(tensor)
        wanted = [http.InferRequestedOutput(name) for name in outputs]
        try:
            result = client.infer(model, request, outputs=wanted)
        except InferenceServerException as error:
            raise InferenceError(f"HTTP inference on {model!r}: {_message(error)}") from None
        return {name: np.asarray(result.as_numpy(name)) for name in outputs}


def infer_grpc(url: str, model: str, inputs: Mapping[str, Array], outputs: list[str]) -> Tensors:
    import tritonclient.grpc as grpc

    with grpc.InferenceServerClient(url) as client:
        request = []
        for name, array in inputs.items():
            tensor = grpc.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array)
            request.append(tensor)
        wanted = [grpc.InferRequestedOutput(name) for name in outputs]
        try:
            result = client.infer(model, request, outputs=wanted, client_timeout=120.0)
        except InferenceServerException as error:
            raise InferenceError(f"gRPC inference on {model!r}: {_message(error)}") from None
        return {name: np.asarray(result.as_numpy(name)) for name in outputs}


_REFERENCE_SCRIPT = """
import sys, numpy as np, onnxruntime as ort
model, feeds_path, out_path, *names = sys.argv[1:]
feeds = dict(np.load(feeds_path))
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
np.savez(out_path, **dict(zip(names, session.run(names, feeds))))
"""


def onnxruntime_outputs(
    onnx_path: Path, inputs: Mapping[str, Array], outputs: list[str], python: Path | None = None
) -> Tensors:
    """ONNX Runtime's answer; with ``python``, that interpreter's ONNX Runtime computes it.

    Triton's stub runs ONNX Runtime 1.19.2 and the venv a newer one; their INT8
    kernels round differently (about 1e-2 on MiniLM's embeddings), so the check
    asks the very runtime Triton runs, in its venv, for the reference.
    """
    if python is None:
        import onnxruntime as ort  # type: ignore[import-untyped]

        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        results = session.run(outputs, dict(inputs))
        return {name: np.asarray(value) for name, value in zip(outputs, results, strict=True)}
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="modeldeploy-reference-") as tmp:
        feeds, answer = Path(tmp) / "feeds.npz", Path(tmp) / "outputs.npz"
        savez: Any = np.savez  # typed as if every keyword were allow_pickle
        savez(feeds, **dict(inputs))
        command = [str(python), "-c", _REFERENCE_SCRIPT, str(onnx_path), str(feeds), str(answer)]
        done = subprocess.run([*command, *outputs], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CheckFailedError(f"ONNX Runtime could not run {onnx_path}: {done.stderr[-2000:]}")
        with np.load(answer) as loaded:
            return {name: np.asarray(loaded[name]) for name in outputs}


def max_abs_diff(actual: Array, expected: Array) -> float:
    if actual.shape != expected.shape:
        return float("inf")
    if actual.size == 0:
        return 0.0
    return float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64))))


@dataclass
class CheckResult:
    model: str
    inputs: dict[str, list[int]]
    # protocol -> output -> max |served - onnxruntime|
    diffs: dict[str, dict[str, float]] = field(default_factory=dict)
    served: dict[str, Tensors] = field(default_factory=dict)

    @property
    def worst(self) -> float:
        return max((d for per in self.diffs.values() for d in per.values()), default=0.0)


def check_model(
    endpoints: Any,
    config: mc.ModelConfig,
    onnx_path: Path,
    inputs: Tensors | None = None,
    python: Path | None = None,
) -> CheckResult:
    """Send ``inputs`` over HTTP and gRPC; fail unless both match ONNX Runtime's outputs.

    ``python``: the interpreter whose ONNX Runtime computes the reference (the
    server's stub venv); this process's ONNX Runtime when None.
    """
    feeds = inputs if inputs is not None else sample_inputs(config)
    names = [spec.name for spec in config.output]
    expected = onnxruntime_outputs(onnx_path, feeds, names, python)
    result = CheckResult(config.name, {k: list(v.shape) for k, v in feeds.items()})
    result.served["http"] = infer_http(endpoints.http, config.name, feeds, names)
    result.served["grpc"] = infer_grpc(endpoints.grpc, config.name, feeds, names)
    for protocol, served in result.served.items():
        result.diffs[protocol] = {n: max_abs_diff(served[n], expected[n]) for n in names}
        for name in names:
            limit = ATOL + RTOL * float(np.max(np.abs(expected[name]), initial=0.0))
            if not result.diffs[protocol][name] <= limit:
                raise CheckFailedError(
                    f"{protocol} answer of {config.name!r} for {name!r} differs from ONNX "
                    f"Runtime's by {result.diffs[protocol][name]:.3g} (allowed {limit:.3g})"
                )
    return result


def scrape_metrics(url: str) -> dict[str, float]:
    """Prometheus text from ``/metrics``: sample name (with labels) -> value."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                samples[name] = float(value)
            except ValueError:
                continue
    return samples


def metric_families(samples: Mapping[str, float]) -> set[str]:
    return {name.split("{", 1)[0] for name in samples}
