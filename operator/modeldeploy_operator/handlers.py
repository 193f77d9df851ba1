"""Kopf handlers: thin. Each ModelDeployment gets one daemon that reconciles on a
loop; watch events of the resource and of its children only wake it up.

No change-detecting handler (create/update/resume) is used on purpose: those make
Kopf store a diff base in the user's object, and a GitOps tool should find the
object exactly as it applied it. The daemon is level-based, so a missed event
only delays a reconcile until the next resync.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from kubernetes import client, config

from modeldeploy_operator import metrics
from modeldeploy_operator.api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from modeldeploy_operator.kube import Kube
from modeldeploy_operator.naming import NAME_LABEL
from modeldeploy_operator.reconcile import Outcome, reconcile
from modeldeploy_operator.settings import FINALIZER, LABEL_PREFIX, OperatorSettings

RESYNC_SECONDS = 300.0
# Reconciles run blocking API calls; enough threads (and pooled connections, below)
# that a burst of new resources does not queue behind a handful of workers.
RECONCILE_THREADS = 16
_executor = ThreadPoolExecutor(max_workers=RECONCILE_THREADS, thread_name_prefix="reconcile")
_settings = OperatorSettings()
_wakers: dict[tuple[str, str], asyncio.Event] = {}
_kube: Kube | None = None
_kube_lock = threading.Lock()


def kube() -> Kube:
    global _kube
    with _kube_lock:
        if _kube is None:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
            configuration = client.Configuration.get_default_copy()
            configuration.connection_pool_maxsize = RECONCILE_THREADS
            _kube = Kube(client.ApiClient(configuration))
        return _kube


def configure(settings: OperatorSettings) -> None:
    global _settings
    _settings = settings


def _waker(namespace: str, name: str) -> asyncio.Event:
    return _wakers.setdefault((namespace, name), asyncio.Event())


@kopf.on.startup()
def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=LABEL_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=LABEL_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own Events are posted explicitly
    settings.watching.server_timeout = 270
    # Resources are fixed; scanning CRDs and namespaces would need RBAC we do not want.
    settings.scanning.disabled = True


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def _run(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **_: Any,
) -> None:
    """An async daemon: it costs no thread while it waits, so any number of resources
    are watched (sync daemons would each hold one of Kopf's few executor threads)."""
    namespace = namespace or "default"
    wake = _waker(namespace, name)
    try:
        while not stopped:
            wake.clear()
            started = time.monotonic()
            try:
                # Read fresh: Kopf's live body can lag behind our own status write, and a
                # stale status would repeat Events and writes. The API client is blocking,
                # so the reconcile runs in a worker thread.
                loop = asyncio.get_running_loop()
                outcome = await loop.run_in_executor(_executor, _reconcile_latest, namespace, name)
                if outcome is None:
                    return
            except Exception as error:  # keep the loop alive; the next pass retries
                if "NamespaceTerminating" in str(error):
                    # The namespace and everything in it is going; nothing to fix.
                    logger.info("namespace %s is terminating", namespace)
                    await _sleep(wake, stopped, 30.0)
                    continue
                metrics.RECONCILE_ERRORS.inc()
                logger.exception("reconcile failed: %s", error)
                await _sleep(wake, stopped, 30.0)
                continue
            metrics.observe(
                time.monotonic() - started, outcome.status.get("phase"), name, namespace
            )
            for kind, reason, message in outcome.events:
                kopf.event(body, type=kind, reason=reason, message=message)
                logger.info("%s: %s", reason, message)
            await _sleep(wake, stopped, outcome.requeue_after or RESYNC_SECONDS)
    finally:
        _wakers.pop((namespace, name), None)
        metrics.forget(name, namespace)


def _reconcile_latest(namespace: str, name: str) -> Outcome | None:
    current = kube().get(API_VERSION, KIND, namespace, name)
    return None if current is None else reconcile(kube(), current, _settings)


async def _sleep(wake: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Until woken, stopped, or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not stopped and time.monotonic() < deadline:
        try:
            await asyncio.wait_for(wake.wait(), timeout=min(1.0, deadline - time.monotonic()))
            return
        except TimeoutError:
            continue


@kopf.on.event(GROUP, VERSION, PLURAL)
async def _resource_changed(namespace: str | None, name: str, **_: Any) -> None:
    _waker(namespace or "default", name).set()


async def _child_changed(labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
    owner = labels.get(NAME_LABEL)
    if owner:
        _waker(namespace or "default", owner).set()


for _group, _version, _plural in (
    ("batch", "v1", "jobs"),
    ("apps", "v1", "deployments"),
    ("", "v1", "pods"),
):
    kopf.on.event(
        _group, _version, _plural, labels={"app.kubernetes.io/managed-by": "modeldeploy"}
    )(_child_changed)
