"""Pieces every child shares: metadata with an owner reference, restricted security."""

from __future__ import annotations

from typing import Any

from modeldeploy_operator.api import API_VERSION, KIND, ModelDeployment
from modeldeploy_operator.naming import labels

Manifest = dict[str, Any]


def owner_reference(md: ModelDeployment) -> Manifest:
    """Lets the API server's garbage collector delete the child with its owner."""
    extra = md.metadata.model_extra or {}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": md.metadata.name,
        "uid": extra.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(
    md: ModelDeployment, name: str, component: str, revision: str | None = None
) -> Manifest:
    return {
        "name": name,
        "namespace": md.metadata.namespace,
        "labels": labels(md.metadata.name, component, revision),
        "ownerReferences": [owner_reference(md)],
    }


# What the "restricted" Pod Security Standard demands, so every pod we create is
# admitted in a namespace that enforces it.
POD_SECURITY_CONTEXT: Manifest = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "fsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}

CONTAINER_SECURITY_CONTEXT: Manifest = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}

# readOnlyRootFilesystem needs somewhere to write scratch files.
TMP_VOLUME: Manifest = {"name": "tmp", "emptyDir": {}}
TMP_MOUNT: Manifest = {"name": "tmp", "mountPath": "/tmp"}


def resources(spec: Any, extra_limits: dict[str, Any] | None = None) -> Manifest:
    """A container's resources from a ResourceRequirements model (or None)."""
    out: Manifest = {}
    if spec is not None and spec.requests:
        out["requests"] = dict(spec.requests)
    limits = dict(spec.limits) if spec is not None and spec.limits else {}
    limits.update(extra_limits or {})
    if limits:
        out["limits"] = limits
    return out
