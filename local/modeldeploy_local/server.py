"""One tritonserver process: start it, wait until its models are ready, stop it cleanly."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from modeldeploy_local import triton_log
from modeldeploy_local.errors import ModelLoadError, ServerStartError
from modeldeploy_local.ports import Ports, check_free
from modeldeploy_local.tools import TritonInstall

# The Python backend's shared-memory arena per model instance. Its 1 MiB default
# grows in 1 MiB steps, which costs a remap per step on a batch of embeddings.
SHM_DEFAULT_BYTES = 16 * 1024 * 1024
SHM_GROWTH_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Endpoints:
    http: str  # host:port, the form tritonclient takes
    grpc: str
    metrics: str  # full URL of the Prometheus endpoint

    @classmethod
    def of(cls, host: str, ports: Ports) -> Endpoints:
        # A server bound to every interface is reached through loopback here.
        reach = "127.0.0.1" if host in ("", "0.0.0.0") else host
        return cls(
            http=f"{reach}:{ports.http}",
            grpc=f"{reach}:{ports.grpc}",
            metrics=f"http://{reach}:{ports.metrics}/metrics",
        )


@dataclass(frozen=True)
class ServerOptions:
    repository: Path
    ports: Ports
    log_path: Path
    host: str = "127.0.0.1"
    # How long Triton waits for in-flight requests when asked to stop.
    exit_timeout_s: int = 10
    log_verbose: int = 0
    # SIGTERM to Triton when this process dies, even by SIGKILL (not for --detach).
    die_with_parent: bool = True


def build_command(install: TritonInstall, options: ServerOptions, shm_prefix: str) -> list[str]:
    host = options.host or "0.0.0.0"
    python = "--backend-config=python,"
    return [
        str(install.binary),
        f"--model-repository={options.repository}",
        f"--backend-directory={install.backend_dir}",
        f"--http-address={host}",
        f"--http-port={options.ports.http}",
        f"--grpc-address={host}",
        f"--grpc-port={options.ports.grpc}",
        f"--metrics-address={host}",
        f"--metrics-port={options.ports.metrics}",
        "--allow-metrics=true",
        "--allow-gpu-metrics=false",
        # No GPU here: the pinned pool only produces a warning per start.
        "--pinned-memory-pool-byte-size=0",
        # The repository carries complete configs; auto-complete would start one
        # extra stub process per Python model just to ask it for nothing.
        "--disable-auto-complete-config",
        f"--exit-timeout-secs={options.exit_timeout_s}",
        f"--log-verbose={options.log_verbose}",
        # A prefix of our own, so servers running side by side (tests, bench)
        # never share the Python backend's /dev/shm regions.
        f"{python}shm-region-prefix-name={shm_prefix}",
        f"{python}shm-default-byte-size={SHM_DEFAULT_BYTES}",
        f"{python}shm-growth-byte-size={SHM_GROWTH_BYTES}",
    ]


def _terminate_with_parent() -> None:
    """In the child before exec: ask the kernel for SIGTERM when the parent dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def remove_shm(prefix: str) -> None:
    """Shared-memory files a killed server left behind (a clean exit removes its own)."""
    for path in glob.glob(f"/dev/shm/{glob.escape(prefix)}*"):
        with contextlib.suppress(OSError):
            os.unlink(path)


class TritonServer:
    """A tritonserver child process; a context manager that always stops it."""

    def __init__(self, install: TritonInstall, options: ServerOptions) -> None:
        self.install = install
        self.options = options
        self.endpoints = Endpoints.of(options.host, options.ports)
        self.shm_prefix = f"modeldeploy{os.getpid()}_{secrets.token_hex(4)}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "server not started"
        return self.process.pid

    def start(self) -> None:
        check_free(self.options.ports, self.options.host)
        self.install.ensure_stub()
        self.options.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.options.log_path.open("wb")
        command = build_command(self.install, self.options, self.shm_prefix)
        self._log_file.write(("$ " + " ".join(command) + "\n").encode())
        self._log_file.flush()
        # A session of its own: Ctrl-C in the terminal reaches us, not Triton, so
        # we decide how it stops; and a detached server outlives this process.
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self.install.environment(),
            start_new_session=True,
            preexec_fn=_terminate_with_parent if self.options.die_with_parent else None,
        )

    def log(self) -> str:
        try:
            return self.options.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def is_ready(self) -> bool:
        url = f"http://{self.endpoints.http}/v2/health/ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Return once every model is ready (strict readiness), or raise with the log's reasons."""
        assert self.process is not None, "server not started"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise self._start_failure(f"tritonserver exited with code {code}")
            if self.is_ready():
                return
            time.sleep(0.2)
        failure = self._start_failure(f"tritonserver was not ready after {timeout_s:.0f} s")
        self.stop()
        raise failure

    def _start_failure(self, headline: str) -> ServerStartError:
        log = self.log()
        path = str(self.options.log_path)
        failed = triton_log.failed_models(log)
        if failed:
            names = ", ".join(failed)
            lines = triton_log.relevant_lines(log)
            return ModelLoadError(f"{headline}: model {names} failed to load", lines, path)
        if triton_log.address_in_use(log):
            # Taken between our check and Triton's bind (another process won the race).
            message = (
                f"{headline}: a port it needs is already in use ({self.options.ports}); "
                "choose others or pass --free-ports"
            )
            return ServerStartError(message, triton_log.relevant_lines(log), path)
        lines = triton_log.relevant_lines(log) or triton_log.tail(log)
        return ServerStartError(headline, lines, path)

    def stop(self, timeout_s: float | None = None) -> int | None:
        """SIGINT (Triton drains in-flight requests), then SIGKILL to the whole group."""
        process = self.process
        if process is None:
            return None
        grace = timeout_s if timeout_s is not None else self.options.exit_timeout_s + 5
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=grace)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                # Too slow, or a second Ctrl-C: kill the whole group, which also
                # holds the backend stubs Triton did not reap.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        remove_shm(self.shm_prefix)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return process.returncode

    def detach(self) -> None:
        """Leave the process running after this object is gone (``--detach``)."""
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
