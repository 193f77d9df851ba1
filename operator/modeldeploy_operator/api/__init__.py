"""The ModelDeployment API: typed models, manifest parsing and the CRD generator."""

from modeldeploy_operator.api.manifest import ManifestError, load_manifests, parse_manifest
from modeldeploy_operator.api.v1alpha1 import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    AutoscalingSpec,
    Condition,
    ModelDeployment,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ServingSpec,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "AutoscalingSpec",
    "Condition",
    "ManifestError",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "ServingSpec",
    "load_manifests",
    "parse_manifest",
]
