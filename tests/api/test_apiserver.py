"""The CRD in a real API server: it installs, every example is accepted and every
broken manifest is rejected by the API server itself, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from hack.cluster.launcher import LocalCluster
from tests.support.manifests import EXAMPLES, InvalidCase, invalid_cases
from tests.support.operator import install_crd

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crd(cluster: LocalCluster) -> None:
    install_crd(cluster)


def _dry_run(cluster: LocalCluster, namespace: str, manifest: dict[str, Any]) -> Any:
    return cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-",
        input=yaml.safe_dump(manifest), check=False,
    )  # fmt: skip


def test_examples_are_accepted_and_defaulted(
    cluster: LocalCluster, crd: None, namespace: str
) -> None:
    for path in EXAMPLES:
        done = cluster.kubectl("apply", "-n", namespace, "-f", str(path), check=False)
        assert done.returncode == 0, done.stderr
    stored = yaml.safe_load(
        cluster.kubectl("get", "-n", namespace, "mdep", "minilm", "-o", "yaml").stdout
    )
    # The schema's defaults, filled in by the API server.
    assert stored["spec"]["rollout"] == {"maxSurge": "25%", "maxUnavailable": 0}
    assert stored["spec"]["serving"]["runtime"]["image"].startswith("nvcr.io/nvidia/tritonserver")
    explained = cluster.kubectl("explain", "mdep.spec.autoscaling.target").stdout
    assert "queue-latency" in explained


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda c: c.name)
def test_broken_manifest_is_rejected_by_the_api_server(
    cluster: LocalCluster, crd: None, namespace: str, case: InvalidCase
) -> None:
    done = _dry_run(cluster, namespace, case.manifest)
    assert done.returncode != 0
    assert case.field in done.stderr
    assert case.apiserver_message in done.stderr
