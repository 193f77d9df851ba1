"""The operator against the real control plane: the CRD installed once, the
operator run as a real process (as the chart runs it), kubectl to drive it."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from hack.cluster.launcher import LocalCluster
from tests.support.operator import Kubectl, Operator, bind_claims, install_crd

_OPERATORS: list[Operator] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test shows the operator's log (the plugin adds the cluster's)."""
    report = yield
    if report.failed:
        for running in _OPERATORS:
            report.sections.append(("operator log", running.tail()))
    return report


@pytest.fixture(scope="session")
def crd_installed(cluster: LocalCluster) -> None:
    install_crd(cluster)


@pytest.fixture(scope="session")
def operator(
    cluster: LocalCluster, crd_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    running = Operator(cluster, tmp_path_factory.mktemp("operator") / "operator.log")
    running.start()
    _OPERATORS.append(running)
    yield running
    _OPERATORS.remove(running)
    running.stop()


@pytest.fixture
def kubectl(cluster: LocalCluster, namespace: str) -> Kubectl:
    """kubectl in the test's namespace, with the claims the examples mount."""
    namespaced = Kubectl(cluster, namespace)
    bind_claims(namespaced, "models", "model-repository")
    return namespaced
