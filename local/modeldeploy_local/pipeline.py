"""``modeldeploy up FILE``: the cluster's pipeline on one machine.

Manifest -> optimizer (the Job's own entry point, in a subprocess) -> model
repository -> local tritonserver -> real inferences over HTTP and gRPC checked
against ONNX Runtime -> summary -> serve until Ctrl-C (or ``--once``/``--detach``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from modeldeploy_local import check, embedding, runner, summary
from modeldeploy_local.errors import LocalModeError
from modeldeploy_local.runner import RunOptions

# Local stand-in for the cluster's volumes: pvc://<claim>/<path> is read from
# <volumes>/<claim>/<path>. `make demo` puts all-MiniLM-L6-v2 there.
VOLUMES_ENV = "MODELDEPLOY_VOLUMES"


@dataclass(frozen=True)
class Plan:
    deployment: Any  # modeldeploy_operator.api.ModelDeployment
    revision: str
    model_dir: Path | None  # the model's local folder, when it has one (tokenizer)
    optimizer_input: dict[str, Any]


def volumes_dir(workdir: Path) -> Path:
    return Path(os.environ.get(VOLUMES_ENV) or workdir / "volumes").absolute()


def _local_uri(uri: str, volumes: Path) -> tuple[str, Path | None]:
    """The URI the optimizer reads here, and the local folder behind it if any."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("https", "http", "s3"):
        return uri, None
    if parsed.scheme == "pvc":
        claim, _, inner = uri.removeprefix("pvc://").partition("/")
        path = volumes / claim / inner
        hint = (
            f"local mode reads pvc://<claim>/<path> from {volumes}/<claim>/<path> "
            f"(${VOLUMES_ENV} moves it); put the model there or use a file:// URI or a path"
        )
    else:
        path = Path(urllib.parse.unquote(parsed.path))
        hint = "fix spec.model.uri (a relative path is read from the manifest's folder)"
    if not path.exists():
        raise LocalModeError(f"model {uri}: {path} does not exist; {hint}")
    return path.resolve().as_uri(), path if path.is_dir() else path.parent


def plan(file: Path, workdir: Path) -> Plan:
    from modeldeploy_operator.api import parse_manifest
    from modeldeploy_operator.builders.job import optimizer_input
    from modeldeploy_optimizer.spec import revision_of

    try:
        documents = [d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict)]
    except (OSError, yaml.YAMLError) as error:
        raise LocalModeError(f"cannot read {file}: {error}") from None
    documents = [d for d in documents if d.get("kind") == "ModelDeployment"]
    if len(documents) != 1:
        raise LocalModeError(f"{file} must hold one ModelDeployment (found {len(documents)})")
    document = documents[0]
    model = (document.get("spec") or {}).get("model") or {}
    if model.get("uri") and "://" not in str(model["uri"]):
        # The API only takes URIs; a path (relative to the manifest) is local mode's convenience.
        model["uri"] = (file.resolve().parent / str(model["uri"])).resolve().as_uri()
    try:
        deployment = parse_manifest(document, str(file))
    except ValueError as error:
        raise LocalModeError(str(error)) from None
    spec = deployment.spec
    uri, model_dir = _local_uri(spec.model.uri, volumes_dir(workdir))
    revision = revision_of(spec.model, spec.optimization, spec.serving.runtime)
    job_input = optimizer_input(deployment, uri).model_copy(update={"gpu": False})
    return Plan(deployment, revision, model_dir, job_input.to_wire())


def optimize(plan_: Plan, output: Path, console: Console, again: bool = False) -> Path:
    """Run the optimizer unless this revision's repository is already there."""
    report = output / "report.json"
    if report.is_file() and not again:
        console.print(f"revision {plan_.revision} is already optimized: {output}")
        return output
    partial = output.with_name(output.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    termination = partial / "termination-log"
    command = [
        sys.executable,
        "-m",
        "modeldeploy_optimizer",
        "--input",
        json.dumps(plan_.optimizer_input, sort_keys=True),
        "--output",
        str(partial),
        "--termination-log",
        str(termination),
    ]
    console.print(f"optimizing {plan_.deployment.metadata.name} (revision {plan_.revision}) ...")
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        reason = termination.read_text() if termination.is_file() else "(no summary written)"
        try:
            parsed = json.loads(reason)
            reason = f"{parsed.get('reason')}: {parsed.get('message')}"
        except ValueError:
            pass
        raise LocalModeError(f"the optimizer failed ({reason}); files kept in {partial}")
    shutil.rmtree(output, ignore_errors=True)
    partial.rename(output)
    return output


def report_rows(repository: Path, revision: str) -> list[tuple[str, str]]:
    from modeldeploy_optimizer.report import Report

    report = Report.model_validate_json((repository / "report.json").read_text())
    s = report.summary

    def mib(value: int | None) -> str:
        return f"{value / 2**20:.1f} MiB" if value is not None else "-"

    rows = [
        # The manifest's revision (what the cluster's status shows), not the one the
        # optimizer derives from the local path it was handed.
        ("revision", revision),
        ("candidate", s.chosen or "-"),
        ("size", f"{mib(s.optimized_bytes)} (was {mib(s.original_bytes)})"),
        ("speedup", f"{s.speedup:.2f}x (p50, batch 1)" if s.speedup else "-"),
    ]
    if s.accuracy is not None:
        verdict = "passed" if s.accuracy.passed else "failed"
        rows.append(
            (
                "accuracy",
                f"{s.accuracy.metric} {s.accuracy.value:.4f} "
                f"(threshold {s.accuracy.threshold}, {verdict})",
            )
        )
    if s.latency_p50_ms is not None and s.latency_p99_ms is not None:
        rows.append(("latency", f"p50 {s.latency_p50_ms:.2f} ms, p99 {s.latency_p99_ms:.2f} ms"))
    if s.throughput is not None:
        rows.append(("throughput", f"{s.throughput:.0f} inferences/s (optimizer's benchmark)"))
    return rows


def _text_check(running: runner.Running, model_dir: Path | None) -> list[tuple[str, str]]:
    """For a model with a tokenizer: check real sentences, and report their similarity."""
    tokenizer = embedding.tokenizer_in(model_dir) if model_dir else None
    model = running.models[0]
    names = [spec.name for spec in model.config.input]
    if tokenizer is None or not embedding.can_encode(names):
        return []
    inputs = embedding.encode(tokenizer, names)
    result = check.check_model(
        running.server.endpoints, model.config, running.onnx_path(model), inputs, running.python
    )
    vectors = embedding.sentence_embeddings(result.served["grpc"], inputs.get("attention_mask"))
    if vectors is None:
        return []
    score = embedding.similarity(vectors)
    if not score.passed:
        raise LocalModeError(
            f"the served model finds unrelated sentences closer ({score.unrelated:.3f}) "
            f"than related ones ({score.related:.3f})"
        )
    return [
        ("anchor", embedding.ANCHOR),
        ("related", f"{embedding.RELATED}  cosine {score.related:.3f}"),
        ("unrelated", f"{embedding.UNRELATED}  cosine {score.unrelated:.3f}"),
        ("verdict", "related > unrelated: the served embeddings make sense"),
    ]


def up(file: Path, options: RunOptions, reoptimize: bool = False) -> int:
    console = Console()
    plan_ = plan(file, options.workdir)
    name = plan_.deployment.metadata.name
    output = options.workdir / name / "optimized" / plan_.revision
    output = optimize(plan_, output, console, reoptimize)
    console.print("starting tritonserver ...")
    running = runner.start(name, output, options)
    try:
        results = runner.check_all(running)
        similarity = _text_check(running, plan_.model_dir)
        rows = [("model", name), *summary.endpoint_rows(running.server.endpoints)]
        rows += report_rows(output, plan_.revision)
        rows.append(("repository", f"{output} (served from {running.repository})"))
        rows.append(runner.metrics_row(running))
        rows.append(("log", str(running.server.options.log_path)))
        tables = [summary.key_values(f"{name} is ready", rows), summary.checks_table(results)]
        if similarity:
            tables.append(summary.key_values("embedding similarity check", similarity))
        summary.print_tables(console, tables)
    except BaseException:
        running.server.stop()
        raise
    return runner.hold(running, options, console.print)
