"""The optimization Job of one revision."""

from __future__ import annotations

import json

from modeldeploy_optimizer.spec import OptimizerInput, TritonModelConfig

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
from modeldeploy_operator.naming import job_name
from modeldeploy_operator.settings import OperatorSettings
from modeldeploy_operator.storage import artifact_location, model_location

COMPONENT = "optimizer"


def optimizer_input(md: ModelDeployment, model_path: str) -> OptimizerInput:
    """What the Job is asked to do; the model URI as the pod sees it."""
    spec = md.spec
    triton_fields = set(TritonModelConfig.model_fields)
    return OptimizerInput(
        name=md.metadata.name,
        model=spec.model.model_copy(update={"uri": model_path}),
        optimization=spec.optimization,
        runtime=spec.serving.runtime,
        triton=TritonModelConfig(**{k: getattr(spec.serving, k) for k in triton_fields}),
        gpu=spec.serving.gpu > 0,
    )


def build_job(md: ModelDeployment, revision: str, settings: OperatorSettings) -> Manifest:
    spec = md.spec
    artifacts = spec.artifacts
    output = artifact_location(
        artifacts.uri if artifacts else settings.default_artifacts_uri,
        artifacts.credentials_secret if artifacts else None,
        md.metadata.name,
        revision,
        read_only=False,
    )
    source = model_location(spec.model.uri, spec.model.credentials_secret)
    payload = optimizer_input(md, source.path).to_wire()
    container: Manifest = {
        "name": "optimizer",
        "image": settings.optimizer_image,
        "args": [
            "--input",
            json.dumps(payload, sort_keys=True, separators=(",", ":")),
            "--output",
            output.path,
            "--termination-log",
            "/dev/termination-log",
        ],
        "env": [
            {"name": "HOME", "value": "/tmp"},
            {"name": "HF_HUB_OFFLINE", "value": "1"},
            {"name": "MODELDEPLOY_LOG_FORMAT", "value": "json"},
        ],
        "envFrom": source.env_from + [e for e in output.env_from if e not in source.env_from],
        "resources": resources(spec.optimization.resources),
        "securityContext": CONTAINER_SECURITY_CONTEXT,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [TMP_MOUNT, *source.mounts, *output.mounts],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(md, job_name(md.metadata.name, revision), COMPONENT, revision),
        "spec": {
            "backoffLimit": settings.job_backoff_limit,
            "activeDeadlineSeconds": spec.optimization.timeout_seconds,
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "template": {
                "metadata": {"labels": metadata(md, "", COMPONENT, revision)["labels"]},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": POD_SECURITY_CONTEXT,
                    "containers": [container],
                    "volumes": [TMP_VOLUME, *source.volumes, *output.volumes],
                },
            },
        },
    }
