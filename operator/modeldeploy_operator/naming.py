"""Names and labels of everything a ModelDeployment owns."""

from __future__ import annotations

from modeldeploy_operator.settings import LABEL_PREFIX

NAME_LABEL = f"{LABEL_PREFIX}/name"
REVISION_LABEL = f"{LABEL_PREFIX}/revision"
COMPONENT_LABEL = "app.kubernetes.io/component"


def job_name(name: str, revision: str) -> str:
    return f"{name}-opt-{revision}"


def server_name(name: str) -> str:
    """The Triton Deployment, its autoscaler and its PodDisruptionBudget."""
    return f"{name}-triton"


def service_name(name: str) -> str:
    """The Service keeps the ModelDeployment's own name: <name>.<namespace>.svc is the endpoint."""
    return name


def selector(name: str, component: str) -> dict[str, str]:
    """Labels that select a component's pods; never includes the revision (selectors are
    immutable, and one Deployment rolls from revision to revision)."""
    return {NAME_LABEL: name, COMPONENT_LABEL: component}


def labels(name: str, component: str, revision: str | None = None) -> dict[str, str]:
    out = {
        "app.kubernetes.io/name": "modeldeploy",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "modeldeploy",
        **selector(name, component),
    }
    if revision:
        out[REVISION_LABEL] = revision
    return out
