"""The summary written to the termination message."""

from __future__ import annotations

import json
from pathlib import Path

from modeldeploy_optimizer.report import (
    TERMINATION_MESSAGE_LIMIT,
    AccuracySummary,
    Summary,
    read_summary,
    termination_message,
    write_termination_message,
)


def full_summary(message: str = "dynamic-int8: 1.45x faster") -> Summary:
    return Summary(
        ok=True,
        reason="GatePassed",
        message=message,
        revision="0123456789",
        chosen="dynamic-int8",
        original_bytes=90_000_000,
        optimized_bytes=23_000_000,
        speedup=1.45,
        accuracy=AccuracySummary(metric="cosine", value=0.9915, threshold=0.99, passed=True),
        latency_p50_ms=12.5,
        latency_p99_ms=20.1,
        throughput=110.0,
        artifact="/models/minilm",
    )


def test_summary_uses_camel_case_wire_names() -> None:
    wire = json.loads(termination_message(full_summary()))
    assert wire["originalBytes"] == 90_000_000
    assert wire["latencyP50Ms"] == 12.5
    assert wire["accuracy"] == {
        "metric": "cosine",
        "value": 0.9915,
        "threshold": 0.99,
        "passed": True,
    }
    assert read_summary(termination_message(full_summary())) == full_summary()


def test_long_message_is_shortened_under_the_limit(tmp_path: Path) -> None:
    summary = full_summary("x" * 10_000)
    path = tmp_path / "dev" / "termination-log"
    write_termination_message(summary, path)
    text = path.read_text()
    assert len(text.encode()) <= TERMINATION_MESSAGE_LIMIT < 4096
    parsed = read_summary(text)
    assert parsed.speedup == 1.45
    assert parsed.message.endswith("...")


def test_failure_summary_has_only_the_reason() -> None:
    summary = Summary(ok=False, reason="SourceUnreachable", message="s3://b/k: no such key")
    assert json.loads(termination_message(summary)) == {
        "ok": False,
        "reason": "SourceUnreachable",
        "message": "s3://b/k: no such key",
    }
