"""One level-based reconcile of a ModelDeployment: read the world, make it match, report.

The same path runs on create, resume, spec change, child change and resync.
Order matters for availability: a new revision is optimized while the old one
keeps serving, and the Deployment moves only once the new revision passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modeldeploy_optimizer.report import Summary
from modeldeploy_optimizer.spec import revision_of

from modeldeploy_operator.api import API_VERSION, PLURAL, ModelDeployment
from modeldeploy_operator.builders.autoscaler import build_hpa, build_scaled_object, target_of
from modeldeploy_operator.builders.job import build_job
from modeldeploy_operator.builders.serving import (
    build_deployment,
    build_pdb,
    build_service,
    endpoints,
)
from modeldeploy_operator.jobresult import JobResult, read_job
from modeldeploy_operator.kube import Kube
from modeldeploy_operator.naming import job_name, server_name
from modeldeploy_operator.settings import OperatorSettings
from modeldeploy_operator.status import Observed, build_status

Manifest = dict[str, Any]
RUNNING_REQUEUE = 15.0
KEDA_API = "keda.sh/v1alpha1"


@dataclass
class Outcome:
    status: Manifest
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None


def _optimize(
    kube: Kube, md: ModelDeployment, revision: str, settings: OperatorSettings
) -> JobResult:
    """Start or read the Job of ``revision``; an existing Job is reused, never duplicated."""
    namespace = md.metadata.namespace or "default"
    name = job_name(md.metadata.name, revision)
    job = kube.get("batch/v1", "Job", namespace, name)
    if job is None:
        kube.apply(build_job(md, revision, settings))
        return JobResult("Running", "JobCreated", f"started optimization Job {name}")
    pods = kube.list("v1", "Pod", namespace, f"batch.kubernetes.io/job-name={name}")
    return read_job(job, pods)


def _serve(kube: Kube, md: ModelDeployment, revision: str, settings: OperatorSettings) -> Manifest:
    namespace = md.metadata.namespace or "default"
    deployment = kube.apply(build_deployment(md, revision, settings))
    kube.apply(build_service(md))
    pdb = build_pdb(md)
    if pdb is None:
        _delete_if_present(kube, "policy/v1", "PodDisruptionBudget", namespace, md)
    else:
        kube.apply(pdb)
    return deployment


def _delete_if_present(
    kube: Kube, api_version: str, kind: str, namespace: str, md: ModelDeployment
) -> None:
    name = server_name(md.metadata.name)
    if kube.get(api_version, kind, namespace, name) is not None:
        kube.delete(api_version, kind, namespace, name)


def _autoscale(
    kube: Kube, md: ModelDeployment, settings: OperatorSettings, throughput: float | None
) -> Manifest:
    """Apply the autoscaler the spec asks for, remove the other kind, and say what is in
    effect. CPU always uses an HPA; Triton's metrics use KEDA when it is installed."""
    namespace = md.metadata.namespace or "default"
    scaling = md.spec.autoscaling
    keda_installed = kube.has_api(KEDA_API)
    keda = scaling.metric != "cpu" and keda_installed
    target = target_of(md, throughput)
    status: Manifest = {"metric": scaling.metric}
    if target is None:
        status["message"] = (
            "inference-rate target auto needs the throughput the optimization Job measures; "
            "none was reported, so the autoscaler is left as it is"
        )
        return status
    if keda:
        kube.apply(build_scaled_object(md, target, settings.prometheus_url))
        _delete_if_present(kube, "autoscaling/v2", "HorizontalPodAutoscaler", namespace, md)
        status["kind"] = "ScaledObject"
    else:
        kube.apply(build_hpa(md, target))
        if keda_installed:
            _delete_if_present(kube, KEDA_API, "ScaledObject", namespace, md)
        status["kind"] = "HorizontalPodAutoscaler"
        if scaling.min_replicas == 0:
            status["message"] = (
                "minReplicas 0 needs KEDA, which is not installed: scaling between 1 and "
                f"{scaling.max_replicas} pods"
            )
    status.update(target=target.text, source=target.source)
    return status


def reconcile(kube: Kube, body: Manifest, settings: OperatorSettings) -> Outcome:
    md = ModelDeployment.model_validate(body)
    status = md.status
    spec = md.spec
    desired = revision_of(spec.model, spec.optimization, spec.serving.runtime)
    served = status.revision if status else None
    previous_desired = status.desired_revision if status else None
    remembered = known_failure(md, desired) if previous_desired == desired else None

    result: JobResult | None = None
    promoted: Summary | None = None
    if desired != served:
        result = remembered or _optimize(kube, md, desired, settings)
        if result.state == "Succeeded" and result.summary is not None:
            promoted, served = result.summary, desired
    deployment = _serve(kube, md, served, settings) if served else None
    autoscaling = None
    if served:
        measured = promoted or (status.optimization if status else None)
        autoscaling = _autoscale(kube, md, settings, measured.throughput if measured else None)

    observed = Observed(
        desired=desired,
        served=served,
        result=result,
        promoted=promoted,
        job=job_name(md.metadata.name, desired),
        deployment=deployment,
        endpoints=endpoints(md, settings) if served else None,
        autoscaling=autoscaling,
    )
    new_status, events = build_status(md, observed)
    if new_status != (body.get("status") or {}):
        kube.patch_status(
            API_VERSION,
            PLURAL,
            md.metadata.namespace or "default",
            md.metadata.name,
            _with_removals(body.get("status") or {}, new_status),
        )
    running = result is not None and result.state in ("Running", "Waiting")
    rolling = new_status.get("phase") == "Deploying"
    return Outcome(new_status, events, RUNNING_REQUEUE if running or rolling else None)


def known_failure(md: ModelDeployment, revision: str) -> JobResult | None:
    """A revision that already failed stays failed until the spec changes, even after its
    Job was cleaned up: re-running it would fail the same way, and loop."""
    conditions = md.status.conditions if md.status and md.status.conditions else []
    optimized = next((c for c in conditions if c.type == "Optimized"), None)
    prefix = f"revision {revision}: "
    if (
        optimized is not None
        and optimized.status == "False"
        and optimized.message.startswith(prefix)
    ):
        # The status builder adds the prefix again.
        return JobResult("Failed", optimized.reason, optimized.message.removeprefix(prefix))
    return None


def _with_removals(old: Manifest, new: Manifest) -> Manifest:
    """A merge patch that also clears the fields ``new`` no longer has."""
    return {**{key: None for key in old if key not in new}, **new}
