"""The Helm chart with the real helm and kubectl against the real control plane; the
operator runs with the chart's ServiceAccount token, so the chart's RBAC is what it uses."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hack.cluster import tools
from hack.cluster.launcher import LocalCluster
from hack.cluster.pytest_plugin import wait_until
from tests.support.manifests import ROOT
from tests.support.operator import Kubectl, Operator, bind_claims, summary

pytestmark = pytest.mark.slow
CHART = ROOT / "charts" / "modeldeploy"
# `helm template` assumes an old Kubernetes without a cluster; the chart needs 1.30+.
KUBE_VERSION = ("--kube-version", "v1.36.3")


def helm(cluster: LocalCluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(tools.path("helm")), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)}: {done.stderr}")
    return done


def test_chart_crd_is_the_generated_one() -> None:
    assert (CHART / "files" / "modeldeployment.yaml").read_text() == (
        ROOT / "crds" / "modeldeployment.yaml"
    ).read_text(), "run `make crds`"


def test_lint_and_server_side_dry_run(cluster: LocalCluster, namespace: str) -> None:
    assert "0 chart(s) failed" in helm(cluster, "lint", str(CHART), "--strict").stdout
    # Helm installs crds/ before rendering templates; a dry run of the templates needs them.
    cluster.kubectl("apply", "--server-side", "-f", str(CHART / "crds"))
    variants = [
        [],
        ["--set", "replicaCount=2", "--set", f"watchNamespaces={{{namespace}}}",
         "--set", "crds.keep=false", "--set", "logFormat=plain"],
    ]  # fmt: skip
    for extra in variants:
        rendered = helm(
            cluster, "template", "md", str(CHART), "-n", namespace, *KUBE_VERSION, *extra
        ).stdout
        done = cluster.kubectl(
            "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=rendered, check=False
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("replicaCount=0", "replicaCount"),
        ("logFormat=xml", "logFormat"),
        ("optimizer.defaultArtifacts=ftp://x", "defaultArtifacts"),
        ("unknownKey=1", "unknownKey"),
    ],
)
def test_schema_rejects_bad_values(cluster: LocalCluster, value: str, message: str) -> None:
    done = helm(cluster, "template", "md", str(CHART), *KUBE_VERSION, "--set", value, check=False)
    assert done.returncode != 0
    assert message in done.stderr


def _token_kubeconfig(cluster: LocalCluster, namespace: str, sa: str, path: Path) -> Path:
    token = cluster.kubectl("-n", namespace, "create", "token", sa, "--duration=1h").stdout.strip()
    ca = base64.b64encode(cluster.pki.ca.cert.read_bytes()).decode()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "c", "cluster": {"server": cluster.server,
                                              "certificate-authority-data": ca}}
                ],
                "users": [{"name": sa, "user": {"token": token}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": sa}}],
                "current-context": "c",
            }
        )
    )  # fmt: skip
    return path


def _let_helm_adopt_the_crd(cluster: LocalCluster, namespace: str) -> None:
    """Other tests may have installed the CRD with kubectl; Helm adopts an existing object
    that carries its release labels, as a user moving from kubectl to Helm would do."""
    crd = "crd/modeldeployments.modeldeploy.dev"
    if cluster.kubectl("get", crd, check=False).returncode != 0:
        return
    cluster.kubectl("label", "--overwrite", crd, "app.kubernetes.io/managed-by=Helm")
    cluster.kubectl("annotate", "--overwrite", crd, "meta.helm.sh/release-name=md",
                    f"meta.helm.sh/release-namespace={namespace}")  # fmt: skip


def test_install_reconcile_with_chart_rbac_upgrade_uninstall(
    cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    _let_helm_adopt_the_crd(cluster, namespace)
    helm(cluster, "install", "md", str(CHART), "-n", namespace, "--wait=false",
         "--set", f"watchNamespaces={{{namespace}}}")  # fmt: skip
    sa = f"system:serviceaccount:{namespace}:md-modeldeploy"

    def can(verb: str, resource: str) -> bool:
        done = cluster.kubectl("auth", "can-i", verb, resource, "-n", namespace, f"--as={sa}",
                               check=False)  # fmt: skip
        return done.stdout.strip() == "yes"

    assert can("patch", "jobs.batch")
    assert can("patch", "modeldeployments.modeldeploy.dev/status")
    # Nothing beyond what the operator uses.
    assert not can("get", "secrets")
    assert not can("list", "secrets")
    assert not can("delete", "deployments.apps")
    assert not can("create", "pods")

    kubeconfig = _token_kubeconfig(cluster, namespace, "md-modeldeploy", tmp_path / "sa.kubeconfig")
    operator = Operator(cluster, tmp_path / "operator.log", kubeconfig=kubeconfig,
                        namespaces=[namespace])  # fmt: skip
    operator.start()
    try:
        kubectl = Kubectl(cluster, namespace)
        body: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "minilm.yaml").read_text())
        bind_claims(kubectl, "models", "model-repository")
        # As Flux and Argo CD apply: server-side, with their own field manager.
        kubectl.run("apply", "--server-side", "--field-manager=gitops", "-f",
                    str(ROOT / "examples" / "minilm.yaml"))  # fmt: skip
        job = wait_until(lambda: next(iter(kubectl.items("jobs")), None), "the Job", timeout=60)
        kubectl.finish_job(job["metadata"]["name"], summary())
        kubectl.run("wait", "--for=condition=Ready", "mdep/minilm", "--timeout=120s")
        assert "forbidden" not in operator.tail(400).lower()

        # Zero drift: what a GitOps tool would apply again changes nothing.
        diff = cluster.kubectl("diff", "--server-side", "--field-manager=gitops", "-n",
                               namespace, "-f", str(ROOT / "examples" / "minilm.yaml"),
                               check=False)  # fmt: skip
        assert diff.returncode == 0, diff.stdout
        assert body["metadata"]["name"] == "minilm"
    except AssertionError as error:
        raise AssertionError(f"{error}\n---- operator log ----\n{operator.tail()}") from None
    finally:
        operator.stop()

    helm(cluster, "upgrade", "md", str(CHART), "-n", namespace, "--wait=false",
         "--set", f"watchNamespaces={{{namespace}}}", "--set", "logFormat=plain")  # fmt: skip
    deployment = json.loads(cluster.kubectl("-n", namespace, "get", "deploy", "md-modeldeploy",
                                            "-o", "json").stdout)  # fmt: skip
    assert "--log-format=plain" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert kubectl.get("mdep", "minilm") is not None

    helm(cluster, "uninstall", "md", "-n", namespace)
    assert cluster.kubectl("get", "crd", "modeldeployments.modeldeploy.dev",
                           check=False).returncode == 0  # fmt: skip
    assert kubectl.get("mdep", "minilm") is not None
