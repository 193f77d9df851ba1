"""Reading Job results and turning observations into status: pure, so tested here;
the same paths run against the real control plane in tests/operator/test_operator.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modeldeploy_operator.api import ModelDeployment, load_manifests
from modeldeploy_operator.jobresult import JobResult, read_job
from modeldeploy_operator.status import Observed, build_status
from modeldeploy_optimizer.report import AccuracySummary, Summary, termination_message

from tests.support.manifests import ROOT

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _summary(ok: bool = True, passed: bool = True) -> Summary:
    return Summary(
        ok=ok,
        reason="GatePassed" if passed else "AccuracyGateFailed",
        message="dynamic-int8 passed" if passed else "cosine 0.95 < 0.99",
        chosen="dynamic-int8",
        original_bytes=90_000_000,
        optimized_bytes=23_000_000,
        speedup=1.47,
        accuracy=AccuracySummary(metric="cosine", value=0.9905, threshold=0.99, passed=passed),
        latency_p50_ms=4.1,
        latency_p99_ms=6.0,
        throughput=800.0,
    )


def _job(condition: str | None, at: datetime = NOW, reason: str = "") -> dict[str, Any]:
    conditions = []
    if condition:
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        conditions.append(
            {"type": condition, "status": "True", "reason": reason, "lastTransitionTime": stamp}
        )
    return {"metadata": {"name": "m-opt-1"}, "status": {"conditions": conditions}}


def _pod(message: str | None = None, unschedulable: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if message is not None:
        status["containerStatuses"] = [
            {"name": "optimizer", "state": {"terminated": {"exitCode": 0, "message": message}}}
        ]
    if unschedulable:
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu.",
            }
        ]
    return {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T11:00:00Z"},
        "status": status,
    }


def test_a_complete_job_is_read_from_its_termination_message() -> None:
    result = read_job(_job("Complete"), [_pod(termination_message(_summary()))], NOW)
    assert result.state == "Succeeded"
    assert result.summary is not None
    assert result.summary.speedup == 1.47


def test_a_gated_out_result_is_a_failure_even_if_the_job_succeeded() -> None:
    message = termination_message(_summary(ok=False, passed=False))
    result = read_job(_job("Complete"), [_pod(message)], NOW)
    assert (result.state, result.reason) == ("Failed", "AccuracyGateFailed")


def test_missing_summary_waits_briefly_then_fails() -> None:
    assert read_job(_job("Complete"), [_pod()], NOW).state == "Waiting"
    late = read_job(_job("Complete", NOW - timedelta(minutes=5)), [_pod("garbage")], NOW)
    assert (late.state, late.reason) == ("Failed", "ResultUnreadable")
    assert "garbage" in late.message


def test_job_deadline_and_unschedulable_pods_have_reasons() -> None:
    deadline = read_job(_job("Failed", reason="DeadlineExceeded"), [], NOW)
    assert (deadline.state, deadline.reason) == ("Failed", "DeadlineExceeded")
    assert "timeoutSeconds" in deadline.message
    stuck = read_job(_job(None), [_pod(unschedulable=True)], NOW)
    assert (stuck.state, stuck.reason) == ("Running", "Unschedulable")
    assert "Insufficient cpu" in stuck.message
    failed = read_job(
        _job("Failed", reason="BackoffLimitExceeded"),
        [_pod('{"ok":false,"reason":"SourceUnreachable","message":"no such bucket"}')],
        NOW,
    )
    assert (failed.reason, failed.message) == ("SourceUnreachable", "no such bucket")


def _md(status: dict[str, Any] | None = None) -> ModelDeployment:
    body = load_manifests(ROOT / "examples" / "minilm.yaml")[0].to_wire()
    body["metadata"].update(namespace="ns", generation=2)
    if status:
        body["status"] = status
    return ModelDeployment.model_validate(body)


def _deployment(ready: int) -> dict[str, Any]:
    return {
        "metadata": {"generation": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": ready,
            "readyReplicas": ready,
            "updatedReplicas": ready,
        },
    }


def _observed(**kw: Any) -> Observed:
    base: dict[str, Any] = dict(
        desired="rev2",
        served=None,
        result=None,
        promoted=None,
        job="minilm-opt-rev2",
        deployment=None,
        endpoints=None,
    )
    base.update(kw)
    return Observed(**base)


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_first_revision_optimizing_then_ready() -> None:
    running = JobResult("Running", "JobCreated", "started")
    status, events = build_status(_md(), _observed(result=running))
    assert status["phase"] == "Optimizing"
    assert _condition(status, "Ready")["status"] == "False"
    assert ("Normal", "JobCreated", "Optimized: revision rev2: started") in events
    summary = _summary()
    done = JobResult("Succeeded", "GatePassed", "ok", summary)
    status, _ = build_status(
        _md(status),
        _observed(result=done, promoted=summary, served="rev2", deployment=_deployment(1)),
    )
    assert status["phase"] == "Ready"
    assert status["revision"] == "rev2"
    assert status["optimization"]["size"] == "21.9MiB (was 85.8MiB)"
    assert _condition(status, "AccuracyGatePassed")["status"] == "True"
    assert _condition(status, "Ready")["status"] == "True"
    assert status["observedGeneration"] == 2


def test_failed_new_revision_degrades_but_keeps_serving() -> None:
    served = {"revision": "rev1", "optimization": {"speedup": 1.4}}
    failed = JobResult("Failed", "AccuracyGateFailed", "cosine 0.95 < 0.99", _summary(False, False))
    status, events = build_status(
        _md(served), _observed(served="rev1", result=failed, deployment=_deployment(2))
    )
    assert status["phase"] == "Degraded"
    assert status["revision"] == "rev1"
    assert status["optimization"] == {"speedup": 1.4}
    assert _condition(status, "Ready")["status"] == "True"
    assert _condition(status, "Optimized")["reason"] == "AccuracyGateFailed"
    assert _condition(status, "AccuracyGatePassed")["status"] == "False"
    assert any(kind == "Warning" and reason == "AccuracyGateFailed" for kind, reason, _ in events)


def test_nothing_served_and_failed_is_failed() -> None:
    failed = JobResult("Failed", "SourceUnreachable", "no such bucket")
    status, _ = build_status(_md(), _observed(result=failed))
    assert status["phase"] == "Failed"
    assert _condition(status, "Ready")["reason"] == "SourceUnreachable"


def test_same_observation_gives_the_same_status_and_no_events() -> None:
    seen = _observed(result=JobResult("Running", "Optimizing", "running"))
    first, _ = build_status(_md(), seen)
    second, events = build_status(_md(first), seen)
    assert second == first
    assert events == []


def test_a_remembered_failure_reads_back_to_the_same_status() -> None:
    from modeldeploy_operator.reconcile import known_failure

    failed = JobResult("Failed", "SourceUnreachable", "no such bucket")
    status, _ = build_status(_md(), _observed(result=failed))
    for _ in range(3):
        md = _md(status)
        remembered = known_failure(md, "rev2")
        assert remembered == failed
        again, events = build_status(md, _observed(result=remembered))
        assert again == status
        assert events == []
