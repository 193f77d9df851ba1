"""Magnitude pruning of the FP32 export's weights.

Unstructured pruning zeroes the smallest weights of each Conv/MatMul/Gemm layer. It
neither shrinks the file nor speeds up ONNX Runtime's dense kernels; the report says
so. Its use is as a step before compression that exploits zeros elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.onnxutil import finalize, save_model
from modeldeploy_optimizer.runtimes import RuntimeTarget
from modeldeploy_optimizer.spec import Pruning

PRUNABLE = ("Conv", "MatMul", "Gemm")
# Layers smaller than this keep all their weights (biases, tiny projections).
MIN_WEIGHTS = 1024


def prune(source: Path, out: Path, target: RuntimeTarget, pruning: Pruning) -> dict[str, float]:
    """Zero the ``pruning.sparsity`` smallest-magnitude weights of each prunable layer."""
    import onnx
    from onnx import numpy_helper

    if pruning.structured:
        raise OptimizerError(
            "InvalidInput",
            "structured pruning is not supported yet: use structured: false, or prune "
            "channels before export (torch.nn.utils.prune) and export the smaller model",
        )
    model = onnx.load(str(source))
    weights = {
        node.input[1]
        for node in model.graph.node
        if node.op_type in PRUNABLE and len(node.input) > 1
    }
    zeroed = total = 0
    for index, init in enumerate(model.graph.initializer):
        if init.name not in weights:
            continue
        array = numpy_helper.to_array(init)
        if array.size < MIN_WEIGHTS or array.dtype != np.float32:
            continue
        cutoff = np.quantile(np.abs(array), pruning.sparsity)
        pruned = np.where(np.abs(array) <= cutoff, 0.0, array).astype(np.float32)
        zeroed += int((pruned == 0).sum())
        total += array.size
        model.graph.initializer[index].CopyFrom(numpy_helper.from_array(pruned, init.name))
    save_model(model, out)
    finalize(out, target)
    return {"sparsity": zeroed / max(total, 1), "prunedWeights": float(zeroed)}
