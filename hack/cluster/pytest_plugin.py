"""pytest fixtures on top of LocalCluster.

Use from any conftest.py (with the repository root on sys.path):

    pytest_plugins = ["hack.cluster.pytest_plugin"]      # in the top conftest, or
    from hack.cluster.pytest_plugin import *             # noqa: F403 (any conftest)

Fixtures:
- `cluster` (session): one control plane for the whole session, started on
  first use (building missing binaries with hack/build-tools.sh first), torn
  down at the end. Every process shares it, whichever conftest re-exports it.
- `namespace` (function): a fresh namespace, deleted afterwards. Mark a test
  `@pytest.mark.pod_security("restricted")` to label it
  `pod-security.kubernetes.io/enforce=<level>`.
- `restricted_namespace` (function): the same, always `restricted`.

A failing test that used the cluster gets the tail of every component's log in
its report ("cluster logs" section).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

import pytest

from . import tools
from .launcher import LocalCluster

_SHARED: list[LocalCluster] = []
T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pod_security(level): label the test's `namespace` "
        "pod-security.kubernetes.io/enforce=<level>",
    )


def shared_cluster() -> LocalCluster:
    """The session's cluster, started on first call."""
    if not _SHARED:
        tools.ensure()  # helm too: the tests of the chart use it
        keep = os.environ.get("MODELDEPLOY_KEEP_CLUSTER") == "1"
        _SHARED.append(LocalCluster(keep_workdir=keep).start())
    return _SHARED[0]


def stop_shared_cluster() -> None:
    while _SHARED:
        _SHARED.pop().stop()


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """A real control plane on 127.0.0.1 (etcd, kube-apiserver, controller-manager,
    scheduler, kwok with fake nodes, metrics-server); KUBECONFIG is `cluster.kubeconfig`."""
    yield shared_cluster()
    stop_shared_cluster()


def _create_namespace(
    cluster: LocalCluster, request: pytest.FixtureRequest, level: str | None
) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{base or 't'}-{uuid.uuid4().hex[:6]}"
    labels = {"modeldeploy.dev/test": "true"}
    if level:
        labels["pod-security.kubernetes.io/enforce"] = level
        labels["pod-security.kubernetes.io/enforce-version"] = "latest"
    status, out = cluster.api(
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}},
    )
    if status != 201:
        raise RuntimeError(f"creating namespace {name} failed ({status}): {out.get('message')}")
    return name


@pytest.fixture
def namespace(cluster: LocalCluster, request: pytest.FixtureRequest) -> Generator[str]:
    """A fresh namespace (its name); deleted after the test, without waiting."""
    marker = request.node.get_closest_marker("pod_security")
    level = str(marker.args[0]) if marker and marker.args else None
    name = _create_namespace(cluster, request, level)
    yield name
    cluster.api("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture
def restricted_namespace(cluster: LocalCluster, request: pytest.FixtureRequest) -> Generator[str]:
    """A fresh namespace labelled pod-security.kubernetes.io/enforce=restricted."""
    name = _create_namespace(cluster, request, "restricted")
    yield name
    cluster.api("DELETE", f"/api/v1/namespaces/{name}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _SHARED and "cluster" in getattr(item, "fixturenames", ()):
        report.sections.append(("cluster logs", _SHARED[0].tail_logs(30)))
    return report


def wait_until(
    check: Callable[[], T | None], what: str, timeout: float = 60, interval: float = 0.5
) -> T:
    """Polls `check` until it returns something truthy, which it returns."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def kubectl_json(cluster: LocalCluster, *args: str) -> dict[str, Any]:
    """`kubectl get ... -o json`, decoded."""
    out = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)
    assert isinstance(out, dict)
    return out
