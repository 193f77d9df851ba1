"""Running the operator as a process and driving a namespace with kubectl, for the
operator's tests, the chart's tests and bench/operator.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from hack.cluster.launcher import LocalCluster
from hack.cluster.pytest_plugin import wait_until
from tests.support.manifests import ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Operator:
    """``modeldeploy operator`` as a subprocess; restartable."""

    def __init__(
        self,
        cluster: LocalCluster,
        log: Path,
        kubeconfig: Path | None = None,
        namespaces: list[str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.log = log
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.namespaces = namespaces or []
        self.metrics_port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**self.cluster.env(), "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        watch = [f"--namespace={n}" for n in self.namespaces]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "modeldeploy_operator",
                    "--health-port", "0",
                    "--metrics-port", str(self.metrics_port),
                    "--optimizer-image", "registry.test/optimizer:1",
                    "--log-format", "plain",
                    *watch,
                ],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until(self._metrics_up, "the operator's metrics endpoint", timeout=60)

    def _metrics_up(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, self.tail()
        try:
            self.metrics()
        except OSError:
            return False
        return True

    def stop(self, kill: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        return values

    def writes(self, namespace: str | None = None) -> float:
        """API writes the operator counted, in one namespace or in all."""
        total = 0.0
        for key, value in self.metrics().items():
            if key.startswith("modeldeploy_api_writes_total{") and (
                namespace is None or f'namespace="{namespace}"' in key
            ):
                total += value
        return total

    def tail(self, lines: int = 60) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Kubectl:
    """kubectl against the test cluster, in one namespace."""

    def __init__(self, cluster: LocalCluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace

    def run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        done = self.cluster.kubectl("-n", self.namespace, *args, input=input, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout if done.returncode == 0 else done.stderr

    def apply(self, manifest: dict[str, Any]) -> str:
        return self.run("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        done = self.cluster.kubectl(
            "-n", self.namespace, "get", kind, name, "-o", "json", check=False
        )
        if done.returncode != 0:
            return None
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    def items(self, kind: str, selector: str = "") -> list[dict[str, Any]]:
        args = ["get", kind, "-o", "json"] + (["-l", selector] if selector else [])
        found: list[dict[str, Any]] = json.loads(self.run(*args))["items"]
        return found

    def finish_job(self, job: str, summary: dict[str, Any]) -> None:
        """Play the kubelet: the optimizer pod terminates with ``summary`` as its message."""
        pod = wait_until(
            lambda: next(iter(self.items("pods", f"batch.kubernetes.io/job-name={job}")), None),
            f"a pod of Job {job}",
            timeout=60,
        )
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status = {
            "status": {
                "phase": "Succeeded",
                "containerStatuses": [
                    {
                        "name": "optimizer",
                        "image": pod["spec"]["containers"][0]["image"],
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {
                            "terminated": {
                                "exitCode": 0 if summary.get("ok") else 1,
                                "reason": "Completed" if summary.get("ok") else "Error",
                                "message": json.dumps(summary),
                                "startedAt": now,
                                "finishedAt": now,
                            }
                        },
                    }
                ],
            }
        }
        self.run(
            "patch", "pod", pod["metadata"]["name"], "--subresource=status", "--type=merge",
            "-p", json.dumps(status),
        )  # fmt: skip


def summary(ok: bool = True, speedup: float = 1.47, passed: bool = True) -> dict[str, Any]:
    return {
        "ok": ok and passed,
        "reason": "GatePassed" if passed else "AccuracyGateFailed",
        "message": "dynamic-int8 kept" if passed else "cosine 0.95 is below 0.99",
        "chosen": "dynamic-int8",
        "originalBytes": 90_900_000,
        "optimizedBytes": 23_000_000,
        "speedup": speedup,
        "accuracy": {"metric": "cosine", "value": 0.9905 if passed else 0.95,
                     "threshold": 0.99, "passed": passed},
        "latencyP50Ms": 4.2,
        "latencyP99Ms": 6.1,
        "throughput": 812.0,
        "artifact": "pvc://model-repository/minilm/minilm/x",
    }  # fmt: skip


def bind_claims(kubectl: Kubectl, *claims: str) -> None:
    """PersistentVolumeClaims bound to hostPath PersistentVolumes made for them: the test
    cluster has no provisioner, and a pod whose claim is unbound is never scheduled."""
    for claim in claims:
        volume = f"{kubectl.namespace}-{claim}"[:63]
        kubectl.cluster.kubectl(
            "apply", "-f", "-",
            input=yaml.safe_dump_all([
                {
                    "apiVersion": "v1", "kind": "PersistentVolume",
                    "metadata": {"name": volume},
                    "spec": {
                        "capacity": {"storage": "10Gi"},
                        "accessModes": ["ReadWriteMany"],
                        "storageClassName": "",
                        "hostPath": {"path": f"/tmp/{volume}"},
                        "claimRef": {"namespace": kubectl.namespace, "name": claim},
                    },
                },
                {
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": claim, "namespace": kubectl.namespace},
                    "spec": {
                        "accessModes": ["ReadWriteMany"],
                        "storageClassName": "",
                        "volumeName": volume,
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                },
            ]),
        )  # fmt: skip


def install_crd(cluster: LocalCluster) -> None:
    """The ModelDeployment CRD, applied and Established (served) before it is used."""
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds" / "modeldeployment.yaml"))

    def established() -> bool:
        done = cluster.kubectl(
            "get", "crd", "modeldeployments.modeldeploy.dev", "-o", "json", check=False
        )
        if done.returncode != 0:
            return False
        conditions = json.loads(done.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait_until(established, "the CRD to be Established", timeout=60)


KEDA_MODULE = "github.com/kedacore/keda/v2@v2.21.0"


def keda_crd() -> Path:
    """KEDA's ScaledObject CRD, from KEDA's Go module through the Go module proxy (KEDA
    itself is not run: the operator's part is to make ScaledObjects the API accepts)."""
    done = subprocess.run(
        ["go", "mod", "download", "-json", KEDA_MODULE],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"},
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"go mod download {KEDA_MODULE} failed: {done.stdout}{done.stderr}")
    folder = Path(json.loads(done.stdout)["Dir"])
    return folder / "config" / "crd" / "bases" / "keda.sh_scaledobjects.yaml"
