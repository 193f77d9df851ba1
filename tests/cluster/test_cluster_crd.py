"""The ModelDeployment CRD installs on the real API server, and every example is
accepted by it (server-side dry run: schema, defaults and CEL rules applied by
kube-apiserver itself)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hack.cluster import LocalCluster
from hack.cluster.pytest_plugin import kubectl_json

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "modeldeployment.yaml"
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def crd_installed(cluster: LocalCluster) -> str:
    """Applies the CRD (server-side, idempotent; left installed for later tests)."""
    assert CRD.is_file(), f"{CRD} is missing: `make crds` generates it"
    name = yaml.safe_load(CRD.read_text())["metadata"]["name"]
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts",
        "-f", str(CRD),
    )  # fmt: skip
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    return str(name)


def test_crd_installs_and_is_served(cluster: LocalCluster, crd_installed: str) -> None:
    crd = kubectl_json(cluster, "crd", crd_installed)
    names = crd["status"]["acceptedNames"]
    assert names["kind"] == "ModelDeployment"
    assert "mdep" in names["shortNames"]
    resources = cluster.kubectl("api-resources", "--api-group=modeldeploy.dev", "-o", "name")
    assert resources.stdout.split() == ["modeldeployments.modeldeploy.dev"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_example_is_accepted_by_the_api_server(
    cluster: LocalCluster, crd_installed: str, namespace: str, example: Path
) -> None:
    result = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "-n", namespace, "-f", str(example),
        "-o", "json",
    )  # fmt: skip
    applied = json.loads(result.stdout)
    assert applied["kind"] == "ModelDeployment"
    assert applied["metadata"]["namespace"] == namespace


def test_examples_exist() -> None:
    assert EXAMPLES, "examples/*.yaml: no example to check"
