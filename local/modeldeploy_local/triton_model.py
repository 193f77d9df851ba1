"""Triton Python-backend model that runs an ONNX file with ONNX Runtime on the CPU.

The tritonserver in the nvidia-pytriton wheel has no ONNX Runtime backend, so
local mode serves the optimizer's ``model.onnx`` through this file instead:
:mod:`modeldeploy_local.repository` copies it, unchanged, to
``<repository>/<model>/<version>/model.py`` next to the ONNX file. It runs in
Triton's Python-backend stub, which provides ``triton_python_backend_utils``.

Requests that Triton's dynamic batcher hands over together are concatenated
along the batch axis and run as one ONNX Runtime call, which is where batching
pays off on a CPU: one large GEMM instead of many small ones.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
import triton_python_backend_utils as pb_utils  # type: ignore[import-not-found]

Array = npt.NDArray[Any]
Feeds = dict[str, Array]

# config.pbtxt parameters read here; the thread counts use the names that
# Triton's own onnxruntime backend reads, so one config means the same in both.
MODEL_FILE_PARAMETER = "onnx_model_filename"
INTRA_OP_PARAMETER = "intra_op_thread_count"
INTER_OP_PARAMETER = "inter_op_thread_count"


def _parameters(config: dict[str, Any]) -> dict[str, str]:
    raw: dict[str, dict[str, str]] = config.get("parameters") or {}
    return {key: value.get("string_value", "") for key, value in raw.items()}


def _session(path: str, parameters: dict[str, str]) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    intra = int(parameters.get(INTRA_OP_PARAMETER) or 0)
    inter = int(parameters.get(INTER_OP_PARAMETER) or 0)
    if intra > 0:
        options.intra_op_num_threads = intra
    if inter > 0:
        options.inter_op_num_threads = inter
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class TritonPythonModel:
    """The class name and method names are the Python backend's contract."""

    def initialize(self, args: dict[str, str]) -> None:
        config: dict[str, Any] = json.loads(args["model_config"])
        parameters = _parameters(config)
        filename = parameters.get(MODEL_FILE_PARAMETER) or "model.onnx"
        # model_repository is this model's folder; versions are sub-folders.
        path = os.path.join(args["model_repository"], args["model_version"], filename)
        self.session = _session(path, parameters)
        self.batching = int(config.get("max_batch_size", 0)) > 0
        self.input_names = [str(spec["name"]) for spec in config["input"]]
        self.outputs = [
            (str(spec["name"]), pb_utils.triton_string_to_numpy(spec["data_type"]))
            for spec in config["output"]
        ]

    def execute(self, requests: list[Any]) -> list[Any]:
        feeds = [self._feeds(request) for request in requests]
        responses: list[Any] = [None] * len(requests)
        for members in self._groups(feeds):
            for index, response in zip(members, self._run(members, feeds), strict=True):
                responses[index] = response
        return responses

    def _feeds(self, request: Any) -> Feeds:
        feeds: Feeds = {}
        for name in self.input_names:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is not None:  # an optional input the client left out
                feeds[name] = tensor.as_numpy()
        return feeds

    def _groups(self, feeds: list[Feeds]) -> list[list[int]]:
        """Requests whose tensors can be stacked: same inputs, dtypes and non-batch dims."""
        if not self.batching:
            return [[index] for index in range(len(feeds))]
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, feed in enumerate(feeds):
            key = tuple((name, a.dtype.str, a.shape[1:]) for name, a in sorted(feed.items()))
            groups.setdefault(key, []).append(index)
        return list(groups.values())

    def _run(self, members: list[int], feeds: list[Feeds]) -> list[Any]:
        names = [name for name, _ in self.outputs]
        if len(members) == 1:
            batch = feeds[members[0]]
        else:
            batch = {
                name: np.concatenate([feeds[i][name] for i in members], axis=0)
                for name in feeds[members[0]]
            }
        try:
            results = self.session.run(names, batch)
        except Exception as error:  # ONNX Runtime raises its own exception types
            if len(members) > 1:
                # One bad request must not fail the others it was batched with.
                return [response for i in members for response in self._run([i], feeds)]
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(f"onnxruntime: {error}"))]
        sizes = [_batch_size(feeds[i]) for i in members] if len(members) > 1 else [None]
        responses = []
        start = 0
        for size in sizes:
            tensors = []
            for (name, dtype), result in zip(self.outputs, results, strict=True):
                part = result if size is None else result[start : start + size]
                tensors.append(pb_utils.Tensor(name, np.ascontiguousarray(part, dtype=dtype)))
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size or 0
        return responses

    def finalize(self) -> None:
        del self.session


def _batch_size(feeds: Feeds) -> int:
    return int(next(iter(feeds.values())).shape[0])
