"""ModelDeployment, API group modeldeploy.dev, version v1alpha1.

``model``, ``optimization`` and the target runtime are the optimizer's own input
models (one definition); this module adds what only the cluster cares about:
serving, autoscaling, rollout, artifact storage and the status.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from modeldeploy_optimizer.apimodel import ApiModel, IntOrString, Rule, api_field
from modeldeploy_optimizer.spec import (
    DNS_LABEL,
    PVC_URI_RULE,
    ModelSpec,
    OptimizationSpec,
    ResourceRequirements,
    RuntimeSpec,
    TritonModelConfig,
)
from pydantic import AfterValidator, ConfigDict, Field

GROUP = "modeldeploy.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
# Leaves room for the children's names: <name>-opt-<10-char revision>-<pod suffix>.
MAX_NAME_LENGTH = 42

AutoscalingMetric = Literal["cpu", "queue-latency", "inference-rate"]
Phase = Literal["Pending", "Optimizing", "Deploying", "Ready", "Degraded", "Failed"]
ConditionType = Literal["Optimized", "AccuracyGatePassed", "Deployed", "Ready"]

_DURATION = re.compile(r"[0-9]+(\.[0-9]+)?(us|ms|s)")
# CEL estimates the cost of matches() from a string's maxLength, so bound it.
_TARGET_MAX_LENGTH = 32


def _bounded(value: int | str) -> int | str:
    if isinstance(value, str) and len(value) > _TARGET_MAX_LENGTH:
        raise ValueError(f"at most {_TARGET_MAX_LENGTH} characters")
    return value


AutoscalingTarget = Annotated[
    IntOrString,
    AfterValidator(_bounded),
    Field(json_schema_extra={"maxLength": _TARGET_MAX_LENGTH}),
]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class ServingSpec(TritonModelConfig):
    """The Triton pods that serve the optimized model."""

    runtime: RuntimeSpec = api_field(
        "Triton image the model is exported for and served by.", default_factory=RuntimeSpec
    )
    resources: ResourceRequirements | None = api_field(
        "Resources of each Triton container.", default=None
    )
    gpu: int = api_field(
        "NVIDIA GPUs per pod (nvidia.com/gpu); 0 serves on CPU.", default=0, ge=0, le=16
    )


class ScalingBehavior(ApiModel):
    """How fast the autoscaler moves: quick up, slow and bounded down."""

    scale_up_stabilization_seconds: int = api_field(
        "Window over which scale-up takes the lowest recommendation (0: react at once).",
        default=0,
        ge=0,
        le=3600,
    )
    scale_down_stabilization_seconds: int = api_field(
        "Window over which scale-down takes the highest recommendation, so a dip in load "
        "does not remove pods that are needed again a minute later.",
        default=300,
        ge=0,
        le=3600,
    )
    scale_down_percent_per_minute: int = api_field(
        "Most pods removed per minute, as a percent of the current pods.",
        default=50,
        ge=1,
        le=100,
    )


class AutoscalingSpec(ApiModel):
    """How the number of Triton pods follows the load."""

    rules = (
        Rule(
            cel="self.minReplicas <= self.maxReplicas",
            message="minReplicas must be less than or equal to maxReplicas",
            check=lambda a: a.min_replicas <= a.max_replicas,
            field_path=".minReplicas",
        ),
        Rule(
            cel="self.minReplicas > 0 || self.metric != 'cpu'",
            message="minReplicas 0 (scale to zero) needs KEDA and metric queue-latency or "
            "inference-rate; a CPU HorizontalPodAutoscaler cannot scale to zero",
            check=lambda a: a.min_replicas > 0 or a.metric != "cpu",
            field_path=".minReplicas",
        ),
        Rule(
            cel="self.metric != 'cpu' || !has(self.target) || "
            "(type(self.target) == int && self.target >= 1 && self.target <= 100)",
            message="metric cpu takes target as a whole percent of the CPU request "
            "between 1 and 100, e.g. 70",
            check=lambda a: (
                a.metric != "cpu"
                or a.target is None
                or (_is_int(a.target) and 1 <= a.target <= 100)
            ),
            field_path=".target",
        ),
        Rule(
            cel="self.metric != 'queue-latency' || !has(self.target) || "
            "(type(self.target) == string && "
            r"self.target.matches('^[0-9]+(\\.[0-9]+)?(us|ms|s)$'))",
            message="metric queue-latency takes target as a queue time per request, "
            "e.g. 20ms, 500us or 0.5s",
            check=lambda a: (
                a.metric != "queue-latency"
                or a.target is None
                or (isinstance(a.target, str) and _DURATION.fullmatch(a.target) is not None)
            ),
            field_path=".target",
        ),
        Rule(
            cel="self.metric != 'inference-rate' || !has(self.target) || "
            "(type(self.target) == int && self.target >= 1) || "
            "(type(self.target) == string && self.target == 'auto')",
            message="metric inference-rate takes target as inferences per second per pod, "
            "or auto to derive it from the measured throughput",
            check=lambda a: (
                a.metric != "inference-rate"
                or a.target is None
                or (_is_int(a.target) and a.target >= 1)
                or a.target == "auto"
            ),
            field_path=".target",
        ),
    )

    min_replicas: int = api_field("Fewest Triton pods.", default=1, ge=0, le=1000)
    max_replicas: int = api_field("Most Triton pods.", default=4, ge=1, le=1000)
    metric: AutoscalingMetric = api_field(
        "cpu: CPU utilisation (HorizontalPodAutoscaler); queue-latency: Triton's queue time "
        "per request; inference-rate: inferences per second per pod.",
        default="cpu",
    )
    target: AutoscalingTarget | None = api_field(
        "Target of the metric: a percent for cpu (default 70), a duration for "
        "queue-latency (default 20ms), a rate or auto for inference-rate (default auto).",
        default=None,
    )
    behavior: ScalingBehavior = api_field(
        "Stabilization windows and scale-down rate.", default_factory=ScalingBehavior
    )


class RolloutSpec(ApiModel):
    """How Triton pods are replaced when a new revision or setting rolls out."""

    max_surge: IntOrString = api_field(
        "Extra pods allowed during a rollout (number or percent).", default="25%"
    )
    max_unavailable: IntOrString = api_field(
        "Pods allowed to be unavailable during a rollout (number or percent); "
        "0 keeps full capacity.",
        default=0,
    )


class ArtifactsSpec(ApiModel):
    """Where optimized model repositories are written, one folder per revision."""

    rules = (PVC_URI_RULE,)

    uri: str = api_field(
        "s3://bucket/prefix or pvc://claim/path.", pattern=r"^(s3|pvc)://.+$", max_length=2048
    )
    credentials_secret: str | None = api_field(
        "Secret with the credentials for s3:// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
        "AWS_ENDPOINT_URL).",
        default=None,
        pattern=DNS_LABEL,
        max_length=253,
    )


class ModelDeploymentSpec(ApiModel):
    """The desired state: a model, how to optimize it, how to serve and scale it."""

    model: ModelSpec = api_field("The trained model.")
    optimization: OptimizationSpec = api_field(
        "Compression, export and the accuracy gate.", default_factory=OptimizationSpec
    )
    serving: ServingSpec = api_field("The Triton pods.", default_factory=ServingSpec)
    autoscaling: AutoscalingSpec = api_field(
        "Autoscaling of the Triton pods.", default_factory=AutoscalingSpec
    )
    rollout: RolloutSpec = api_field("Rolling update settings.", default_factory=RolloutSpec)
    artifacts: ArtifactsSpec | None = api_field(
        "Where optimized repositories go; the operator's default storage when omitted.",
        default=None,
    )


class Condition(ApiModel):
    """A condition, as the Kubernetes API conventions define it."""

    type: ConditionType = api_field("Condition type.")
    status: Literal["True", "False", "Unknown"] = api_field("True, False or Unknown.")
    reason: str = api_field(
        "Machine-readable CamelCase reason.",
        default="Unknown",
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        max_length=1024,
    )
    message: str = api_field("What happened, for a person.", default="", max_length=32768)
    last_transition_time: str | None = api_field(
        "When status last changed (RFC 3339).",
        default=None,
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = api_field(
        "The .metadata.generation this condition was computed from.", default=None, ge=0
    )


class OptimizationStatus(ApiModel):
    """The optimization result of the served revision."""

    job: str | None = api_field("The optimization Job.", default=None)
    artifact: str | None = api_field("Where the model repository was written.", default=None)
    chosen: str | None = api_field("The candidate that was kept, e.g. dynamic-int8.", default=None)
    original_bytes: int | None = api_field("Size of the original model.", default=None, ge=0)
    optimized_bytes: int | None = api_field("Size of the served model.", default=None, ge=0)
    size: str | None = api_field("Served size for people, e.g. 22MiB (was 87MiB).", default=None)
    speedup: float | None = api_field("p50 latency speedup at batch 1.", default=None)
    accuracy: float | None = api_field("Value of the accuracy-gate metric.", default=None)
    accuracy_metric: str | None = api_field("The accuracy-gate metric.", default=None)
    latency_p50_ms: float | None = api_field("p50 latency at batch 1 (ms).", default=None)
    latency_p99_ms: float | None = api_field("p99 latency at batch 1 (ms).", default=None)
    throughput: float | None = api_field("Inferences per second per pod.", default=None)


class EndpointStatus(ApiModel):
    """Where the model is served inside the cluster."""

    http: str | None = api_field("KServe v2 HTTP endpoint.", default=None)
    grpc: str | None = api_field("KServe v2 gRPC endpoint.", default=None)
    metrics: str | None = api_field("Prometheus metrics endpoint.", default=None)


class AutoscalingStatus(ApiModel):
    """The autoscaler the operator made, and the target it chose."""

    kind: str | None = api_field("HorizontalPodAutoscaler or ScaledObject (KEDA).", default=None)
    metric: str | None = api_field("The metric scaled on.", default=None)
    target: str | None = api_field("The target in effect, e.g. 70%, 20ms, 568/s.", default=None)
    source: str | None = api_field("Where the target came from.", default=None)
    message: str | None = api_field("What could not be done as asked, if anything.", default=None)


class ModelDeploymentStatus(ApiModel):
    """The observed state, written only by the operator."""

    observed_generation: int | None = api_field(
        "The .metadata.generation the status reflects.", default=None, ge=0
    )
    phase: Phase | None = api_field(
        "Pending, Optimizing, Deploying, Ready, Degraded (a new revision failed; the previous "
        "one still serves) or Failed (nothing serves).",
        default=None,
    )
    conditions: list[Condition] | None = api_field(
        "Optimized, AccuracyGatePassed, Deployed and the summary Ready.",
        default=None,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    revision: str | None = api_field("The revision being served.", default=None)
    desired_revision: str | None = api_field(
        "The revision the spec asks for; differs from revision while it is optimized "
        "or when it failed.",
        default=None,
    )
    optimization: OptimizationStatus | None = api_field(
        "Result of the served revision's optimization.", default=None
    )
    endpoint: EndpointStatus | None = api_field("Service endpoints.", default=None)
    autoscaling: AutoscalingStatus | None = api_field("The autoscaler in effect.", default=None)
    replicas: int | None = api_field("Triton pods.", default=None, ge=0)
    ready_replicas: int | None = api_field("Ready Triton pods.", default=None, ge=0)


class ObjectMeta(ApiModel):
    """The parts of metadata that a manifest file may carry."""

    # Server-populated fields (uid, resourceVersion, ...) may appear in objects read back.
    model_config = ConfigDict(extra="allow")

    name: str = api_field("Name.", pattern=DNS_LABEL, max_length=MAX_NAME_LENGTH)
    namespace: str | None = api_field("Namespace.", default=None)
    labels: dict[str, str] | None = api_field("Labels.", default=None)
    annotations: dict[str, str] | None = api_field("Annotations.", default=None)


class ModelDeployment(ApiModel):
    """A model taken to an optimized, validated, autoscaled Triton endpoint."""

    api_version: Literal["modeldeploy.dev/v1alpha1"] = api_field("API version.", alias="apiVersion")
    kind: Literal["ModelDeployment"] = api_field("Kind.")
    metadata: ObjectMeta = api_field("Standard object metadata.")
    spec: ModelDeploymentSpec = api_field("Desired state.")
    status: ModelDeploymentStatus | None = api_field("Observed state.", default=None)
