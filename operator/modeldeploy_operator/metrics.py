"""Prometheus metrics of the operator itself."""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter("modeldeploy_reconciles_total", "Reconciles run")
RECONCILE_ERRORS = Counter("modeldeploy_reconcile_errors_total", "Reconciles that raised")
RECONCILE_SECONDS = Histogram("modeldeploy_reconcile_seconds", "Duration of one reconcile")
API_WRITES = Counter(
    "modeldeploy_api_writes_total",
    "Writes to the Kubernetes API",
    ["verb", "kind", "namespace"],
)
PHASES = Gauge("modeldeploy_resources", "ModelDeployments by phase", ["phase"])

_phase_of: dict[tuple[str, str], str] = {}
_lock = threading.Lock()


def observe(seconds: float, phase: str | None, name: str, namespace: str) -> None:
    RECONCILES.inc()
    RECONCILE_SECONDS.observe(seconds)
    with _lock:
        _phase_of[(namespace, name)] = phase or "Unknown"
        _refresh()


def forget(name: str, namespace: str) -> None:
    with _lock:
        _phase_of.pop((namespace, name), None)
        _refresh()


def _refresh() -> None:
    counts: dict[str, int] = {}
    for phase in _phase_of.values():
        counts[phase] = counts.get(phase, 0) + 1
    for phase in ("Pending", "Optimizing", "Deploying", "Ready", "Degraded", "Failed", "Unknown"):
        PHASES.labels(phase=phase).set(counts.get(phase, 0))


def serve(port: int) -> None:
    start_http_server(port, addr="0.0.0.0")
