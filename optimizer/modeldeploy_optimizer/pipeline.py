"""The optimization, end to end: fetch, export, build candidates, gate, benchmark, write.

:func:`optimize` returns the full report; :func:`run` wraps it for the Job and the CLI:
it turns every failure into a reason, writes the termination message and returns the
exit code.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.progress import Progress
from modeldeploy_optimizer.quantize import Int8Settings
from modeldeploy_optimizer.report import Report, Summary, write_termination_message
from modeldeploy_optimizer.spec import OptimizerInput, revision_of


@dataclass
class Options:
    """How to run an optimization (not part of the API: the Job's and CLI's knobs)."""

    output: str
    termination_log: Path | None = None
    workdir: Path | None = None
    bench_seconds: float = 4.0
    batch_sizes: tuple[int, ...] | None = None
    only: Sequence[str] | None = None
    int8: Int8Settings = field(default_factory=Int8Settings)
    progress: Progress | None = None


def optimize(inp: OptimizerInput, options: Options) -> Report:
    """Optimize ``inp.model`` and write the Triton model repository; raises OptimizerError."""
    from modeldeploy_optimizer.steps import Run

    progress = options.progress or Progress()
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        return Run(inp, options, progress, options.workdir).execute()
    with tempfile.TemporaryDirectory(prefix="modeldeploy-") as tmp:
        return Run(inp, options, progress, Path(tmp)).execute()


def parse_input(text: str) -> OptimizerInput:
    """An OptimizerInput from a JSON file path or inline JSON."""
    stripped = text.strip()
    try:
        raw = stripped if stripped.startswith("{") else Path(stripped).read_text()
    except OSError as error:
        raise OptimizerError(
            "InvalidInput", f"cannot read the input {text}: {error.strerror}"
        ) from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise OptimizerError("InvalidInput", f"the input is not JSON: {error}") from None
    try:
        return OptimizerInput.model_validate(data)
    except ValueError as error:
        first = str(error).splitlines()
        detail = "; ".join(line.strip() for line in first[1:3]) or str(error)
        raise OptimizerError("InvalidInput", f"invalid optimizer input: {detail}") from None


def run(input_text: str, options: Options) -> int:
    """Run an optimization and report it; the exit code is 0 only when a model was written."""
    progress = options.progress or Progress()
    options.progress = progress
    revision: str | None = None
    try:
        with progress:
            inp = parse_input(input_text)
            revision = revision_of(inp.model, inp.optimization, inp.runtime)
            report = optimize(inp, options)
        summary = report.summary
    except OptimizerError as error:
        summary = Summary(
            ok=False, reason=error.reason, message=error.one_line(), revision=revision
        )
    except MemoryError:
        summary = Summary(
            ok=False,
            reason="OutOfMemory",
            message="the optimizer ran out of memory: raise optimization.resources.limits.memory",
            revision=revision,
        )
    except KeyboardInterrupt:
        summary = Summary(ok=False, reason="Interrupted", message="interrupted", revision=revision)
    except Exception as error:  # a bug: still a reason in the termination message
        text = " ".join(str(error).split())[:500]
        if "allocat" in text.lower():  # ONNX Runtime's and torch's allocation failures
            summary = Summary(
                ok=False,
                reason="OutOfMemory",
                message=f"out of memory: {text}",
                revision=revision,
            )
        else:
            message = f"internal error: {type(error).__name__}: {text}"
            summary = Summary(ok=False, reason="InternalError", message=message, revision=revision)
    if options.termination_log is not None:
        try:
            write_termination_message(summary, options.termination_log)
        except OSError as error:
            progress.log(f"cannot write {options.termination_log}: {error}", level="warning")
    if summary.ok:
        progress.log(f"{summary.reason}: {summary.message}", outcome=summary.reason)
        return 0
    progress.log(f"{summary.reason}: {summary.message}", level="error", outcome=summary.reason)
    if progress.interactive:  # JSON mode already printed it as a log line
        print(f"error: {summary.reason}: {summary.message}", file=sys.stderr)
    return 1


def publish(staging: Path, output: str) -> str:
    """Move the written repository to ``output`` (a local folder or s3://bucket/prefix)."""
    if not output.startswith("s3://"):
        return output
    try:
        import boto3  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ModuleNotFoundError:
        raise OptimizerError(
            "OutputUnwritable", "writing to s3:// needs boto3 in the optimizer image"
        ) from None
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    client = boto3.client("s3")
    try:
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            key = "/".join(
                part for part in (prefix.strip("/"), str(path.relative_to(staging))) if part
            )
            client.upload_file(str(path), bucket, key)
    except Exception as error:
        raise OptimizerError("OutputUnwritable", f"cannot write to {output}: {error}") from None
    shutil.rmtree(staging, ignore_errors=True)
    return output


def elapsed(started: float) -> float:
    return round(time.monotonic() - started, 1)
