"""What a revision's optimization Job says about itself.

The optimizer writes a compact summary to its termination message; the Job's
own conditions say whether it ran out of time or retries; a pod that cannot be
scheduled says so in its PodScheduled condition.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from modeldeploy_optimizer.report import Summary
from pydantic import ValidationError

Manifest = dict[str, Any]
State = Literal["Running", "Succeeded", "Failed", "Waiting"]

# A finished pod's message can reach the API a moment after the Job is complete.
RESULT_GRACE = timedelta(minutes=2)


@dataclass(frozen=True)
class JobResult:
    state: State
    reason: str
    message: str
    summary: Summary | None = None


def _condition(obj: Manifest, type_: str) -> Manifest | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_ and condition.get("status") == "True":
            return dict(condition)
    return None


def _termination(pods: list[Manifest]) -> tuple[str, Summary | None]:
    """The newest termination message of the optimizer container, parsed if it is ours."""
    latest = ""
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or ""):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated") or {}
            if status.get("name") == "optimizer" and terminated.get("message"):
                latest = str(terminated["message"]).strip()
    if not latest:
        return "", None
    try:
        return latest, Summary.model_validate(json.loads(latest))
    except (ValueError, ValidationError):
        return latest, None


def _unschedulable(pods: list[Manifest]) -> str | None:
    for pod in pods:
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("reason") == (
                "Unschedulable"
            ):
                return str(condition.get("message") or "no node fits the pod")
    return None


def _older_than(timestamp: str | None, age: timedelta, now: datetime) -> bool:
    if not timestamp:
        return False
    when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return now - when > age


def read_job(job: Manifest, pods: list[Manifest], now: datetime | None = None) -> JobResult:
    now = now or datetime.now(UTC)
    raw, summary = _termination(pods)
    complete = _condition(job, "Complete")
    failed = _condition(job, "Failed")
    if complete is not None:
        if summary is not None:
            state: State = "Succeeded" if summary.ok else "Failed"
            return JobResult(state, summary.reason, summary.message, summary)
        if _older_than(complete.get("lastTransitionTime"), RESULT_GRACE, now):
            detail = f": {raw[:200]}" if raw else ""
            return JobResult(
                "Failed", "ResultUnreadable", f"the Job finished without a readable summary{detail}"
            )
        return JobResult("Waiting", "ReadingResult", "waiting for the optimizer's summary")
    if failed is not None:
        if summary is not None:
            return JobResult("Failed", summary.reason, summary.message, summary)
        reason = str(failed.get("reason") or "JobFailed")
        messages = {
            "DeadlineExceeded": "the optimization Job ran past optimization.timeoutSeconds",
            "BackoffLimitExceeded": "the optimizer failed on every attempt",
        }
        message = messages.get(reason, str(failed.get("message") or reason))
        if raw:
            message = f"{message}: {raw[:300]}"
        return JobResult("Failed", reason, message)
    unschedulable = _unschedulable(pods)
    if unschedulable is not None:
        return JobResult(
            "Running", "Unschedulable", f"the optimizer pod cannot be scheduled: {unschedulable}"
        )
    return JobResult("Running", "Optimizing", "the optimization Job is running")
