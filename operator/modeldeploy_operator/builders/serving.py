"""The Triton Deployment, its Service, its autoscaler and its PodDisruptionBudget."""

from __future__ import annotations

from modeldeploy_operator.api import ModelDeployment
from modeldeploy_operator.builders.common import (
    CONTAINER_SECURITY_CONTEXT,
    POD_SECURITY_CONTEXT,
    TMP_MOUNT,
    TMP_VOLUME,
    Manifest,
    metadata,
    resources,
)
from modeldeploy_operator.naming import selector, server_name, service_name
from modeldeploy_operator.settings import OperatorSettings
from modeldeploy_operator.storage import artifact_location

COMPONENT = "server"
PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}


def _probe(path: str, period: int, failures: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 3,
    }


def build_deployment(md: ModelDeployment, revision: str, settings: OperatorSettings) -> Manifest:
    """Triton serving ``revision``. ``replicas`` is left out: the autoscaler owns it."""
    spec = md.spec
    name = md.metadata.name
    artifacts = spec.artifacts
    repository = artifact_location(
        artifacts.uri if artifacts else settings.default_artifacts_uri,
        artifacts.credentials_secret if artifacts else None,
        name,
        revision,
        read_only=True,
    )
    gpu = {"nvidia.com/gpu": spec.serving.gpu} if spec.serving.gpu else None
    container: Manifest = {
        "name": "triton",
        "image": spec.serving.runtime.image,
        "command": ["tritonserver"],
        "args": [
            f"--model-repository={repository.path}",
            "--strict-readiness=true",
            "--exit-on-error=true",
            f"--http-port={PORTS['http']}",
            f"--grpc-port={PORTS['grpc']}",
            f"--metrics-port={PORTS['metrics']}",
        ],
        "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in PORTS.items()],
        # Loading a large model takes a while; the startup probe holds off liveness until then.
        "startupProbe": _probe("/v2/health/ready", 5, 120),
        "readinessProbe": _probe("/v2/health/ready", 5, 3),
        "livenessProbe": _probe("/v2/health/live", 10, 3),
        "envFrom": repository.env_from,
        "resources": resources(spec.serving.resources, gpu),
        "securityContext": CONTAINER_SECURITY_CONTEXT,
        "volumeMounts": [TMP_MOUNT, *repository.mounts],
    }
    pod_labels = metadata(md, "", COMPONENT, revision)["labels"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(md, server_name(name), COMPONENT, revision),
        "spec": {
            "selector": {"matchLabels": selector(name, COMPONENT)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "maxSurge": spec.rollout.max_surge,
                    "maxUnavailable": spec.rollout.max_unavailable,
                },
            },
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORTS["metrics"]),
                    },
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": POD_SECURITY_CONTEXT,
                    "containers": [container],
                    "volumes": [TMP_VOLUME, *repository.volumes],
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector(name, COMPONENT)},
                        }
                    ],
                },
            },
        },
    }


def build_service(md: ModelDeployment) -> Manifest:
    name = md.metadata.name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(md, service_name(name), COMPONENT),
        "spec": {
            "selector": selector(name, COMPONENT),
            "ports": [
                {"name": n, "port": p, "targetPort": n, "protocol": "TCP"} for n, p in PORTS.items()
            ],
        },
    }


def build_pdb(md: ModelDeployment) -> Manifest | None:
    """Keeps one pod up through voluntary disruptions; pointless (and blocking node
    drains) when there is only ever one pod."""
    if md.spec.autoscaling.max_replicas < 2:
        return None
    name = md.metadata.name
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(md, server_name(name), COMPONENT),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(name, COMPONENT)}},
    }


def endpoints(md: ModelDeployment, settings: OperatorSettings) -> dict[str, str]:
    host = f"{service_name(md.metadata.name)}.{md.metadata.namespace}.svc.{settings.cluster_domain}"
    return {
        "http": f"http://{host}:{PORTS['http']}",
        "grpc": f"{host}:{PORTS['grpc']}",
        "metrics": f"http://{host}:{PORTS['metrics']}/metrics",
    }
