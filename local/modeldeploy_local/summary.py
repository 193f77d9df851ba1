"""The tables ``modeldeploy up`` and ``serve`` print once the server answered correctly."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from modeldeploy_local.check import CheckResult
from modeldeploy_local.server import Endpoints
from modeldeploy_local.tools import ONNXRUNTIME_VERSION, TRITON_NGC_RELEASE, TRITON_SERVER_VERSION


def endpoint_rows(endpoints: Endpoints) -> list[tuple[str, str]]:
    return [
        ("HTTP", f"http://{endpoints.http}"),
        ("gRPC", f"grpc://{endpoints.grpc}"),
        ("metrics", endpoints.metrics),
        (
            "runtime",
            f"tritonserver {TRITON_SERVER_VERSION} (NGC {TRITON_NGC_RELEASE}), CPU, "
            f"Python backend + ONNX Runtime {ONNXRUNTIME_VERSION}",
        ),
    ]


def key_values(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


def checks_table(results: Sequence[CheckResult]) -> Table:
    table = Table(title="inference check (vs ONNX Runtime)", title_justify="left")
    for column in ("model", "protocol", "inputs", "outputs", "max |diff|"):
        table.add_column(column)
    for result in results:
        inputs = ", ".join(f"{k}{v}" for k, v in result.inputs.items())
        for protocol, diffs in result.diffs.items():
            outputs = ", ".join(
                f"{name}{list(result.served[protocol][name].shape)}" for name in diffs
            )
            worst = max(diffs.values(), default=0.0)
            table.add_row(result.model, protocol, inputs, outputs, f"{worst:.2e}")
    return table


def print_tables(console: Console, tables: Sequence[Table]) -> None:
    for table in tables:
        console.print(table)
