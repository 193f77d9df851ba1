"""Small ONNX helpers shared by the export and compression steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.runtimes import RuntimeTarget

# Above this a model's weights go to an external data file (protobuf's limit is 2 GiB).
EXTERNAL_DATA_THRESHOLD = 1_500_000_000
EXTERNAL_DATA_NAME = "model.onnx.data"


def save_model(model: Any, path: Path) -> None:
    """Save a ModelProto, with external data next to it when it is too big for one file."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    external = model.ByteSize() > EXTERNAL_DATA_THRESHOLD if _fits(model) else True
    if external:
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=EXTERNAL_DATA_NAME,
            size_threshold=1024,
        )
    else:
        onnx.save_model(model, str(path))


def _fits(model: Any) -> bool:
    try:
        model.ByteSize()
    except ValueError:
        return False
    return True


def finalize(path: Path, target: RuntimeTarget) -> None:
    """Cap the IR version for the target runtime and check the model."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    if model.ir_version > target.max_ir_version:
        model.ir_version = target.max_ir_version
        onnx.save_model(model, str(path))
    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as error:
        message = " ".join(str(error).split())[:300]
        raise OptimizerError("ExportFailed", f"the ONNX model is invalid: {message}") from None


def model_bytes(path: Path) -> int:
    """Size of an ONNX model on disk, its external data included."""
    total = path.stat().st_size
    data = path.parent / EXTERNAL_DATA_NAME
    if data.exists():
        total += data.stat().st_size
    return total


def session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with the default (full) graph optimization."""
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    # Idle thread pools must not spin: the benchmark runs several sessions in turn, and
    # one session's spinning workers would steal the cores from the next one's run.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def has_vnni() -> bool:
    """Whether the CPU has AVX-512 VNNI or AVX-VNNI (8-bit dot products without saturation)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags or "amx_int8" in flags


def weight_fractions(path: Path) -> dict[str, float]:
    """Share of the compute weights used by each op type (Conv, MatMul, Gemm ...).

    Embedding tables (read by Gather) cost no arithmetic, so they are left out.
    """
    import numpy as np
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    sizes = {i.name: int(np.prod(i.dims)) for i in model.graph.initializer}
    totals: dict[str, float] = {}
    for node in model.graph.node:
        if node.op_type == "Gather":
            continue
        for name in node.input:
            if name in sizes:
                totals[node.op_type] = totals.get(node.op_type, 0) + sizes[name]
    grand = sum(totals.values()) or 1.0
    return {op: count / grand for op, count in totals.items()}


def topological_sort(model: Any) -> None:
    """Reorder a graph's nodes so each comes after the producers of its inputs (in place).

    Converters that insert nodes at the end (FP16's input casts) leave graphs that
    ONNX Runtime accepts but the ONNX checker, and stricter runtimes, reject.
    """
    nodes = list(model.graph.node)
    producer = {out: i for i, node in enumerate(nodes) for out in node.output if out}
    emitted: list[int] = []
    state = [0] * len(nodes)  # 0 new, 1 visiting, 2 done

    def visit(index: int) -> None:
        stack = [(index, iter(nodes[index].input))]
        state[index] = 1
        while stack:
            current, inputs = stack[-1]
            for name in inputs:
                parent = producer.get(name)
                if parent is not None and state[parent] == 0:
                    state[parent] = 1
                    stack.append((parent, iter(nodes[parent].input)))
                    break
            else:
                stack.pop()
                state[current] = 2
                emitted.append(current)

    for index in range(len(nodes)):
        if state[index] == 0:
            visit(index)
    ordered = [nodes[i] for i in emitted]
    del model.graph.node[:]
    model.graph.node.extend(ordered)
