"""The pure builders: spec in, manifests out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from modeldeploy_operator.api import ModelDeployment, load_manifests
from modeldeploy_operator.builders.autoscaler import build_hpa, target_of
from modeldeploy_operator.builders.job import build_job
from modeldeploy_operator.builders.serving import (
    build_deployment,
    build_pdb,
    build_service,
)
from modeldeploy_operator.conditions import set_condition
from modeldeploy_operator.settings import OperatorSettings
from modeldeploy_optimizer.spec import OptimizerInput, revision_of

from tests.support.manifests import ROOT

SETTINGS = OperatorSettings()


def _example(name: str, **meta: Any) -> ModelDeployment:
    md = load_manifests(ROOT / "examples" / name)[0]
    metadata = md.metadata.model_copy(update={"namespace": "team-a", **meta})
    return md.model_copy(update={"metadata": metadata})


@pytest.fixture
def minilm() -> ModelDeployment:
    return _example("minilm.yaml", uid="1234-abcd")


def _revision(md: ModelDeployment) -> str:
    return revision_of(md.spec.model, md.spec.optimization, md.spec.serving.runtime)


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = manifest["spec"]["template"]["spec"]["containers"]
    return containers[0]


def test_job_runs_the_optimizer_on_the_revision(minilm: ModelDeployment) -> None:
    revision = _revision(minilm)
    job = build_job(minilm, revision, SETTINGS)
    assert job["metadata"]["name"] == f"minilm-opt-{revision}"
    assert job["metadata"]["namespace"] == "team-a"
    assert job["metadata"]["labels"]["modeldeploy.dev/revision"] == revision
    owner = job["metadata"]["ownerReferences"][0]
    assert owner["uid"] == "1234-abcd"
    assert owner["kind"] == "ModelDeployment"
    assert owner["controller"] is True
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == minilm.spec.optimization.timeout_seconds
    assert spec["backoffLimit"] == SETTINGS.job_backoff_limit
    assert spec["ttlSecondsAfterFinished"] == SETTINGS.job_ttl_seconds
    container = _container(job)
    args = container["args"]
    sent = OptimizerInput.model_validate(json.loads(args[args.index("--input") + 1]))
    # The pod reads the model from the mounted claim, not from a pvc:// URI.
    assert sent.model.uri == "file:///mnt/source/all-MiniLM-L6-v2"
    assert sent.optimization == minilm.spec.optimization
    assert args[args.index("--output") + 1] == f"/mnt/artifacts/minilm/minilm/{revision}"
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["source"]["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
    assert volumes["artifacts"]["persistentVolumeClaim"]["claimName"] == "model-repository"


def test_credentials_come_from_the_secret_never_the_arguments() -> None:
    md = _example("onnx-gpu-fp16.yaml")
    job = build_job(md, _revision(md), SETTINGS)
    container = _container(job)
    assert container["envFrom"] == [{"secretRef": {"name": "model-store"}}]
    assert "model-store" not in " ".join(container["args"][2:])


def _is_restricted(pod_spec: dict[str, Any]) -> bool:
    pod = pod_spec["securityContext"]
    ok = pod["runAsNonRoot"] and pod["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod_spec["containers"]:
        sc = container["securityContext"]
        ok = ok and sc["allowPrivilegeEscalation"] is False
        ok = ok and sc["capabilities"]["drop"] == ["ALL"]
    return bool(ok)


def test_every_pod_meets_the_restricted_pod_security_standard(minilm: ModelDeployment) -> None:
    revision = _revision(minilm)
    for manifest in (
        build_job(minilm, revision, SETTINGS),
        build_deployment(minilm, revision, SETTINGS),
    ):
        assert _is_restricted(manifest["spec"]["template"]["spec"])


def test_deployment_serves_the_revision_and_leaves_replicas_to_the_autoscaler(
    minilm: ModelDeployment,
) -> None:
    revision = _revision(minilm)
    deployment = build_deployment(minilm, revision, SETTINGS)
    assert deployment["metadata"]["name"] == "minilm-triton"
    assert "replicas" not in deployment["spec"]
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"]["modeldeploy.dev/revision"] == revision
    # The selector is immutable, so it must not contain the revision.
    assert "modeldeploy.dev/revision" not in deployment["spec"]["selector"]["matchLabels"]
    container = _container(deployment)
    assert f"--model-repository=/mnt/artifacts/minilm/minilm/{revision}" in container["args"]
    assert "--strict-readiness=true" in container["args"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8000,
        "grpc": 8001,
        "metrics": 8002,
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "25%",
        "maxUnavailable": 0,
    }
    spread = template["spec"]["topologySpreadConstraints"][0]
    assert spread["topologyKey"] == "kubernetes.io/hostname"


def test_gpu_and_s3_repository() -> None:
    md = _example("onnx-gpu-fp16.yaml")
    revision = _revision(md)
    container = _container(build_deployment(md, revision, SETTINGS))
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert (
        f"--model-repository=s3://models/repository/detector-fp16/{revision}" in container["args"]
    )
    assert container["envFrom"] == [{"secretRef": {"name": "model-store"}}]
    assert container["image"] == md.spec.serving.runtime.image


def test_service_autoscaler_and_budget(minilm: ModelDeployment) -> None:
    service = build_service(minilm)
    assert service["metadata"]["name"] == "minilm"
    assert service["spec"]["selector"] == {
        "modeldeploy.dev/name": "minilm",
        "app.kubernetes.io/component": "server",
    }
    target = target_of(minilm, None)
    assert target is not None
    hpa = build_hpa(minilm, target)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "minilm-triton"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 6)
    target = hpa["spec"]["metrics"][0]["resource"]["target"]
    assert target == {"type": "Utilization", "averageUtilization": 70}
    pdb = build_pdb(minilm)
    assert pdb is not None
    assert pdb["spec"]["maxUnavailable"] == 1
    single = minilm.model_copy(
        update={
            "spec": minilm.spec.model_copy(
                update={
                    "autoscaling": minilm.spec.autoscaling.model_copy(update={"max_replicas": 1})
                }
            )
        }
    )
    assert build_pdb(single) is None


def test_builders_are_deterministic(minilm: ModelDeployment) -> None:
    revision = _revision(minilm)
    assert build_job(minilm, revision, SETTINGS) == build_job(minilm, revision, SETTINGS)
    assert build_deployment(minilm, revision, SETTINGS) == build_deployment(
        minilm, revision, SETTINGS
    )


def test_condition_transition_time_moves_only_with_status() -> None:
    first = set_condition([], "Ready", "False", "Optimizing", "job running", 1, at="T1")
    same = set_condition(first, "Ready", "False", "Deploying", "rolling out", 2, at="T2")
    assert same[0].last_transition_time == "T1"
    assert (same[0].reason, same[0].observed_generation) == ("Deploying", 2)
    flipped = set_condition(same, "Ready", "True", "Ready", "serving", 2, at="T3")
    assert flipped[0].last_transition_time == "T3"
    other = set_condition(flipped, "Optimized", "True", "Succeeded", "", 2, at="T4")
    assert [c.type for c in other] == ["Ready", "Optimized"]


def test_live_objects_with_server_defaults_contain_what_we_want() -> None:
    from modeldeploy_operator.kube import contains

    desired = {"spec": {"replicas": 2, "envFrom": [], "resources": {"cpu": 2}}}
    live = {"spec": {"replicas": 2, "resources": {"cpu": "2"}, "paused": False}}
    assert contains(live, desired)
    assert not contains({"spec": {"replicas": 3, "resources": {"cpu": "2"}}}, desired)
    assert not contains({"spec": {"replicas": 2, "envFrom": [{"a": 1}]}}, desired)
