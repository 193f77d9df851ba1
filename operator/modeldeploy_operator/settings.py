"""Operator-wide settings, read from the environment (the Helm chart sets them)."""

from __future__ import annotations

from pydantic import BaseModel, Field

FIELD_MANAGER = "modeldeploy"
LABEL_PREFIX = "modeldeploy.dev"
FINALIZER = "modeldeploy.dev/cleanup"


class OperatorSettings(BaseModel):
    """What a cluster administrator chooses once for every ModelDeployment."""

    optimizer_image: str = Field(
        default="ghcr.io/modeldeploy/optimizer:0.1.0",
        description="Image of the optimization Job (optimizer/Dockerfile).",
    )
    default_artifacts_uri: str = Field(
        default="pvc://modeldeploy-artifacts/repositories",
        description="Where model repositories go when a ModelDeployment names no artifacts.",
    )
    prometheus_url: str = Field(
        default="http://prometheus-operated.monitoring.svc:9090",
        description="Prometheus that KEDA's triggers query for Triton's metrics.",
    )
    job_backoff_limit: int = Field(default=1, ge=0)
    job_ttl_seconds: int = Field(
        default=86400,
        ge=0,
        description="Finished Jobs are deleted after this; their result is kept in status.",
    )
    cluster_domain: str = "cluster.local"
