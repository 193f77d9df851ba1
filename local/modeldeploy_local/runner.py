"""Serve a model repository with a local tritonserver: start, check, then hold or stop.

Shared by ``modeldeploy serve DIR`` and ``modeldeploy up FILE`` (which first runs
the optimizer to produce the repository).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from modeldeploy_local import check, repository
from modeldeploy_local.ports import Ports, free_ports
from modeldeploy_local.repository import LocalModel
from modeldeploy_local.server import ServerOptions, TritonServer
from modeldeploy_local.state import ServerState
from modeldeploy_local.tools import find_tritonserver


@dataclass(frozen=True)
class RunOptions:
    workdir: Path
    host: str = "127.0.0.1"
    ports: Ports | None = None  # None: three free ports
    once: bool = False
    detach: bool = False
    ready_timeout_s: float = 180.0


@dataclass
class Running:
    name: str
    server: TritonServer
    models: list[LocalModel]
    repository: Path

    def onnx_path(self, model: LocalModel) -> Path:
        return self.repository / model.name / model.versions[-1] / model.onnx_file

    @property
    def python(self) -> Path:
        """The stub venv's interpreter: its ONNX Runtime is the one Triton runs."""
        return self.server.install.stub_env / "bin" / "python"


def start(name: str, source: Path, options: RunOptions) -> Running:
    """Build the local repository from ``source`` under the workdir and start Triton on it."""
    install = find_tritonserver()
    # Absolute, so the command line (ps, logs, `down`) says where the repository is.
    local = options.workdir.absolute() / name / "repository"
    models = repository.build_local_repository(source, local)
    ports = options.ports or free_ports(options.host if options.host != "0.0.0.0" else "127.0.0.1")
    server = TritonServer(
        install,
        ServerOptions(
            repository=local,
            ports=ports,
            host=options.host,
            log_path=options.workdir.absolute() / name / "tritonserver.log",
            die_with_parent=not options.detach,
        ),
    )
    server.start()
    try:
        server.wait_ready(options.ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    return Running(name=name, server=server, models=models, repository=local)


def check_all(running: Running) -> list[check.CheckResult]:
    """One real inference per model over HTTP and gRPC, compared with ONNX Runtime."""
    return [
        check.check_model(
            running.server.endpoints,
            model.config,
            running.onnx_path(model),
            python=running.python,
        )
        for model in running.models
    ]


def metrics_row(running: Running) -> tuple[str, str]:
    """Whether /metrics exposes what the autoscaler reads (queue time, inference counts)."""
    families = check.metric_families(check.scrape_metrics(running.server.endpoints.metrics))
    missing = [name for name in check.REQUIRED_METRICS if name not in families]
    if missing:
        return ("autoscaling metrics", "MISSING: " + ", ".join(missing))
    return ("autoscaling metrics", f"{len(check.REQUIRED_METRICS)} nv_inference_* families exposed")


class _StopRequestedError(Exception):
    """Raised from the SIGTERM handler so the foreground loop stops like on Ctrl-C."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequestedError


def hold(running: Running, options: RunOptions, say: Callable[[str], None]) -> int:
    """``--once``: stop now; ``--detach``: leave it running; else serve until Ctrl-C."""
    server = running.server
    if options.once:
        server.stop()
        return 0
    if options.detach:
        endpoints = server.endpoints
        state = ServerState(
            name=running.name,
            pid=server.pid,
            http=endpoints.http,
            grpc=endpoints.grpc,
            metrics=endpoints.metrics,
            repository=str(running.repository),
            log=str(server.options.log_path),
            shm_prefix=server.shm_prefix,
            started_at=time.time(),
        )
        state.save(options.workdir)
        server.detach()
        say(f"detached (pid {state.pid}); stop it with: modeldeploy down {running.name}")
        return 0
    say("serving; press Ctrl-C to stop")
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        assert server.process is not None
        code = server.process.wait()
        with contextlib.suppress(OSError):
            say(f"tritonserver exited with code {code}; its log: {server.options.log_path}")
        return 1
    except (KeyboardInterrupt, _StopRequestedError):
        # Printing may fail (a closed pipe): it must not keep Triton from being stopped.
        with contextlib.suppress(OSError):
            say("stopping tritonserver")
        return 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
