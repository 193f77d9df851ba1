"""The operator end to end on the real control plane. The test plays the kubelet only
where a pod must really finish: it writes the optimizer pod's termination message."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
import yaml
from modeldeploy_operator.api import parse_manifest
from modeldeploy_operator.kube import API_RECHECK_SECONDS
from modeldeploy_optimizer.spec import revision_of

from hack.cluster.launcher import LocalCluster
from hack.cluster.pytest_plugin import wait_until
from tests.support.manifests import ROOT
from tests.support.operator import Kubectl, Operator, keda_crd, summary

pytestmark = pytest.mark.slow


def _minilm(namespace: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "minilm.yaml").read_text())
    body["metadata"]["namespace"] = namespace
    return body


def _revision(body: dict[str, Any]) -> str:
    md = parse_manifest(body)
    return revision_of(md.spec.model, md.spec.optimization, md.spec.serving.runtime)


def _status(kubectl: Kubectl, name: str = "minilm") -> dict[str, Any]:
    found = kubectl.get("mdep", name) or {}
    status: dict[str, Any] = found.get("status") or {}
    return status


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), {})


def _wait_phase(kubectl: Kubectl, phase: str, timeout: float) -> dict[str, Any]:
    """The status once it reaches ``phase``."""
    found: dict[str, Any] = wait_until(
        lambda: (s := _status(kubectl)).get("phase") == phase and s, phase, timeout=timeout
    )
    return found


def _apply_and_wait_for_job(kubectl: Kubectl, body: dict[str, Any]) -> str:
    """Apply ``body``; the name of the optimization Job the operator then creates."""
    kubectl.apply(body)
    job = f"minilm-opt-{_revision(body)}"
    wait_until(lambda: kubectl.get("job", job), f"Job {job}", timeout=60)
    return job


def _events(kubectl: Kubectl) -> str:
    """The Events about the ModelDeployment, as kubectl lists them."""
    return kubectl.run("get", "events", "--field-selector", "involvedObject.name=minilm")


def _assert_a_poke_writes_nothing(operator: Operator, kubectl: Kubectl, namespace: str) -> None:
    """An annotation wakes the operator; a reconcile that finds nothing to do writes nothing."""
    writes = operator.writes(namespace)
    kubectl.run("annotate", "--overwrite", "mdep", "minilm", f"example.com/poke={time.time()}")
    time.sleep(5)
    assert operator.writes(namespace) == writes


def _serve_first_revision(kubectl: Kubectl, body: dict[str, Any]) -> str:
    revision = _revision(body)
    kubectl.finish_job(_apply_and_wait_for_job(kubectl, body), summary())
    wait_until(lambda: _status(kubectl).get("revision") == revision, "promotion", timeout=90)
    return revision


@pytest.mark.pod_security("restricted")
def test_example_goes_from_job_to_ready_endpoint(
    operator: Operator, kubectl: Kubectl, namespace: str
) -> None:
    body = _minilm(namespace)
    kubectl.apply(body)
    revision = _revision(body)
    job = wait_until(lambda: kubectl.get("job", f"minilm-opt-{revision}"), "the Job", timeout=60)
    # The Job as specified: owned, bounded, restricted, the spec passed as JSON.
    assert job["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    assert job["spec"]["activeDeadlineSeconds"] == 3600
    assert job["spec"]["backoffLimit"] == 1
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.test/optimizer:1"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    status = wait_until(lambda: _status(kubectl).get("phase"), "a phase", timeout=30)
    assert status == "Optimizing"

    kubectl.finish_job(job["metadata"]["name"], summary())
    deployment = wait_until(lambda: kubectl.get("deployment", "minilm-triton"), "Deployment", 90)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["modeldeploy.dev/revision"] == revision
    assert kubectl.get("service", "minilm") is not None
    hpa = kubectl.get("hpa", "minilm-triton")
    assert hpa is not None
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 6)
    assert kubectl.get("pdb", "minilm-triton") is not None

    # kwok makes the Triton pods Ready; the summary condition follows.
    kubectl.run("wait", "--for=condition=Ready", "mdep/minilm", "--timeout=120s")
    status = _status(kubectl)
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == 1
    assert status["optimization"]["speedup"] == 1.47
    assert status["endpoint"]["http"] == f"http://minilm.{namespace}.svc.cluster.local:8000"
    table = kubectl.run("get", "mdep", "minilm")
    assert revision in table
    assert "1.47" in table
    assert "21.9MiB (was 86.7MiB)" in table
    events = _events(kubectl)
    assert "JobCreated" in events


def test_failed_new_revision_keeps_the_old_one_serving(
    operator: Operator, kubectl: Kubectl, namespace: str
) -> None:
    body = _minilm(namespace)
    old = _serve_first_revision(kubectl, body)
    kubectl.run("wait", "--for=condition=Ready", "mdep/minilm", "--timeout=120s")
    before = kubectl.get("deployment", "minilm-triton")
    assert before is not None

    changed = copy.deepcopy(body)
    changed["spec"]["optimization"]["quantization"] = "fp16"
    assert _revision(changed) != old
    new_job = _apply_and_wait_for_job(kubectl, changed)
    _wait_phase(kubectl, "Optimizing", timeout=30)
    kubectl.finish_job(new_job, summary(passed=False))

    status = _wait_phase(kubectl, "Degraded", timeout=90)
    assert status["revision"] == old
    assert _condition(status, "Ready")["status"] == "True"
    assert _condition(status, "Optimized")["reason"] == "AccuracyGateFailed"
    assert _condition(status, "AccuracyGatePassed")["status"] == "False"
    after = kubectl.get("deployment", "minilm-triton")
    assert after is not None
    # The gated-out revision never reached the Deployment.
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    events = _events(kubectl)
    assert "AccuracyGateFailed" in events


def test_autoscaling_change_reoptimizes_nothing_and_resync_writes_nothing(
    operator: Operator, kubectl: Kubectl, namespace: str
) -> None:
    body = _minilm(namespace)
    revision = _serve_first_revision(kubectl, body)
    kubectl.run("wait", "--for=condition=Ready", "mdep/minilm", "--timeout=120s")

    changed = copy.deepcopy(body)
    changed["spec"]["autoscaling"]["maxReplicas"] = 3
    kubectl.apply(changed)
    wait_until(
        lambda: (h := kubectl.get("hpa", "minilm-triton")) and h["spec"]["maxReplicas"] == 3,
        "the HPA to follow",
        timeout=60,
    )
    assert [j["metadata"]["name"] for j in kubectl.items("jobs")] == [f"minilm-opt-{revision}"]
    kubectl.run("wait", "--for=condition=Ready", "mdep/minilm", "--timeout=120s")

    # Settle, then poke the resource (an annotation wakes the operator) and check
    # that the reconcile it triggers writes nothing: no child's spec or labels change
    # (controllers may still update their status), the resource's status is untouched,
    # and the operator counts no write.
    def snapshot() -> dict[str, Any]:
        out: dict[str, Any] = {"status": _status(kubectl)}
        for kind in ("deployment", "service", "hpa", "pdb", "job"):
            for item in kubectl.items(kind):
                meta = item["metadata"]
                out[f"{kind}/{meta['name']}"] = (item["spec"], meta.get("labels"))
        return out

    wait_until(lambda: _status(kubectl).get("phase") == "Ready", "Ready", timeout=60)
    time.sleep(2)
    before = snapshot()
    _assert_a_poke_writes_nothing(operator, kubectl, namespace)
    assert snapshot() == before


def test_deleting_the_resource_removes_every_child(
    operator: Operator, kubectl: Kubectl, namespace: str
) -> None:
    _serve_first_revision(kubectl, _minilm(namespace))
    kubectl.run("delete", "mdep", "minilm", "--wait=true", "--timeout=60s")
    for kind in ("deployment", "service", "hpa", "pdb", "job"):
        wait_until(lambda k=kind: kubectl.items(k) == [], f"{kind} garbage-collected", 90)


def test_unschedulable_pod_then_job_deadline_are_reported(
    operator: Operator, kubectl: Kubectl, namespace: str
) -> None:
    body = _minilm(namespace)
    body["spec"]["optimization"]["resources"] = {"requests": {"cpu": "512"}}
    body["spec"]["optimization"]["timeoutSeconds"] = 60
    kubectl.apply(body)
    status = wait_until(
        lambda: (
            (s := _status(kubectl))
            and _condition(s, "Optimized").get("reason") == "Unschedulable"
            and s
        ),
        "the Unschedulable reason",
        timeout=90,
    )
    assert "cannot be scheduled" in _condition(status, "Optimized")["message"]
    assert "Insufficient cpu" in _condition(status, "Optimized")["message"]
    # The Job's deadline ends the wait: a reason, a Warning, and no new Job.
    status = _wait_phase(kubectl, "Failed", timeout=120)
    assert _condition(status, "Optimized")["reason"] == "DeadlineExceeded"
    assert "timeoutSeconds" in _condition(status, "Optimized")["message"]
    events = _events(kubectl)
    assert "Unschedulable" in events
    assert "DeadlineExceeded" in events
    _assert_a_poke_writes_nothing(operator, kubectl, namespace)
    assert len(kubectl.items("jobs")) == 1


def test_unreachable_source_fails_with_reason_and_no_hot_loop(
    operator: Operator, kubectl: Kubectl, namespace: str
) -> None:
    body = _minilm(namespace)
    job = _apply_and_wait_for_job(kubectl, body)
    kubectl.finish_job(
        job,
        {"ok": False, "reason": "SourceUnreachable", "message": "pvc path /mnt/source/x missing"},
    )
    status = _wait_phase(kubectl, "Failed", timeout=90)
    assert _condition(status, "Ready")["reason"] == "SourceUnreachable"
    _assert_a_poke_writes_nothing(operator, kubectl, namespace)
    assert len(kubectl.items("jobs")) == 1


def test_restarting_the_operator_mid_way_duplicates_nothing(
    operator: Operator, kubectl: Kubectl, namespace: str
) -> None:
    body = _minilm(namespace)
    job = _apply_and_wait_for_job(kubectl, body)
    operator.stop(kill=True)
    operator.start()
    kubectl.finish_job(job, summary())
    kubectl.run("wait", "--for=condition=Ready", "mdep/minilm", "--timeout=120s")
    operator.stop(kill=True)
    operator.start()
    kubectl.run("annotate", "mdep", "minilm", "example.com/poke=1")
    kubectl.run("wait", "--for=condition=Ready", "mdep/minilm", "--timeout=60s")
    assert [j["metadata"]["name"] for j in kubectl.items("jobs")] == [job]
    assert len(kubectl.items("deployments")) == 1
    assert len(kubectl.items("hpa")) == 1


def test_switching_the_metric_replaces_the_autoscaler_and_never_owns_replicas(
    operator: Operator, kubectl: Kubectl, namespace: str, cluster: LocalCluster
) -> None:
    body = _minilm(namespace)
    _serve_first_revision(kubectl, body)
    jobs = len(kubectl.items("jobs"))

    def autoscaling() -> dict[str, Any]:
        found: dict[str, Any] = _status(kubectl).get("autoscaling") or {}
        return found

    assert autoscaling()["kind"] == "HorizontalPodAutoscaler"
    queue = copy.deepcopy(body)
    queue["spec"]["autoscaling"].update(metric="queue-latency", target="20ms")
    kubectl.apply(queue)

    def hpa_on_queue_latency() -> bool:
        hpa = kubectl.get("hpa", "minilm-triton")
        return bool(hpa) and hpa["spec"]["metrics"][0].get("type") == "Pods"

    wait_until(hpa_on_queue_latency, "the HPA on Triton's queue latency", timeout=60)
    hpa = kubectl.get("hpa", "minilm-triton")
    assert hpa is not None
    assert hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "20k"
    wait_until(lambda: autoscaling().get("target") == "20ms", "status.autoscaling", timeout=30)
    _assert_a_poke_writes_nothing(operator, kubectl, namespace)

    # The operator never owns the Deployment's replicas: the autoscaler does.
    deployment = json.loads(
        kubectl.run("get", "deployment", "minilm-triton", "-o", "json", "--show-managed-fields")
    )
    ours = [m for m in deployment["metadata"]["managedFields"] if m["manager"] == "modeldeploy"]
    assert ours
    assert all("f:replicas" not in json.dumps(m.get("fieldsV1", {})) for m in ours)

    # With KEDA's CRD served, the same spec becomes a ScaledObject and the HPA goes.
    cluster.kubectl("apply", "--server-side", "-f", str(keda_crd()))
    # The operator re-asks which APIs are served every API_RECHECK_SECONDS, and a
    # new CRD sends it no event: the next reconcile after that (here a poke; on a
    # cluster the resync) switches.
    time.sleep(API_RECHECK_SECONDS + 1)
    kubectl.run("annotate", "--overwrite", "mdep", "minilm", "example.com/keda=installed")
    scaled = wait_until(
        lambda: kubectl.get("scaledobject", "minilm-triton"), "the ScaledObject", timeout=120
    )
    trigger = scaled["spec"]["triggers"][0]
    assert trigger["metadata"]["threshold"] == "20000"
    assert "nv_inference_queue_duration_us" in trigger["metadata"]["query"]
    wait_until(lambda: kubectl.get("hpa", "minilm-triton") is None, "the HPA gone", timeout=60)
    wait_until(lambda: autoscaling().get("kind") == "ScaledObject", "kind in status", timeout=30)

    # And back to CPU: an HPA again, the ScaledObject gone, nothing re-optimized.
    kubectl.apply(body)
    wait_until(lambda: kubectl.get("hpa", "minilm-triton"), "the HPA back", timeout=60)
    wait_until(lambda: kubectl.get("scaledobject", "minilm-triton") is None, "no ScaledObject", 60)
    assert len(kubectl.items("jobs")) == jobs
    _assert_a_poke_writes_nothing(operator, kubectl, namespace)


def test_operator_made_cpu_hpa_scales_the_triton_deployment_up_and_down(
    operator: Operator, kubectl: Kubectl, namespace: str
) -> None:
    """End to end through the real HPA controller: metrics-server reads the CPU use that
    kwok emulates from a pod annotation, and the operator's HPA moves the replicas."""
    body = _minilm(namespace)
    body["spec"]["autoscaling"].update(
        minReplicas=1,
        maxReplicas=4,
        behavior={"scaleDownStabilizationSeconds": 0, "scaleDownPercentPerMinute": 100},
    )
    _serve_first_revision(kubectl, body)
    kubectl.run("wait", "--for=condition=Ready", "mdep/minilm", "--timeout=120s")

    def use_cpu(millicores: int) -> None:
        # Each Triton pod requests 1 CPU (the example); kwok reports this much use.
        patch = {"spec": {"template": {"metadata": {"annotations": {
            "kwok.x-k8s.io/usage-cpu": f"{millicores}m"}}}}}  # fmt: skip
        kubectl.run("patch", "deployment", "minilm-triton", "--type=merge", "-p", json.dumps(patch))

    def replicas() -> int:
        found = kubectl.get("deployment", "minilm-triton") or {}
        return int((found.get("spec") or {}).get("replicas") or 0)

    use_cpu(950)
    wait_until(lambda: replicas() >= 3, "the HPA to scale up", timeout=180, interval=2)
    status = wait_until(
        lambda: (s := _status(kubectl)).get("replicas", 0) >= 3 and s, "status.replicas", 90
    )
    assert status["autoscaling"]["kind"] == "HorizontalPodAutoscaler"
    use_cpu(50)
    wait_until(lambda: replicas() == 1, "the HPA to scale down", timeout=240, interval=2)
    # Once the status has caught up with the last pod gone, the operator has nothing to
    # write: it does not fight the autoscaler over replicas.
    wait_until(lambda: _status(kubectl).get("replicas") == 1, "status.replicas 1", timeout=90)
    _assert_a_poke_writes_nothing(operator, kubectl, namespace)
