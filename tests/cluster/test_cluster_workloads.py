"""The local control plane behaves like a real cluster: real kubectl against
real etcd, kube-apiserver, kube-controller-manager and kube-scheduler, with
kwok playing the kubelets of fake nodes."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from typing import Any

import pytest

from hack.cluster import LocalCluster
from hack.cluster import tools as cluster_tools
from hack.cluster.pytest_plugin import kubectl_json, wait_until

pytestmark = pytest.mark.slow


def apply(cluster: LocalCluster, namespace: str, manifest: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=textwrap.dedent(manifest))


def condition(obj: dict[str, Any], kind: str) -> str | None:
    for c in obj.get("status", {}).get("conditions", []) or []:
        if c["type"] == kind:
            return str(c["status"])
    return None


def deployment(name: str, replicas: int, *, cpu: str = "100m", usage: str = "") -> str:
    annotations = f'annotations: {{kwok.x-k8s.io/usage-cpu: "{usage}"}}' if usage else ""
    return f"""
    apiVersion: apps/v1
    kind: Deployment
    metadata: {{name: {name}}}
    spec:
      replicas: {replicas}
      selector: {{matchLabels: {{app: {name}}}}}
      template:
        metadata:
          labels: {{app: {name}}}
          {annotations}
        spec:
          containers:
          - name: app
            image: registry.invalid/app:1
            resources:
              requests: {{cpu: {cpu}, memory: 64Mi}}
              limits: {{cpu: "1", memory: 128Mi}}
    """


def test_fake_nodes_are_ready(cluster: LocalCluster) -> None:
    nodes = kubectl_json(cluster, "nodes")["items"]
    assert len(nodes) == cluster.nodes.count
    for node in nodes:
        assert condition(node, "Ready") == "True", node["metadata"]["name"]
        assert node["status"]["allocatable"]["cpu"] == cluster.nodes.cpu
    table = cluster.kubectl("get", "nodes").stdout
    assert table.count(" Ready ") == cluster.nodes.count, table


def test_versions_are_the_pinned_ones(cluster: LocalCluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    k8s = cluster_tools.versions()["kubernetes"]
    assert version["serverVersion"]["gitVersion"] == k8s
    assert version["clientVersion"]["gitVersion"] == k8s
    etcd = subprocess.run(
        [str(cluster_tools.path("etcd")), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"etcd Version: {cluster_tools.versions()['etcd'].removeprefix('v')}" in etcd


def test_deployment_pods_are_scheduled_running_and_ready(
    cluster: LocalCluster, namespace: str
) -> None:
    apply(cluster, namespace, deployment("web", 3))
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=60s")
    pods = kubectl_json(cluster, "pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 3
    node_names = {n["metadata"]["name"] for n in kubectl_json(cluster, "nodes")["items"]}
    for pod in pods:
        assert pod["spec"]["nodeName"] in node_names  # bound by kube-scheduler
        assert pod["status"]["phase"] == "Running"
        assert condition(pod, "Ready") == "True"
        assert pod["status"]["podIP"]


def test_job_completes(cluster: LocalCluster, namespace: str) -> None:
    apply(
        cluster,
        namespace,
        """
        apiVersion: batch/v1
        kind: Job
        metadata: {name: once}
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers:
              - {name: main, image: registry.invalid/job:1}
        """,
    )
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Complete", "job/once", "--timeout=60s"
    )
    job = kubectl_json(cluster, "job", "-n", namespace, "once")
    assert job["status"]["succeeded"] == 1
    pods = kubectl_json(cluster, "pods", "-n", namespace, "-l", "job-name=once")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"]


def test_operator_job_pods_wait_for_the_test_to_play_the_kubelet(
    cluster: LocalCluster, namespace: str
) -> None:
    """Pods labelled app.kubernetes.io/managed-by=modeldeploy (the operator's Jobs)
    stay Running until the test writes their end, termination message included."""
    apply(
        cluster,
        namespace,
        """
        apiVersion: batch/v1
        kind: Job
        metadata: {name: optimize}
        spec:
          backoffLimit: 0
          template:
            metadata:
              labels: {app.kubernetes.io/managed-by: modeldeploy}
            spec:
              restartPolicy: Never
              containers:
              - {name: optimizer, image: registry.invalid/optimizer:1}
        """,
    )

    def running_pod() -> dict[str, Any] | None:
        pods = kubectl_json(cluster, "pods", "-n", namespace, "-l", "job-name=optimize")["items"]
        ready = [p for p in pods if condition(p, "Ready") == "True"]
        return ready[0] if ready else None

    pod = wait_until(running_pod, "the Job's pod to be Running and Ready")
    time.sleep(2)  # kwok had time to complete it, and must not have
    job = kubectl_json(cluster, "job", "-n", namespace, "optimize")
    assert job["status"].get("active") == 1
    assert not job["status"].get("succeeded")

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    terminated = {"exitCode": 1, "reason": "Error", "message": '{"ok": false}'}
    status = {
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {
                    "name": "optimizer",
                    "image": "registry.invalid/optimizer:1",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": {**terminated, "startedAt": now, "finishedAt": now}},
                }
            ],
        }
    }
    cluster.kubectl(
        "patch", "pod", "-n", namespace, pod["metadata"]["name"], "--subresource=status",
        "--type=merge", "-p", json.dumps(status),
    )  # fmt: skip
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Failed", "job/optimize")
    after = kubectl_json(cluster, "pod", "-n", namespace, pod["metadata"]["name"])
    state = after["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["message"] == '{"ok": false}'


def test_deleting_an_owner_garbage_collects_its_children(
    cluster: LocalCluster, namespace: str
) -> None:
    apply(cluster, namespace, deployment("owner", 2))
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/owner", "--timeout=60s")
    # A child owned through an explicit ownerReference, as the operator does.
    owner = kubectl_json(cluster, "deployment", "-n", namespace, "owner")
    child = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "owned",
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "owner",
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": {"k": "v"},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(child))
    assert kubectl_json(cluster, "replicasets", "-n", namespace)["items"]

    cluster.kubectl("delete", "-n", namespace, "deployment/owner", "--wait=false")

    def gone() -> bool:
        rs = kubectl_json(cluster, "replicasets", "-n", namespace)["items"]
        pods = kubectl_json(cluster, "pods", "-n", namespace)["items"]
        cms = kubectl_json(cluster, "configmaps", "-n", namespace)["items"]
        return not rs and not pods and "owned" not in {c["metadata"]["name"] for c in cms}

    wait_until(gone, "the ReplicaSet, its pods and the owned ConfigMap to be collected")


def test_hpa_controller_acts_on_min_replicas(cluster: LocalCluster, namespace: str) -> None:
    apply(cluster, namespace, deployment("minrep", 1))
    apply(
        cluster,
        namespace,
        """
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata: {name: minrep}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: minrep}
          minReplicas: 2
          maxReplicas: 4
          metrics:
          - type: Resource
            resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
        """,
    )
    wait_until(
        lambda: (
            kubectl_json(cluster, "deployment", "-n", namespace, "minrep")["spec"]["replicas"] == 2
        ),
        "the HPA controller to raise replicas to minReplicas",
    )


def test_cpu_hpa_scales_up_on_emulated_usage(cluster: LocalCluster, namespace: str) -> None:
    # 100m requested, 400m used (kwok's emulated usage, scraped by
    # metrics-server): 400% against a 50% target, so the HPA goes to max.
    apply(cluster, namespace, deployment("busy", 1, cpu="100m", usage="400m"))
    apply(
        cluster,
        namespace,
        """
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata: {name: busy}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: busy}
          minReplicas: 1
          maxReplicas: 3
          metrics:
          - type: Resource
            resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
        """,
    )

    def scaled() -> dict[str, Any] | None:
        hpa = kubectl_json(cluster, "hpa", "-n", namespace, "busy")
        return hpa if hpa["status"].get("desiredReplicas", 0) >= 3 else None

    hpa = wait_until(scaled, "the CPU HPA to scale up on metrics", timeout=120, interval=2)
    current = hpa["status"]["currentMetrics"][0]["resource"]["current"]
    assert current["averageUtilization"] > 50
    wait_until(
        lambda: (
            kubectl_json(cluster, "deployment", "-n", namespace, "busy")["spec"]["replicas"] == 3
        ),
        "the Deployment to be scaled to 3",
    )
    top = cluster.kubectl("top", "pods", "-n", namespace).stdout
    assert "busy-" in top


def test_privileged_pod_is_rejected_in_a_restricted_namespace(
    cluster: LocalCluster, restricted_namespace: str
) -> None:
    privileged = """
        apiVersion: v1
        kind: Pod
        metadata: {name: root}
        spec:
          containers:
          - name: main
            image: registry.invalid/app:1
            securityContext: {privileged: true}
        """
    result = cluster.kubectl(
        "apply", "-n", restricted_namespace, "-f", "-", input=textwrap.dedent(privileged),
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "violates PodSecurity" in result.stderr
    assert "privileged" in result.stderr

    compliant = """
        apiVersion: v1
        kind: Pod
        metadata: {name: fine}
        spec:
          securityContext:
            runAsNonRoot: true
            runAsUser: 1000
            seccompProfile: {type: RuntimeDefault}
          containers:
          - name: main
            image: registry.invalid/app:1
            securityContext:
              allowPrivilegeEscalation: false
              capabilities: {drop: [ALL]}
        """
    apply(cluster, restricted_namespace, compliant)


def test_privileged_pod_is_accepted_without_pod_security_label(
    cluster: LocalCluster, namespace: str
) -> None:
    apply(
        cluster,
        namespace,
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: root}
        spec:
          containers:
          - {name: main, image: registry.invalid/app:1, securityContext: {privileged: true}}
        """,
    )


def test_rbac_is_enforced(cluster: LocalCluster, namespace: str) -> None:
    denied = cluster.kubectl(
        "auth", "can-i", "list", "secrets", "-n", namespace,
        f"--as=system:serviceaccount:{namespace}:default", check=False,
    )  # fmt: skip
    assert denied.stdout.strip() == "no"
    allowed = cluster.kubectl("auth", "can-i", "list", "secrets", "-n", namespace)
    assert allowed.stdout.strip() == "yes"


def test_helm_installs_a_chart(cluster: LocalCluster, namespace: str, tmp_path: Any) -> None:
    chart = tmp_path / "mini"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: mini\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-cm'}\n"
        "data: {ns: '{{ .Release.Namespace }}'}\n"
    )
    helm = [str(cluster_tools.path("helm")), f"--kubeconfig={cluster.kubeconfig}"]
    env = {**cluster.env(), "HELM_CACHE_HOME": str(tmp_path / "hc")}
    env |= {"HELM_CONFIG_HOME": str(tmp_path / "hf"), "HELM_DATA_HOME": str(tmp_path / "hd")}
    subprocess.run(
        [*helm, "install", "rel", str(chart), "-n", namespace, "--wait", "--timeout=60s"],
        check=True,
        env=env,
        capture_output=True,
    )
    cm = kubectl_json(cluster, "configmap", "-n", namespace, "rel-cm")
    assert cm["data"] == {"ns": namespace}
    version = subprocess.run(
        [*helm, "version", "--short"], check=True, env=env, capture_output=True, text=True
    ).stdout
    assert version.startswith(cluster_tools.versions()["helm"])
