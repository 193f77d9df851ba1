"""What the optimizer is asked to do: the model, the optimization, the target runtime.

These models are the one definition of those parts of the ModelDeployment API:
the operator's ``ModelDeploymentSpec`` embeds them and the CRD is generated from
them. This module imports no ML framework.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import Field

from modeldeploy_optimizer.apimodel import ApiModel, IntOrString, Rule, api_field

# The Triton release whose tritonserver ships in the nvidia-pytriton wheel that
# local mode runs, so that a model exported for the default image also loads locally.
DEFAULT_TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-py3"

URI_PATTERN = r"^(s3|pvc|https|file)://.+$"
URI_SCHEMES = "s3://bucket/key, pvc://claim/path, https://host/path or file:///path"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

Uri = Annotated[str, Field(pattern=URI_PATTERN, max_length=2048)]
ModelFormat = Literal[
    "auto", "onnx", "torchscript", "sentence-transformers", "huggingface", "state-dict", "pytorch"
]
DType = Literal["float32", "float16", "int64", "int32", "int8", "uint8", "bool"]
Quantization = Literal["none", "dynamic-int8", "static-int8", "fp16"]
Strategy = Literal["auto", "none", "explicit"]
GateMetric = Literal["cosine", "max-abs", "relative-l2", "top1-agreement"]
CalibrationMethod = Literal["minmax", "percentile", "entropy"]


def _pvc_has_claim_and_path(uri: str) -> bool:
    if not uri.startswith("pvc://"):
        return True
    claim, _, path = uri.removeprefix("pvc://").partition("/")
    return bool(claim) and bool(path.strip("/"))


# For every model with a ``uri`` field that may be pvc://.
PVC_URI_RULE = Rule(
    cel="!self.uri.startsWith('pvc://') || "
    "self.uri.matches('^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/.*[^/].*$')",
    message="a pvc:// URI needs a claim and a path: pvc://<claim>/<path>",
    check=lambda m: _pvc_has_claim_and_path(m.uri),
    field_path=".uri",
)


class TensorSpec(ApiModel):
    """One input or output tensor of the model."""

    name: str = api_field(
        "Tensor name as the model (and Triton's config.pbtxt) knows it.",
        pattern=r"^[A-Za-z_][A-Za-z0-9_.:/-]*$",
        max_length=253,
    )
    dtype: DType = api_field("Element type.", default="float32")
    shape: list[Annotated[int, Field(ge=-1)]] = api_field(
        "Full shape including the batch dimension; -1 marks a dynamic axis, e.g. [-1, 128].",
        min_length=1,
        max_length=8,
    )


class ModelSpec(ApiModel):
    """Where the trained model is and how to read it."""

    rules = (
        PVC_URI_RULE,
        Rule(
            cel="self.format != 'pytorch' || (has(self.allowPickle) && self.allowPickle)",
            message="format pytorch unpickles the file, which runs its code: "
            "set allowPickle: true to accept that, or export TorchScript/ONNX instead",
            check=lambda m: m.format != "pytorch" or m.allow_pickle,
            field_path=".allowPickle",
        ),
        Rule(
            cel="self.format != 'state-dict' || has(self.architecture)",
            message="format state-dict needs architecture, e.g. torchvision:resnet18",
            check=lambda m: m.format != "state-dict" or m.architecture is not None,
            field_path=".architecture",
        ),
    )

    uri: Uri = api_field(f"Location of the trained model: {URI_SCHEMES}.")
    format: ModelFormat = api_field(
        "How to read the model; auto detects it from the files.", default="auto"
    )
    architecture: str | None = api_field(
        "For format state-dict: the architecture the weights belong to, "
        "as torchvision:<name> or timm:<name>.",
        default=None,
        pattern=r"^(torchvision|timm):[A-Za-z0-9_]+$",
    )
    inputs: list[TensorSpec] | None = api_field(
        "Input tensors; needed when the format cannot tell them (TorchScript, state-dict).",
        default=None,
        max_length=64,
    )
    outputs: list[TensorSpec] | None = api_field(
        "Output tensors, to name them; read from the model when omitted.",
        default=None,
        max_length=64,
    )
    sha256: str | None = api_field(
        "Expected SHA-256 of the downloaded file (https:// sources); a mismatch fails the Job.",
        default=None,
        pattern=r"^[a-f0-9]{64}$",
    )
    credentials_secret: str | None = api_field(
        "Secret in the same namespace with the credentials for s3:// or https:// "
        "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, or TOKEN). Never logged.",
        default=None,
        pattern=DNS_LABEL,
        max_length=253,
    )
    allow_pickle: bool = api_field(
        "Allow format pytorch (a pickled nn.Module). Unpickling runs code from the file.",
        default=False,
    )


class Calibration(ApiModel):
    """Inputs that static INT8 quantization measures activation ranges on."""

    rules = (
        Rule(
            cel="self.source != 'uri' || has(self.uri)",
            message="source uri needs uri: where the calibration samples are",
            check=lambda c: c.source != "uri" or c.uri is not None,
            field_path=".uri",
        ),
    )

    samples: int = api_field("Number of calibration samples.", default=128, ge=1, le=100000)
    source: Literal["random", "uri"] = api_field(
        "random draws inputs from the input spec; uri reads samples (.npz) from uri.",
        default="random",
    )
    uri: Uri | None = api_field(f"Calibration samples (.npz), as {URI_SCHEMES}.", default=None)
    method: CalibrationMethod = api_field(
        "How activation ranges are chosen from the samples.", default="minmax"
    )


class Pruning(ApiModel):
    """Magnitude pruning before export."""

    sparsity: float = api_field("Fraction of weights set to zero.", ge=0.0, le=0.9)
    structured: bool = api_field(
        "Remove whole channels (smaller and faster) instead of single weights "
        "(unstructured sparsity shrinks nothing and speeds up no dense kernel).",
        default=False,
    )


class AccuracyGate(ApiModel):
    """The check a candidate must pass, against the original model, to be served."""

    rules = (
        Rule(
            cel="!(self.metric in ['cosine', 'top1-agreement']) || self.threshold <= 1.0",
            message="threshold for cosine and top1-agreement is a minimum between 0 and 1",
            check=lambda g: g.metric not in ("cosine", "top1-agreement") or g.threshold <= 1.0,
            field_path=".threshold",
        ),
    )

    metric: GateMetric = api_field(
        "cosine and top1-agreement must reach threshold; max-abs and relative-l2 "
        "must stay at or below it.",
        default="cosine",
    )
    threshold: float = api_field("Pass mark of the metric.", default=0.99, gt=0.0)
    samples: int = api_field(
        "Held-out inputs the gate compares on (never the calibration samples).",
        default=64,
        ge=8,
        le=100000,
    )


class ResourceRequirements(ApiModel):
    """CPU, memory and extended resources, as in a container's resources."""

    requests: dict[str, IntOrString] | None = api_field(
        "Minimum resources, e.g. {cpu: 2, memory: 4Gi}.", default=None
    )
    limits: dict[str, IntOrString] | None = api_field("Maximum resources.", default=None)


class OptimizationSpec(ApiModel):
    """How the model is compressed and validated before it is served."""

    rules = (
        Rule(
            cel="self.quantization != 'static-int8' || has(self.calibration)",
            message="quantization static-int8 needs calibration (samples and source)",
            check=lambda o: o.quantization != "static-int8" or o.calibration is not None,
            field_path=".calibration",
        ),
        Rule(
            cel="self.strategy != 'none' || (self.quantization == 'none' && !has(self.pruning))",
            message="strategy none exports the model as it is: use strategy explicit "
            "to choose quantization or pruning",
            check=lambda o: (
                o.strategy != "none" or (o.quantization == "none" and o.pruning is None)
            ),
            field_path=".strategy",
        ),
    )

    strategy: Strategy = api_field(
        "auto tries the candidates and keeps the fastest that passes the accuracy gate; "
        "explicit applies exactly quantization and pruning; none only exports.",
        default="auto",
    )
    quantization: Quantization = api_field(
        "With strategy explicit: the quantization to apply.", default="none"
    )
    calibration: Calibration | None = api_field(
        "Calibration inputs; required for static-int8.", default=None
    )
    pruning: Pruning | None = api_field("Magnitude pruning before export.", default=None)
    accuracy_gate: AccuracyGate = api_field(
        "Promotion gate against the original model.", default_factory=AccuracyGate
    )
    resources: ResourceRequirements | None = api_field(
        "Resources of the optimization Job's pod.", default=None
    )
    timeout_seconds: int = api_field(
        "Deadline of the optimization Job.", default=3600, ge=60, le=86400
    )


class RuntimeSpec(ApiModel):
    """The Triton release the model is exported for and served by."""

    image: str = api_field(
        "Triton Inference Server image; the ONNX opset and IR version are chosen so "
        "that this release's ONNX Runtime loads the model.",
        default=DEFAULT_TRITON_IMAGE,
        min_length=1,
        max_length=512,
    )


class DynamicBatching(ApiModel):
    """Triton's dynamic batcher."""

    enabled: bool = api_field("Group concurrent requests into batches.", default=True)
    max_queue_delay_microseconds: int = api_field(
        "Longest a request waits for a batch to fill.", default=500, ge=0, le=10_000_000
    )
    preferred_batch_sizes: list[Annotated[int, Field(ge=1)]] | None = api_field(
        "Batch sizes the batcher aims for; chosen from the benchmark when omitted.",
        default=None,
        max_length=16,
    )


class TritonModelConfig(ApiModel):
    """The serving settings that go into the model's config.pbtxt."""

    max_batch_size: int = api_field(
        "Largest batch Triton forms; 0 disables batching.", default=32, ge=0, le=4096
    )
    dynamic_batching: DynamicBatching = api_field(
        "Dynamic batching settings.", default_factory=DynamicBatching
    )
    instances: int = api_field(
        "Model instances per Triton pod (instance_group count).", default=1, ge=1, le=64
    )


class OptimizerInput(ApiModel):
    """Everything the optimization Job needs: passed to it as JSON."""

    name: str = api_field("Model name in the Triton repository.", pattern=DNS_LABEL, max_length=63)
    model: ModelSpec = api_field("The trained model.")
    optimization: OptimizationSpec = api_field(
        "How to optimize it.", default_factory=OptimizationSpec
    )
    runtime: RuntimeSpec = api_field("Target runtime.", default_factory=RuntimeSpec)
    triton: TritonModelConfig = api_field(
        "Settings written into config.pbtxt.", default_factory=TritonModelConfig
    )
    gpu: bool = api_field("Serve on a GPU (instance_group KIND_GPU).", default=False)


def revision_of(model: ModelSpec, optimization: OptimizationSpec, runtime: RuntimeSpec) -> str:
    """Short hash of what changes the artifact.

    The credentials Secret, the Job's resources and its deadline do not change
    the artifact, so they are left out: rotating a Secret re-optimizes nothing.
    """
    payload = {
        "model": model.model_dump(mode="json", exclude={"credentials_secret"}),
        "optimization": optimization.model_dump(
            mode="json", exclude={"resources", "timeout_seconds"}
        ),
        "runtime": runtime.model_dump(mode="json"),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]
