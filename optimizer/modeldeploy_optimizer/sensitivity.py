"""Which quantized layers hurt accuracy most, measured on held-out inputs.

Both models (float and quantized) are run with every intermediate float tensor they
share exposed as an output. A layer's sensitivity is how much the relative error of
its output grows over the largest error among its inputs: the error that layer adds,
not the error it inherits. Layers are ranked by it, so the retry excludes the ones
that were measured to hurt, not guessed ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modeldeploy_optimizer.onnxutil import session
from modeldeploy_optimizer.samples import Feed, split

SENSITIVITY_BATCH = 4


def _float_tensors(model: Any) -> set[str]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    floats = {
        v.name
        for v in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input)
        if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    }
    return floats


def _with_outputs(model: Any, names: list[str], path: Path) -> Path:
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    existing = {o.name for o in copy.graph.output}
    for name in names:
        if name not in existing:
            copy.graph.output.append(onnx.ValueInfoProto(name=name))
    onnx.save_model(copy, str(path))
    return path


def rank_layers(
    float_model: Path, quantized_model: Path, op_types: tuple[str, ...], feed: Feed, workdir: Path
) -> list[tuple[str, float]]:
    """(node name, added relative error) for each quantizable node, most sensitive first."""
    import onnx

    reference = onnx.load(str(float_model))
    quantized = onnx.load(str(quantized_model))
    produced_q = {out for node in quantized.graph.node for out in node.output}
    shared = sorted(
        name
        for name in _float_tensors(reference)
        if name in produced_q and name not in {i.name for i in reference.graph.input}
    )
    workdir.mkdir(parents=True, exist_ok=True)
    ref_session = session(_with_outputs(reference, shared, workdir / "float-probe.onnx"))
    q_session = session(_with_outputs(quantized, shared, workdir / "quant-probe.onnx"))
    error_sum = dict.fromkeys(shared, 0.0)
    count = 0
    for chunk in split(feed, SENSITIVITY_BATCH):
        ref_values = dict(zip(shared, ref_session.run(shared, chunk), strict=True))
        q_values = dict(zip(shared, q_session.run(shared, chunk), strict=True))
        for name in shared:
            ref = np.asarray(ref_values[name], dtype=np.float64).ravel()
            got = np.asarray(q_values[name], dtype=np.float64).ravel()
            if ref.shape != got.shape:
                continue
            error_sum[name] += float(np.linalg.norm(got - ref)) / max(
                float(np.linalg.norm(ref)), 1e-12
            )
        count += 1
    error = {name: total / max(count, 1) for name, total in error_sum.items()}
    ranking = []
    for node in reference.graph.node:
        if node.op_type not in op_types or not node.name or node.output[0] not in error:
            continue
        inherited = max((error.get(name, 0.0) for name in node.input), default=0.0)
        ranking.append((node.name, error[node.output[0]] - inherited))
    ranking.sort(key=lambda item: item[1], reverse=True)
    return ranking
