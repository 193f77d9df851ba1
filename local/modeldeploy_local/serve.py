"""``modeldeploy serve DIR``: serve an existing repository, check it, hold it."""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console

from modeldeploy_local import runner, summary
from modeldeploy_local.runner import RunOptions


def server_name(repository: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", repository.resolve().name.lower()).strip("-")
    return name or "repository"


def serve(repository: Path, options: RunOptions, name: str | None = None) -> int:
    console = Console()
    name = name or server_name(repository)
    console.print(f"starting tritonserver for {repository} ...")
    running = runner.start(name, repository, options)
    try:
        results = runner.check_all(running)
        endpoints = running.server.endpoints
        models = ", ".join(model.name for model in running.models)
        rows = [("models", models), *summary.endpoint_rows(endpoints)]
        rows.append(runner.metrics_row(running))
        rows.append(("log", str(running.server.options.log_path)))
        summary.print_tables(
            console, [summary.key_values(f"serving {name}", rows), summary.checks_table(results)]
        )
    except BaseException:
        running.server.stop()
        raise
    return runner.hold(running, options, console.print)
