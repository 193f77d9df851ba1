"""Load a model in its own framework and export it to an FP32 ONNX file for the target runtime.

The export has a dynamic batch axis (and sequence axis for text), the opset and IR
version of the target Triton release, and is checked against the framework's own
outputs before anything else happens.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.formats import model_file
from modeldeploy_optimizer.onnxutil import finalize, save_model
from modeldeploy_optimizer.repository import IoSignature, io_signature
from modeldeploy_optimizer.runtimes import RuntimeTarget
from modeldeploy_optimizer.samples import Feed, sentences
from modeldeploy_optimizer.spec import ModelSpec

DEFAULT_SEQ_LEN = 128
TORCHVISION_INPUT = (-1, 3, 224, 224)
# Relative L2 error between framework and ONNX outputs above which the export is wrong.
EXPORT_TOLERANCE = 1e-3


@dataclass
class Exported:
    """The FP32 ONNX export and what the rest of the pipeline needs to feed it."""

    path: Path
    io: IoSignature
    format: str
    declared_dims: dict[str, tuple[int, ...]]
    tokenizer: Any = None
    seq_len: int | None = None
    check: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def export(
    source: Path, fmt: str, spec: ModelSpec, target: RuntimeTarget, workdir: Path
) -> Exported:
    """The FP32 ONNX export of the model at ``source`` in format ``fmt``."""
    out = workdir / "fp32" / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    declared = {t.name: tuple(t.shape) for t in spec.inputs or []}
    if fmt == "onnx":
        return _import_onnx(model_file(source), out, target, declared)
    if fmt in ("sentence-transformers", "huggingface"):
        return _export_hugging_face(source, fmt, spec, target, out)
    module = _load_torch(source, fmt, spec)
    inputs = list(spec.inputs or [])
    if not inputs:
        if fmt == "state-dict" and (spec.architecture or "").startswith(("torchvision:", "timm:")):
            declared = {"input": TORCHVISION_INPUT}
        else:
            raise OptimizerError(
                "InvalidInput",
                f"format {fmt} does not record its input shapes: set model.inputs, "
                "e.g. [{name: input, dtype: float32, shape: [-1, 3, 224, 224]}]",
            )
    dtypes = {t.name: t.dtype for t in inputs} or {"input": "float32"}
    rng = np.random.default_rng(0)
    example: Feed = {}
    for name, shape in declared.items():
        concrete = tuple(2 if i == 0 else (s if s > 0 else 16) for i, s in enumerate(shape))
        if dtypes[name].startswith("float"):
            example[name] = rng.standard_normal(concrete).astype(dtypes[name])
        else:
            example[name] = rng.integers(0, 100, concrete).astype(dtypes[name])
    dynamic = {
        n: [i for i, s in enumerate(shape) if i == 0 or s < 0] for n, shape in declared.items()
    }
    output_names = [t.name for t in spec.outputs or []]
    _torch_export(module, example, dynamic, output_names, target, out)
    result = Exported(out, io_signature(out), fmt, declared)
    result.check = _check(module, example, out)
    return result


def _load_torch(source: Path, fmt: str, spec: ModelSpec) -> Any:
    import torch

    file = model_file(source)
    try:
        if fmt == "torchscript":
            warnings.filterwarnings("ignore", category=FutureWarning)
            return torch.jit.load(str(file), map_location="cpu").eval()  # type: ignore[no-untyped-call,unused-ignore]
        if fmt == "pytorch":
            module = torch.load(str(file), map_location="cpu", weights_only=False)
            if not isinstance(module, torch.nn.Module):
                raise OptimizerError(
                    "UnknownFormat",
                    f"{file.name} unpickles to {type(module).__name__}, not a Module",
                )
            return module.eval()
        if fmt == "state-dict":
            return _state_dict_model(file, spec.architecture or "")
    except OptimizerError:
        raise
    except Exception as error:
        raise OptimizerError(
            "UnknownFormat", f"{file.name}: cannot load as {fmt}: {error}"
        ) from None
    raise OptimizerError("UnknownFormat", f"format {fmt} is not supported")


def _state_dict_model(file: Path, architecture: str) -> Any:
    import torch

    family, _, name = architecture.partition(":")
    if family == "torchvision":
        import torchvision  # type: ignore[import-untyped,unused-ignore]

        try:
            module = torchvision.models.get_model(name, weights=None)
        except ValueError:
            raise OptimizerError(
                "InvalidInput", f"torchvision has no architecture {name!r}"
            ) from None
    elif family == "timm":
        try:
            import timm  # type: ignore[import-not-found,unused-ignore]
        except ModuleNotFoundError:
            raise OptimizerError(
                "InvalidInput",
                "architecture timm:* needs timm in the optimizer image (pip install timm)",
            ) from None
        module = timm.create_model(name, pretrained=False)
    else:
        raise OptimizerError("InvalidInput", f"unknown architecture family {family!r}")
    state = torch.load(str(file), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[0:2]
        raise OptimizerError(
            "InvalidInput", f"{file.name} does not fit {architecture}: {' '.join(first)}"
        ) from None
    return module.eval()


class _Outputs:
    """Turns whatever a module returns into a tuple of tensors."""

    @staticmethod
    def flatten(value: Any) -> tuple[Any, ...]:
        import torch

        if isinstance(value, torch.Tensor):
            return (value,)
        if isinstance(value, dict):
            return tuple(v for v in value.values() if isinstance(v, torch.Tensor))
        if isinstance(value, list | tuple):
            return tuple(t for v in value for t in _Outputs.flatten(v))
        raise OptimizerError(
            "ExportFailed", f"the model returns {type(value).__name__}, not tensors"
        )


def _torch_export(
    module: Any,
    example: Feed,
    dynamic: dict[str, list[int]],
    output_names: list[str],
    target: RuntimeTarget,
    out: Path,
) -> None:
    import torch

    class Flat(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> tuple[Any, ...]:
            return _Outputs.flatten(self.inner(*args))

    # A ScriptModule cannot be called from a traced wrapper: it is exported as it is.
    wrapper = module if isinstance(module, torch.jit.ScriptModule) else Flat(module).eval()
    args = tuple(torch.from_numpy(v) for v in example.values())
    with torch.no_grad():
        count = len(_Outputs.flatten(wrapper(*args)))
    names = output_names or (["output"] if count == 1 else [f"output_{i}" for i in range(count)])
    if len(names) != count:
        raise OptimizerError(
            "InvalidInput", f"model.outputs names {len(names)} tensors, the model returns {count}"
        )
    axes: dict[str, dict[int, str]] = {
        n: {a: ("batch" if a == 0 else f"{n}_dim{a}") for a in dims} for n, dims in dynamic.items()
    }
    axes.update({n: {0: "batch"} for n in names})
    _run_exporter(wrapper, args, list(example), names, axes, target, out)


def _run_exporter(
    module: Any,
    args: tuple[Any, ...],
    input_names: list[str],
    output_names: list[str],
    axes: dict[str, dict[int, str]],
    target: RuntimeTarget,
    out: Path,
) -> None:
    import torch

    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                args,
                str(out),
                dynamo=False,
                opset_version=target.opset,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=axes,
                do_constant_folding=True,
            )
    except OptimizerError:
        raise
    except Exception as error:
        message = " ".join(str(error).split())[:300]
        raise OptimizerError("ExportFailed", f"ONNX export failed: {message}") from None
    finalize(out, target)


def _check(module: Any, example: Feed, onnx_path: Path) -> dict[str, float]:
    """Framework outputs against ONNX Runtime's on the same inputs."""
    import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]
    import torch

    with torch.no_grad():
        expected = _Outputs.flatten(module(*(torch.from_numpy(v) for v in example.values())))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    actual = session.run(None, example)
    worst = 0.0
    max_abs = 0.0
    for want, got in zip(expected, actual, strict=True):
        want_np = want.float().numpy()
        diff = np.asarray(got, dtype=np.float32) - want_np
        worst = max(worst, float(np.linalg.norm(diff) / (np.linalg.norm(want_np) + 1e-12)))
        max_abs = max(max_abs, float(np.abs(diff).max()))
    if not np.isfinite(worst) or worst > EXPORT_TOLERANCE:
        raise OptimizerError(
            "ExportFailed",
            f"the ONNX export does not reproduce the model (relative error {worst:.2g})",
        )
    return {"relative_l2": worst, "max_abs": max_abs}


def _export_hugging_face(
    source: Path, fmt: str, spec: ModelSpec, target: RuntimeTarget, out: Path
) -> Exported:
    import torch

    try:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call,unused-ignore]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call,unused-ignore]

        tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
        encoder = AutoModel.from_pretrained(
            str(source), local_files_only=True, attn_implementation="eager"
        ).eval()
    except Exception as error:
        message = " ".join(str(error).split())[:300]
        raise OptimizerError(
            "UnknownFormat", f"cannot load {source.name} with transformers: {message}"
        ) from None
    pooling, normalize = _pooling_of(source, fmt)
    declared = {t.name: tuple(t.shape) for t in spec.inputs or []}
    seq_len = DEFAULT_SEQ_LEN
    for shape in declared.values():
        if len(shape) > 1 and shape[1] > 0:
            seq_len = shape[1]
    seq_len = min(seq_len, int(getattr(tokenizer, "model_max_length", seq_len) or seq_len))

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
                if pooling == "max":
                    pooled = (hidden + (weights - 1.0) * 1e9).max(dim=1).values
                else:
                    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            return pooled

    wrapper = Pooled(encoder).eval()
    encoded = tokenizer(
        sentences(2, 0),
        padding="max_length",
        truncation=True,
        max_length=seq_len,
        return_tensors="np",
    )
    example = {n: np.asarray(encoded[n], dtype=np.int64) for n in ("input_ids", "attention_mask")}
    output = spec.outputs[0].name if spec.outputs else "embedding"
    axes = {n: {0: "batch", 1: "sequence"} for n in example} | {output: {0: "batch"}}
    args = tuple(torch.from_numpy(v) for v in example.values())
    _run_exporter(wrapper, args, list(example), [output], axes, target, out)
    result = Exported(out, io_signature(out), fmt, declared, tokenizer=tokenizer, seq_len=seq_len)
    result.check = _check(wrapper, example, out)
    result.notes.append(
        f"exported the encoder with {pooling} pooling"
        + (" and L2 normalization" if normalize else "")
    )
    return result


def _pooling_of(source: Path, fmt: str) -> tuple[str, bool]:
    """Pooling mode and normalization from a sentence-transformers folder (mean otherwise)."""
    if fmt != "sentence-transformers":
        return "mean", False
    pooling, normalize = "mean", False
    modules_file = source / "modules.json"
    if modules_file.exists():
        for module in json.loads(modules_file.read_text()):
            kind = str(module.get("type", ""))
            if kind.endswith("Normalize"):
                normalize = True
            if kind.endswith("Pooling"):
                config = source / module.get("path", "") / "config.json"
                if config.exists():
                    settings = json.loads(config.read_text())
                    if settings.get("pooling_mode_cls_token"):
                        pooling = "cls"
                    elif settings.get("pooling_mode_max_tokens"):
                        pooling = "max"
    return pooling, normalize


def _import_onnx(
    file: Path, out: Path, target: RuntimeTarget, declared: dict[str, tuple[int, ...]]
) -> Exported:
    import onnx

    try:
        model = onnx.load(str(file))
    except Exception as error:
        raise OptimizerError(
            "UnknownFormat", f"{file.name} is not a loadable ONNX model: {error}"
        ) from None
    notes = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset > target.max_opset:
        try:
            from onnx import version_converter

            model = version_converter.convert_version(model, target.max_opset)
        except Exception as error:
            raise OptimizerError(
                "ExportFailed",
                f"{file.name} uses opset {opset}; Triton {target.release} (ONNX Runtime "
                f"{target.onnxruntime}) loads up to {target.max_opset}, "
                f"and converting it failed: {error}",
            ) from None
        notes.append(f"converted opset {opset} to {target.max_opset} for {target.image}")
    save_model(model, out)
    finalize(out, target)
    return Exported(out, io_signature(out), "onnx", declared, notes=notes)
