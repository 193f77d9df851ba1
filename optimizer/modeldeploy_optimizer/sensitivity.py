"""Which quantized layers hurt accuracy most, measured on held-out inputs.

For each quantizable layer, the quantized model is run with the layer's inputs and
output exposed. The layer's float version (its node and float weights, taken from the
float model) is then run on the very inputs the quantized model fed it. The relative
difference between the two outputs is the error that layer adds by itself (its input
activations and weights quantized), independent of the error it inherits. Layers are
ranked by it, so a retry leaves in float the ones measured to hurt, not guessed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modeldeploy_optimizer.onnxutil import session
from modeldeploy_optimizer.samples import Feed, split

SENSITIVITY_BATCH = 4


def _activations(float_model: Any, node: Any) -> list[str]:
    initializers = {i.name for i in float_model.graph.initializer}
    return [name for name in node.input if name and name not in initializers]


def _single_node_model(float_model: Any, node: Any, inputs: dict[str, np.ndarray]) -> Any:
    """A model holding only ``node`` and its float initializers, fed ``inputs``."""
    import onnx

    initializers = {i.name: i for i in float_model.graph.initializer}
    graph = onnx.helper.make_graph(
        [node],
        "layer",
        [
            onnx.helper.make_tensor_value_info(
                name, onnx.helper.np_dtype_to_tensor_dtype(value.dtype), None
            )
            for name, value in inputs.items()
        ],
        [onnx.ValueInfoProto(name=node.output[0])],
        initializer=[initializers[name] for name in node.input if name in initializers],
    )
    model = onnx.helper.make_model(graph, opset_imports=list(float_model.opset_import))
    model.ir_version = float_model.ir_version
    return model


def _exposed(model: Any, names: list[str], path: Path) -> Path:
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    existing = {o.name for o in copy.graph.output}
    for name in names:
        if name not in existing:
            copy.graph.output.append(onnx.ValueInfoProto(name=name))
    onnx.save_model(copy, str(path))
    return path


@dataclass
class _Layer:
    """A quantizable node: its float version and where its inputs are in the quantized model."""

    node: Any
    output: str  # the node's output in the quantized model
    sources: dict[str, str]  # float input name -> tensor in the quantized model
    clamps: dict[str, tuple[float, float]]  # input -> range of its QuantizeLinear


def _quant_range(quantized: Any, q_node: Any) -> tuple[float, float] | None:
    """Real-valued range a QuantizeLinear saturates to (it stands in for removed Clip/Relu)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in quantized.graph.initializer}
    if len(q_node.input) < 3 or q_node.input[1] not in inits or q_node.input[2] not in inits:
        return None
    scale = numpy_helper.to_array(inits[q_node.input[1]]).astype(np.float64)
    zero = numpy_helper.to_array(inits[q_node.input[2]])
    info = np.iinfo(zero.dtype)
    zero_f = zero.astype(np.float64)
    if scale.size != 1 or zero_f.size != 1:
        return None
    return float((info.min - zero_f) * scale), float((info.max - zero_f) * scale)


def _layers(reference: Any, quantized: Any, op_types: tuple[str, ...] | None) -> list[_Layer]:
    producer = {out: n for n in quantized.graph.node for out in n.output}
    available = set(producer) | {i.name for i in quantized.graph.input}
    by_name = {n.name: n for n in quantized.graph.node if n.name}
    layers = []
    for node in reference.graph.node:
        if not node.name or (op_types is not None and node.op_type not in op_types):
            continue
        activations = _activations(reference, node)
        if not activations:
            continue
        twin = by_name.get(node.name)
        if twin is not None and twin.op_type == node.op_type:  # static QDQ: same node, DQ inputs
            sources: dict[str, str] = {}
            clamps: dict[str, tuple[float, float]] = {}
            for position, name in enumerate(node.input):
                if name not in activations:
                    continue
                fed = twin.input[position]
                dq = producer.get(fed)
                q = (
                    producer.get(dq.input[0])
                    if dq is not None and dq.op_type == "DequantizeLinear"
                    else None
                )
                if q is not None and q.op_type == "QuantizeLinear":
                    sources[name] = q.input[0]
                    bounds = _quant_range(quantized, q)
                    if bounds is not None:
                        clamps[name] = bounds
                else:
                    sources[name] = fed
            quantized_inputs = any(twin.input[i] != n for i, n in enumerate(node.input) if n)
            if quantized_inputs and all(src in available for src in sources.values()):
                layers.append(_Layer(node, twin.output[0], sources, clamps))
        elif node.output[0] in available and all(a in available for a in activations):
            layers.append(_Layer(node, node.output[0], {a: a for a in activations}, {}))
    return layers


def rank_layers(
    float_model: Path,
    quantized_model: Path,
    op_types: tuple[str, ...] | None,
    feed: Feed,
    workdir: Path,
) -> list[tuple[str, float]]:
    """(node name, relative error the node adds), most sensitive first.

    ``op_types`` limits the ranking to those node types; None ranks every node whose
    inputs the quantized model quantizes.
    """
    import onnx

    reference = onnx.load(str(float_model))
    quantized = onnx.load(str(quantized_model))
    workdir.mkdir(parents=True, exist_ok=True)
    layers = _layers(reference, quantized, op_types)
    if not layers:
        return []
    exposed = sorted({n for layer in layers for n in (*layer.sources.values(), layer.output)})
    probe = session(_exposed(quantized, exposed, workdir / "quantized-probe.onnx"))
    errors = {layer.node.name: 0.0 for layer in layers}
    sessions: dict[str, Any] = {}
    chunks = split(feed, SENSITIVITY_BATCH)
    for chunk in chunks:
        values = dict(zip(exposed, probe.run(exposed, chunk), strict=True))
        for index, layer in enumerate(layers):
            inputs = {}
            for name, source in layer.sources.items():
                value = values[source]
                if name in layer.clamps:
                    low, high = layer.clamps[name]
                    value = np.clip(value, low, high).astype(value.dtype)
                inputs[name] = value
            if layer.node.name not in sessions:
                path = workdir / f"layer{index}.onnx"
                onnx.save_model(_single_node_model(reference, layer.node, inputs), str(path))
                sessions[layer.node.name] = session(path, 1)
            expected = sessions[layer.node.name].run(None, inputs)[0]
            got = np.asarray(values[layer.output], dtype=np.float64).ravel()
            want = np.asarray(expected, dtype=np.float64).ravel()
            if got.shape != want.shape:
                continue
            errors[layer.node.name] += float(np.linalg.norm(got - want)) / max(
                float(np.linalg.norm(want)), 1e-12
            )
    ranking = [(name, total / len(chunks)) for name, total in errors.items()]
    ranking.sort(key=lambda item: item[1], reverse=True)
    return ranking
