"""Serving benchmark: Triton with dynamic batching, Triton without it, and a plain server.

One run, one model (the optimizer's output, e.g. the MiniLM repository that
`make demo` writes), three servers on loopback, each measured alone:

- ``triton-dynamic``: the local tritonserver, the model's config as written
  (dynamic batcher on);
- ``triton-no-batching``: the same server and config without ``dynamic_batching``;
- ``onnxruntime-http``: one Python process with one ONNX Runtime session that
  answers one request at a time (the server people write first), speaking the
  same KServe v2 HTTP protocol so the same client measures all three.

The plain server runs in the backend stub's venv, so all three use the same
ONNX Runtime (1.19.2). Every request carries one sample; at concurrency 1, 8 and
32 the client keeps that many requests in flight for a bounded request count and
records throughput and p50/p99 latency. Output: a table, bench/results/serving.json
and bench/results/serving.png.

    .venv/bin/python bench/serving.py [--repository DIR] [--seq-len 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CONCURRENCY = (1, 8, 32)
# Triton wire datatypes; the plain server needs them without tritonclient.
_DTYPES = {"FP32": np.float32, "FP16": np.float16, "INT64": np.int64, "INT32": np.int32}
_DTYPES |= {"INT8": np.int8, "UINT8": np.uint8, "BOOL": np.bool_, "FP64": np.float64}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


# --- the plain ONNX Runtime server (runs in the stub venv: numpy + onnxruntime only) ---


def serve_onnxruntime(onnx_path: str, port: int) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    lock = threading.Lock()  # one inference at a time: no batching, no overlap

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like Triton
        # Headers and body go out in two writes; with Nagle on, the body waits for
        # the client's delayed ACK (40 ms per request on Linux loopback).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._reply(200 if self.path.startswith("/v2/health") else 404, b"", {})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            split = int(self.headers.get("Inference-Header-Content-Length", len(body)))
            request = json.loads(body[:split])
            feeds, offset = {}, split
            for spec in request["inputs"]:
                dtype = _DTYPES[spec["datatype"]]
                size = (spec.get("parameters") or {}).get("binary_data_size")
                if size is None:
                    feeds[spec["name"]] = np.asarray(spec["data"], dtype=dtype)
                else:
                    feeds[spec["name"]] = np.frombuffer(body[offset : offset + size], dtype)
                    offset += size
                feeds[spec["name"]] = feeds[spec["name"]].reshape(spec["shape"])
            with lock:
                results = session.run(outputs, feeds)
            header = {
                "model_name": self.path.split("/")[3],
                "outputs": [
                    {
                        "name": name,
                        "datatype": _NAMES[value.dtype],
                        "shape": list(value.shape),
                        "parameters": {"binary_data_size": value.nbytes},
                    }
                    for name, value in zip(outputs, results, strict=True)
                ],
            }
            head = json.dumps(header).encode()
            payload = head + b"".join(np.ascontiguousarray(v).tobytes() for v in results)
            self._reply(200, payload, {"Inference-Header-Content-Length": str(len(head))})

        def _reply(self, code: int, payload: bytes, headers: dict[str, str]) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

    ThreadingHTTPServer.daemon_threads = True
    with ThreadingHTTPServer(("127.0.0.1", port), Handler) as server:
        server.serve_forever()


# --- load generation ---


@dataclass
class Sample:
    """What one server answered at one concurrency, pooled over the rounds."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0
    executions: float = 0.0  # Triton's model executions (batches), from /metrics
    inferences: float = 0.0


def measure(url: str, model: str, sample: dict[str, Any], concurrency: int, total: int) -> Sample:
    """``total`` requests with ``concurrency`` in flight; latency per request."""
    import tritonclient.http as http

    remaining = [total]
    lock = threading.Lock()
    result = Sample()

    def worker() -> None:
        with http.InferenceServerClient(url, network_timeout=300.0) as client:
            inputs = []
            for name, array in sample.items():
                tensor = http.InferInput(name, list(array.shape), _NAMES[array.dtype])
                tensor.set_data_from_numpy(array, binary_data=True)
                inputs.append(tensor)
            mine: list[float] = []
            while True:
                with lock:
                    if remaining[0] == 0:
                        break
                    remaining[0] -= 1
                start = time.perf_counter()
                try:
                    client.infer(model, inputs)
                except Exception:  # counted and reported, never hidden
                    with lock:
                        result.errors += 1
                    continue
                mine.append(time.perf_counter() - start)
        with lock:
            result.latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - began
    return result


def _wait_ready(url: str, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{url}/v2/health/ready", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} not ready after {timeout} s")


def _counts(metrics_url: str | None, model: str) -> tuple[float, float]:
    if metrics_url is None:
        return 0.0, 0.0
    from modeldeploy_local.check import scrape_metrics

    samples = scrape_metrics(metrics_url)
    label = f'{{model="{model}",version="1"}}'
    return samples[f"nv_inference_count{label}"], samples[f"nv_inference_exec_count{label}"]


# --- the servers ---


@dataclass(frozen=True)
class Target:
    name: str
    url: str  # host:port of the HTTP endpoint
    metrics: str | None  # Triton's /metrics, None for the plain server


def find_repository(given: str | None) -> Path:
    """The repository to serve: --repository, else the newest that `make demo` wrote."""
    if given:
        return Path(given)
    found = sorted(
        (ROOT / ".modeldeploy").glob("*/optimized/*/report.json"), key=lambda p: p.stat().st_mtime
    )
    if not found:
        sys.exit("no optimized repository: run `make demo` first, or pass --repository DIR")
    return found[-1].parent


def triton_variant(source: Path, target: Path, dynamic: bool, max_batch: int = 0) -> Any:
    """The local repository, with or without the dynamic batcher; returns the model."""
    from modeldeploy_local import repository

    (model,) = repository.build_local_repository(source, target)
    if not dynamic:
        model.config.ClearField("dynamic_batching")
    if max_batch:
        model.config.max_batch_size = max_batch
    repository.write_config(model.config, target / model.name / "config.pbtxt")
    return model


def start_triton(
    stack: ExitStack, source: Path, work: Path, dynamic: bool, max_batch: int = 0
) -> Target:
    from modeldeploy_local.ports import free_ports
    from modeldeploy_local.server import ServerOptions, TritonServer
    from modeldeploy_local.tools import find_tritonserver

    name = "triton-dynamic" if dynamic else "triton-no-batching"
    triton_variant(source, work / name, dynamic, max_batch)
    options = ServerOptions(work / name, free_ports(), log_path=work / f"{name}.log")
    server = stack.enter_context(TritonServer(find_tritonserver(), options))
    server.wait_ready()
    return Target(name, server.endpoints.http, server.endpoints.metrics)


def start_onnxruntime(stack: ExitStack, onnx_path: Path) -> Target:
    import subprocess

    from modeldeploy_local.ports import free_ports
    from modeldeploy_local.tools import find_tritonserver

    port = free_ports().http
    python = find_tritonserver().stub_env / "bin" / "python"  # the same ONNX Runtime as Triton's
    command = [str(python), __file__, "--serve-onnxruntime", str(onnx_path), "--port", str(port)]
    process = stack.enter_context(subprocess.Popen(command))
    stack.callback(process.terminate)
    _wait_ready(f"127.0.0.1:{port}")
    return Target("onnxruntime-http", f"127.0.0.1:{port}", None)


def run_rounds(
    targets: list[Target], model: str, sample: dict[str, Any], counts: dict[int, int], rounds: int
) -> list[dict[str, Any]]:
    """Every server, every concurrency, interleaved in rounds (rotating the order), so
    that load from other processes on the machine spreads over all servers alike."""
    for target in targets:
        measure(target.url, model, sample, 8, 50)  # warm-up: sessions, connections
    rows = []
    for concurrency in CONCURRENCY:
        pooled = {t.name: Sample() for t in targets}
        for turn in range(rounds):
            order = targets[turn % len(targets) :] + targets[: turn % len(targets)]
            for target in order:
                before = _counts(target.metrics, model)
                got = measure(target.url, model, sample, concurrency, counts[concurrency] // rounds)
                after = _counts(target.metrics, model)
                into = pooled[target.name]
                into.latencies += got.latencies
                into.wall += got.wall
                into.errors += got.errors
                into.inferences += after[0] - before[0]
                into.executions += after[1] - before[1]
        for target in targets:
            rows.append(summarize(target.name, concurrency, pooled[target.name]))
            print(rows[-1], flush=True)
    return rows


def summarize(server: str, concurrency: int, sample: Sample) -> dict[str, Any]:
    ms = np.asarray(sample.latencies) * 1000.0
    return {
        "server": server,
        "concurrency": concurrency,
        "throughput": round(len(sample.latencies) / sample.wall, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "requests": len(sample.latencies) + sample.errors,
        "errors": sample.errors,
        # Samples per model execution: how much the dynamic batcher merged.
        "avg_batch": round(sample.inferences / sample.executions, 2) if sample.executions else 1.0,
        # This machine is shared: the load average says how noisy the numbers are.
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = list(dict.fromkeys(r["server"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / len(servers)
    for i, server in enumerate(servers):
        mine = [r for r in rows if r["server"] == server]
        xs = [j + i * width for j in range(len(mine))]
        axes[0].bar(xs, [r["throughput"] for r in mine], width, label=server)
        axes[1].bar(xs, [r["p99_ms"] for r in mine], width, label=server)
    for axis, label in zip(axes, ("throughput (inferences/s)", "p99 latency (ms)"), strict=True):
        axis.set_xticks([j + width * (len(servers) - 1) / 2 for j in range(len(CONCURRENCY))])
        axis.set_xticklabels([f"concurrency {c}" for c in CONCURRENCY])
        axis.set_ylabel(label)
        axis.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(servers), frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)


def report(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("server", "conc.", "req/s", "p50 ms", "p99 ms", "avg batch", "errors"):
        table.add_column(column)
    for r in rows:
        cells = (r["server"], r["concurrency"], r["throughput"], r["p50_ms"], r["p99_ms"])
        table.add_row(*map(str, cells), str(r["avg_batch"]), str(r["errors"]))
    Console(width=120).print(table)
    by = {(r["server"], r["concurrency"]): r for r in rows}
    for c in CONCURRENCY:
        dyn, nob, plain = (
            by[(s, c)] for s in ("triton-dynamic", "triton-no-batching", "onnxruntime-http")
        )
        print(
            f"concurrency {c:>2}: triton-dynamic {dyn['throughput'] / plain['throughput']:.2f}x "
            f"plain onnxruntime, {dyn['throughput'] / nob['throughput']:.2f}x no-batching; "
            f"p99 {dyn['p99_ms']} / {nob['p99_ms']} / {plain['p99_ms']} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repository", help="onnxruntime_onnx repository (default: make demo's)")
    parser.add_argument("--seq-len", type=int, default=32, help="dynamic dims of each request")
    parser.add_argument("--requests", type=int, default=25, help="requests per in-flight slot")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per level")
    parser.add_argument("--out", default=str(RESULTS), help="folder for serving.json/.png")
    parser.add_argument(
        "--max-batch-size", type=int, default=0, help="override the config's max_batch_size"
    )
    parser.add_argument(
        "--replot", action="store_true", help="only redraw serving.png from serving.json"
    )
    parser.add_argument("--serve-onnxruntime", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_onnxruntime:
        serve_onnxruntime(args.serve_onnxruntime, args.port)
        return 0
    title = "{} on tritonserver (CPU) vs plain ONNX Runtime"
    if args.replot:
        rows = json.loads((Path(args.out) / "serving.json").read_text())
        plot(rows, Path(args.out) / "serving.png", title.format(rows[0]["model"]))
        return 0

    import tempfile

    from modeldeploy_local.check import sample_inputs

    source = find_repository(args.repository)
    counts = {c: max(150, args.requests * c) for c in CONCURRENCY}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        model = triton_variant(source, work / "probe", dynamic=True)
        sample = sample_inputs(model.config, batch=1, length=args.seq_len, seed=7)
        onnx_path = (source / model.name / model.versions[-1] / model.onnx_file).resolve()
        targets = [
            start_triton(stack, source, work, True, args.max_batch_size),
            start_triton(stack, source, work, False, args.max_batch_size),
            start_onnxruntime(stack, onnx_path),
        ]
        rows = run_rounds(targets, model.name, sample, counts, args.rounds)

    shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in sample.items())
    report(rows, f"{model.name}: one sample per request ({shapes}), loopback HTTP")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for r in rows:
        r.update(model=model.name, inputs=shapes)
    (out / "serving.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot(rows, out / "serving.png", title.format(model.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
