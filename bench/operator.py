"""How fast and how frugal the operator is, on the local control plane.

For N ModelDeployments (default 200) created one after another: the time from
create to the optimization Job existing, and from the Job's pod finishing to the
Triton Deployment existing (p50/p99, taken from watch events as they arrive);
the operator's API writes per resource, the writes of a quiet resync (every
resource poked, nothing to do), and the operator's resident memory.

    .venv/bin/python bench/operator.py [--resources 200]

Writes bench/results/operator.json and prints a table. Loopback only; bounded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubernetes import client, config, watch  # noqa: E402

from hack.cluster.launcher import LocalCluster, NodeSpec  # noqa: E402
from hack.cluster.pytest_plugin import wait_until  # noqa: E402
from tests.support.operator import (  # noqa: E402
    Kubectl,
    Operator,
    bind_claims,
    install_crd,
    summary,
)

NAMESPACE = "bench"


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p99": round(p99, 1)}


class Seen:
    """Arrival time of the first ADDED event per object name, from a watch thread."""

    def __init__(self, list_call: Any) -> None:
        self.times: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(list_call,), daemon=True)
        self._thread.start()

    def _run(self, list_call: Any) -> None:
        while not self._stop.is_set():
            for event in watch.Watch().stream(list_call, NAMESPACE, timeout_seconds=5):
                name = event["object"].metadata.name
                self.times.setdefault(name, time.monotonic())

    def stop(self) -> None:
        self._stop.set()


def _manifest(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "modeldeploy.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": f"m{index:03d}", "namespace": NAMESPACE},
        "spec": {
            "model": {"uri": f"pvc://models/m{index:03d}", "format": "onnx"},
            "optimization": {"strategy": "explicit", "quantization": "dynamic-int8"},
            "autoscaling": {"minReplicas": 1, "maxReplicas": 2},
        },
    }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run(resources: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="modeldeploy-bench-"))
    nodes = NodeSpec(count=4, cpu="64", memory="256Gi", pods="250")
    cluster = LocalCluster(nodes=nodes, metrics=False, remove_workdir=True).start()
    try:
        install_crd(cluster)
        cluster.kubectl("create", "namespace", NAMESPACE)
        bind_claims(Kubectl(cluster, NAMESPACE), "models", "modeldeploy-artifacts")
        operator = Operator(cluster, workdir / "operator.log", namespaces=[NAMESPACE])
        operator.start()
        config.load_kube_config(str(cluster.kubeconfig))
        api = client.ApiClient()
        custom, batch, apps, core = (
            client.CustomObjectsApi(api),
            client.BatchV1Api(api),
            client.AppsV1Api(api),
            client.CoreV1Api(api),
        )
        jobs = Seen(batch.list_namespaced_job)
        deployments = Seen(apps.list_namespaced_deployment)
        time.sleep(1)

        created: dict[str, float] = {}
        for index in range(resources):
            body = _manifest(index)
            custom.create_namespaced_custom_object(
                "modeldeploy.dev", "v1alpha1", NAMESPACE, "modeldeployments", body
            )
            created[body["metadata"]["name"]] = time.monotonic()
        print(f"created {resources} ModelDeployments", file=sys.stderr)
        wait_until(lambda: len(jobs.times) >= resources, "every Job", timeout=600, interval=1)
        apply_to_job = [
            (jobs.times[job] - t0) * 1000
            for name, t0 in created.items()
            for job in jobs.times
            if job.startswith(f"{name}-opt-")
        ]

        finished: dict[str, float] = {}
        message = json.dumps(summary())
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for job in sorted(jobs.times):
            pods = wait_until(
                lambda j=job: (
                    core.list_namespaced_pod(
                        NAMESPACE, label_selector=f"batch.kubernetes.io/job-name={j}"
                    ).items
                ),
                f"the pod of {job}",
                timeout=120,
            )
            terminated = {"exitCode": 0, "reason": "Completed", "message": message,
                          "startedAt": now, "finishedAt": now}  # fmt: skip
            core.patch_namespaced_pod_status(
                pods[0].metadata.name,
                NAMESPACE,
                {"status": {"phase": "Succeeded", "containerStatuses": [
                    {"name": "optimizer", "image": "x", "imageID": "", "ready": False,
                     "restartCount": 0, "state": {"terminated": terminated}}]}},
            )  # fmt: skip
            finished[job.split("-opt-")[0]] = time.monotonic()
        wait_until(
            lambda: len(deployments.times) >= resources, "every Deployment", timeout=600, interval=1
        )
        job_to_deployment = [
            (deployments.times[f"{name}-triton"] - t1) * 1000 for name, t1 in finished.items()
        ]

        def all_ready() -> bool:
            items = custom.list_namespaced_custom_object(
                "modeldeploy.dev", "v1alpha1", NAMESPACE, "modeldeployments"
            )["items"]
            return sum((i.get("status") or {}).get("phase") == "Ready" for i in items) >= resources

        wait_until(all_ready, "every resource Ready", timeout=900, interval=2)
        time.sleep(5)
        writes = operator.writes(NAMESPACE)
        for index in range(resources):
            custom.patch_namespaced_custom_object(
                "modeldeploy.dev", "v1alpha1", NAMESPACE, "modeldeployments", f"m{index:03d}",
                {"metadata": {"annotations": {"bench/poke": "1"}}},
            )  # fmt: skip
        time.sleep(15)
        steady = operator.writes(NAMESPACE) - writes
        assert operator.process is not None
        rss = _rss_mb(operator.process.pid)
        jobs.stop()
        deployments.stop()
        operator.stop()
        return {
            "resources": resources,
            "apply_to_job_ms": _percentiles(apply_to_job),
            "job_to_deployment_ms": _percentiles(job_to_deployment),
            "writes_per_resource": round(writes / resources, 2),
            "steady_state_writes": steady,
            "operator_rss_mb": rss,
        }
    finally:
        cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "operator.json")
    args = parser.parse_args()
    result = run(args.resources)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        ("resources", result["resources"]),
        ("apply -> Job created, p50 / p99 (ms)",
         f"{result['apply_to_job_ms']['p50']} / {result['apply_to_job_ms']['p99']}"),
        ("Job done -> Deployment created, p50 / p99 (ms)",
         f"{result['job_to_deployment_ms']['p50']} / {result['job_to_deployment_ms']['p99']}"),
        ("API writes per resource (to Ready)", result["writes_per_resource"]),
        ("API writes of a quiet resync (all resources)", result["steady_state_writes"]),
        ("operator RSS (MiB)", result["operator_rss_mb"]),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
